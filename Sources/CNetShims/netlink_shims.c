#define _GNU_SOURCE
#include <sched.h>
#include "netlink_shims.h"

int netlink_shims_enter_network_namespace(int namespace_fd) {
    return setns(namespace_fd, CLONE_NEWNET);
}
