// Shims for the user-mode gateway (UserNet): the epoll/timerfd/eventfd and socket headers the
// Glibc module does not export, plus tiny helpers for the C structs Swift handles poorly
// (the packed epoll_event union, timespec pairs). No policy here.
#ifndef CSHIMS_USERNET_H
#define CSHIMS_USERNET_H

#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/ip_icmp.h>
#include <linux/errqueue.h>

/// epoll_ctl with the event built here: `token` goes into data.u64. Returns 0 or -1 (errno).
int usernet_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);

/// One ready fd, copied out of the packed epoll_event so Swift reads plain fields.
struct usernet_ready_event {
    uint32_t events;
    uint64_t token;
};

/// epoll_wait into `out` (at most `capacity`, capped at 256). Returns the count or -1 (errno).
int usernet_epoll_wait(int epfd, struct usernet_ready_event *out, int capacity, int timeout_ms);

/// Arms a CLOCK_MONOTONIC timerfd to fire once at the absolute time `deadline_ns`;
/// `deadline_ns == 0` disarms it. Returns 0 or -1 (errno).
int usernet_timerfd_arm_absolute(int fd, uint64_t deadline_ns);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t usernet_monotonic_now_ns(void);

/// CLOCK_REALTIME in nanoseconds since the Unix epoch (for pcap and log time stamps).
uint64_t usernet_realtime_now_ns(void);

/// Sets SO_LINGER to {on, 0 s} so close() sends RST (abortive close). Returns 0 or -1 (errno).
int usernet_set_linger_zero(int fd);

/// Reads SO_ERROR: returns the pending error (0 if none) or -1 (errno) if getsockopt failed.
int usernet_socket_error(int fd);

/// Sends `length` bytes on a connected UDP socket as datagrams of `segment` bytes each (the
/// last may be shorter) in one sendmsg, with UDP_SEGMENT (UDP GSO, Linux 4.18). Returns the
/// bytes sent or -1 (errno; EINVAL when a segment would not fit the path MTU unfragmented).
long usernet_send_segmented(int fd, const void *buffer, unsigned long length, unsigned short segment);

/// Reads one IP_RECVERR/IPV6_RECVERR report from the socket's error queue (MSG_ERRQUEUE).
/// On success returns 0 and fills the origin (SO_EE_ORIGIN_*), ICMP type/code and errno of
/// the report; returns -1 (errno, EAGAIN when the queue is empty) otherwise.
int usernet_read_error_queue(int fd, uint8_t *origin, uint8_t *icmp_type, uint8_t *icmp_code,
                             uint32_t *ee_errno);

/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC (accept4 is a GNU extension Swift's Glibc module
/// hides). Fills `from`; returns the new fd or -1 (errno).
int usernet_accept_nonblocking(int fd, struct sockaddr_storage *from);

/// setns(fd, CLONE_NEWNET) for the calling thread only (the gateway's thread makes its host
/// sockets in the namespace it is in). Returns 0 or -1 (errno).
int usernet_enter_network_namespace(int fd);
/// An AF_PACKET/SOCK_RAW socket for every protocol (ETH_P_ALL), non-blocking and close-on-exec,
/// bound to interface `ifindex`. Returns the fd or -1 (errno).
int usernet_open_packet_socket(int ifindex);
/// Closes `fd` such that its last reference drops in a short-lived grandchild nobody waits
/// for: closing an AF_PACKET socket waits for RCU grace periods (synchronize_net in
/// packet_release, twice with a ring attached; 10-15 ms each), which would otherwise be spent
/// on the caller's time. Async-signal-safe in the children (raw clone, no atfork handlers).
/// Returns 0 (`fd` is closed here), or -1 with errno (nothing was closed).
int usernet_close_in_background(int fd);
#endif
