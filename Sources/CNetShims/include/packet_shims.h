// Shims for the fd-based link endpoint (FDBased): the kernel structs and calls that Glibc's
// Swift module does not expose (recvmmsg/sendmmsg need _GNU_SOURCE; the TPACKET ring headers,
// sockaddr_ll and virtio_net_hdr live in <linux/...> headers). No policy here: every function
// is one call or one memory access; the logic is in Swift (Sources/FDBased).
#ifndef CSHIMS_PACKET_H
#define CSHIMS_PACKET_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/eventfd.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>

/// struct mmsghdr, declared here because <sys/socket.h> hides it without _GNU_SOURCE.
struct cshim_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/// recvmmsg(2) without a timeout. Returns the count or -1 with errno.
int cshim_recvmmsg(int fd, struct cshim_mmsghdr *messages, unsigned int count, int flags);
/// sendmmsg(2). Returns the count sent or -1 with errno.
int cshim_sendmmsg(int fd, struct cshim_mmsghdr *messages, unsigned int count, int flags);

/// The status word at the head of a TPACKET_V2 frame or a TPACKET_V3 block, shared with the
/// kernel: loads acquire (the frame's bytes are visible once the kernel's status is seen) and
/// stores release (our reads of the frame are done before the kernel may reuse it).
static inline uint32_t cshim_ring_status_load(const void *status) {
    return __atomic_load_n((const uint32_t *)status, __ATOMIC_ACQUIRE);
}
static inline void cshim_ring_status_store(void *status, uint32_t value) {
    __atomic_store_n((uint32_t *)status, value, __ATOMIC_RELEASE);
}

/// Relaxed 64-bit counters, written by one thread and read by any.
static inline uint64_t cshim_counter_load(const uint64_t *counter) {
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}
static inline void cshim_counter_add(uint64_t *counter, uint64_t value) {
    __atomic_fetch_add(counter, value, __ATOMIC_RELAXED);
}
static inline uint32_t cshim_flag_exchange(uint32_t *flag, uint32_t value) {
    return __atomic_exchange_n(flag, value, __ATOMIC_ACQ_REL);
}
static inline uint32_t cshim_flag_load(const uint32_t *flag) {
    return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

/// Bytes of control buffer that hold one PACKET_AUXDATA message.
size_t cshim_packet_auxdata_space(void);
/// The tp_status of the PACKET_AUXDATA control message in `message`, or 0 when there is none.
uint32_t cshim_packet_auxdata_status(const struct msghdr *message);

/// Sizes of the ring headers, rounded as the kernel lays them out (TPACKET_ALIGN).
size_t cshim_tpacket2_header_length(void);
size_t cshim_tpacket3_header_length(void);

#endif
