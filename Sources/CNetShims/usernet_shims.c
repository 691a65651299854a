#define _GNU_SOURCE
#include "usernet_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>

int usernet_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = token;
    return epoll_ctl(epfd, op, fd, &ev);
}

int usernet_epoll_wait(int epfd, struct usernet_ready_event *out, int capacity, int timeout_ms) {
    struct epoll_event evs[256];
    if (capacity > 256) capacity = 256;
    if (capacity < 1) { errno = EINVAL; return -1; }
    int n = epoll_wait(epfd, evs, capacity, timeout_ms);
    for (int i = 0; i < n; i++) {
        out[i].events = evs[i].events;
        out[i].token = evs[i].data.u64;
    }
    return n;
}

int usernet_timerfd_arm_absolute(int fd, uint64_t deadline_ns) {
    struct itimerspec spec;
    memset(&spec, 0, sizeof spec);
    spec.it_value.tv_sec = (time_t)(deadline_ns / 1000000000u);
    spec.it_value.tv_nsec = (long)(deadline_ns % 1000000000u);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t usernet_monotonic_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t usernet_realtime_now_ns(void) { return clock_ns(CLOCK_REALTIME); }

int usernet_set_linger_zero(int fd) {
    struct linger l = { .l_onoff = 1, .l_linger = 0 };
    return setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

int usernet_socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -1;
    return err;
}

long usernet_send_segmented(int fd, const void *buffer, unsigned long length, unsigned short segment) {
    // SOL_UDP and UDP_SEGMENT (linux/udp.h), spelt out: the header is not in every libc.
    enum { sol_udp = 17, udp_segment = 103 };
    char control[CMSG_SPACE(sizeof(uint16_t))];
    memset(control, 0, sizeof control);
    struct iovec iov = { .iov_base = (void *)buffer, .iov_len = length };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = sol_udp;
    c->cmsg_type = udp_segment;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    uint16_t size = segment;
    memcpy(CMSG_DATA(c), &size, sizeof size);
    return sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}

int usernet_read_error_queue(int fd, uint8_t *origin, uint8_t *icmp_type, uint8_t *icmp_code,
                             uint32_t *ee_errno) {
    char data[64];
    char control[512];
    struct sockaddr_storage from;
    struct iovec iov = { .iov_base = data, .iov_len = sizeof data };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        if ((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
            (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
            struct sock_extended_err ee;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            *origin = ee.ee_origin;
            *icmp_type = ee.ee_type;
            *icmp_code = ee.ee_code;
            *ee_errno = ee.ee_errno;
            return 0;
        }
    }
    errno = ENOMSG;
    return -1;
}

int usernet_accept_nonblocking(int fd, struct sockaddr_storage *from) {
    socklen_t len = sizeof *from;
    return accept4(fd, (struct sockaddr *)from, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int usernet_enter_network_namespace(int fd) {
    return setns(fd, CLONE_NEWNET);
}

int usernet_open_packet_socket(int ifindex) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = ifindex;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/// fork() without glibc's atfork handlers (they take malloc locks): safe in a threaded process.
static pid_t raw_fork(void) {
    return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

int usernet_close_in_background(int fd) {
    int release[2];
    if (pipe2(release, O_CLOEXEC) < 0) return -1;
    pid_t middle = raw_fork();
    if (middle < 0) {
        int saved = errno;
        close(release[0]); close(release[1]);
        errno = saved;
        return -1;
    }
    if (middle == 0) {
        // The grandchild is adopted by init (or the nearest subreaper), so nobody here waits
        // for its exit; the middle process is reaped at once below.
        if (raw_fork() != 0) _exit(0);
        // Keep only `fd` and the read end; wait until the caller has closed its copy of `fd`
        // (EOF on the pipe), so that this process drops the last reference.
        unsigned low = (unsigned)(fd < release[0] ? fd : release[0]);
        unsigned high = (unsigned)(fd < release[0] ? release[0] : fd);
        if (low > 0) syscall(SYS_close_range, 0U, low - 1, 0U);
        if (high > low + 1) syscall(SYS_close_range, low + 1, high - 1, 0U);
        syscall(SYS_close_range, high + 1, ~0U, 0U);
        char byte;
        while (read(release[0], &byte, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    close(release[0]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    close(fd);
    close(release[1]);
    return 0;
}
