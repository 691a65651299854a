// The gateway's outer network namespace (--net=user): made by init inside the sandbox's user
// namespace, so it works rootless; its packet socket is bound by the launcher once the veth
// end is in it.
#define _GNU_SOURCE
#include "launcher_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <sys/socket.h>

int sbx_open_outer_network(int fds[3]) {
    int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original < 0) return -1;
    if (unshare(CLONE_NEWNET) < 0) {
        int saved = errno;
        close(original);
        errno = saved;
        return -1;
    }
    fds[0] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    fds[1] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    fds[2] = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int saved = errno;
    // Back home first: the thread must never stay in the new namespace.
    int returned = setns(original, CLONE_NEWNET);
    if (returned < 0) saved = errno;
    close(original);
    if (returned < 0 || fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
        for (int i = 0; i < 3; i++) if (fds[i] >= 0) close(fds[i]);
        errno = saved;
        return -1;
    }
    return 0;
}

int sbx_bind_packet_socket(int fd, int ifindex) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = ifindex;
    return bind(fd, (struct sockaddr *)&address, sizeof address);
}
