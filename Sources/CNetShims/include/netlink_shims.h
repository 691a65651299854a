// Shims for the rtnetlink client (Netlink): the kernel's UAPI headers, so Swift takes message
// types, attribute numbers and flags from the kernel rather than from hand-copied numbers.
// The Netlink module builds and parses every message itself; the one function here is the
// setns(2) call that Glibc's Swift module does not expose (it is _GNU_SOURCE-only).
#ifndef CSHIMS_NETLINK_H
#define CSHIMS_NETLINK_H

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/if_addr.h>
#include <linux/veth.h>


/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace of `fd`.
/// Returns 0, or -1 with errno set.
int netlink_shims_enter_network_namespace(int namespace_fd);

#endif
