// Minimal C peers for bench-fdbased, and the frame blaster the FDBased stress test uses.
// Built by the benchmark (and the stress test) with `cc -O2` in the same run. Each mode is the
// plainest correct use of one kernel interface, to measure the Swift endpoint against.
//
//   send IFNAME COUNT FRAMESIZE DSTMAC      sendmmsg COUNT frames (EtherType 0x88B5) on IFNAME;
//                                           prints "sent N"
//   rx-readv|rx-recvmmsg|rx-mmap2|rx-mmap3 IFNAME FRAMESIZE
//                                           reads frames until 300 ms pass without one after the
//                                           first; prints "received N seconds S"
//   tx-sendmmsg|tx-ring IFNAME COUNT FRAMESIZE DSTMAC
//                                           sends COUNT frames in batches of 64; prints
//                                           "sent N seconds S"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static int open_packet_socket(const char *ifname) {
    int fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd < 0) die("socket");
    struct sockaddr_ll address = {0};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = if_nametoindex(ifname);
    if (address.sll_ifindex == 0) die("if_nametoindex");
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    return fd;
}

static void build_frame(unsigned char *frame, size_t size, const char *mac) {
    unsigned int m[6];
    if (sscanf(mac, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) die("mac");
    memset(frame, 0xA5, size);
    for (int i = 0; i < 6; i++) frame[i] = (unsigned char)m[i];
    unsigned char source[6] = {0x02, 0, 0, 0, 0xBE, 0xEF};
    memcpy(frame + 6, source, 6);
    frame[12] = 0x88;
    frame[13] = 0xB5;
}

static int send_frames(const char *ifname, long count, size_t size, const char *mac, int timed) {
    int fd = open_packet_socket(ifname);
    unsigned char *frame = malloc(size);
    build_frame(frame, size, mac);
    struct iovec iov = {frame, size};
    struct mmsghdr messages[BATCH];
    memset(messages, 0, sizeof messages);
    for (int i = 0; i < BATCH; i++) {
        messages[i].msg_hdr.msg_iov = &iov;
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0;
    double start = now();
    while (sent < count) {
        int want = count - sent < BATCH ? (int)(count - sent) : BATCH;
        int n = sendmmsg(fd, messages, want, 0);
        if (n < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN) continue;
            die("sendmmsg");
        }
        sent += n;
    }
    double seconds = now() - start;
    if (timed) printf("sent %ld seconds %.6f\n", sent, seconds);
    else printf("sent %ld\n", sent);
    return 0;
}

static int tx_ring(const char *ifname, long count, size_t size, const char *mac) {
    int fd = open_packet_socket(ifname);
    int version = TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) die("PACKET_VERSION");
    unsigned frame_size = (unsigned)((TPACKET2_HDRLEN + size + 4095) / 4096 * 4096);
    struct tpacket_req req = {.tp_block_size = frame_size, .tp_block_nr = 256, .tp_frame_size = frame_size, .tp_frame_nr = 256};
    if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) die("PACKET_TX_RING");
    unsigned char *ring = mmap(NULL, (size_t)frame_size * 256, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (ring == MAP_FAILED) die("mmap");
    unsigned char *frame = malloc(size);
    build_frame(frame, size, mac);
    long sent = 0;
    unsigned next = 0;
    double start = now();
    while (sent < count) {
        int queued = 0;
        while (queued < BATCH && sent + queued < count) {
            struct tpacket2_hdr *header = (struct tpacket2_hdr *)(ring + (size_t)next * frame_size);
            if (__atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE) != TP_STATUS_AVAILABLE) break;
            memcpy((unsigned char *)header + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll), frame, size);
            header->tp_len = (unsigned)size;
            __atomic_store_n(&header->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
            next = (next + 1) % 256;
            queued++;
        }
        if (send(fd, NULL, 0, 0) < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) die("send");
        sent += queued;
    }
    // Wait until the kernel has sent everything.
    for (unsigned i = 0; i < 256; i++) {
        struct tpacket2_hdr *header = (struct tpacket2_hdr *)(ring + (size_t)i * frame_size);
        while (__atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_SEND_REQUEST ||
               __atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE) == TP_STATUS_SENDING) send(fd, NULL, 0, 0);
    }
    printf("sent %ld seconds %.6f\n", sent, now() - start);
    return 0;
}

// Receive loop common to every mode: `drain` returns frames read, 0 when none is ready.
static int receive(int fd, long (*drain)(int, void *), void *state) {
    long received = 0;
    double first = 0, last = 0;
    struct pollfd p = {fd, POLLIN, 0};
    for (;;) {
        int ready = poll(&p, 1, received == 0 ? 10000 : 300);
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) break;
        long n = drain(fd, state);
        if (n > 0) {
            if (received == 0) first = now();
            received += n;
            last = now();
        }
    }
    printf("received %ld seconds %.6f\n", received, last - first);
    return 0;
}

struct buffers { unsigned char *data; size_t size; struct mmsghdr messages[BATCH]; struct iovec iov[BATCH]; };

static long drain_readv(int fd, void *state) {
    struct buffers *b = state;
    long n = 0;
    for (;;) {
        struct iovec iov = {b->data, b->size};
        ssize_t r = readv(fd, &iov, 1);
        if (r < 0) return n;
        n++;
    }
}

static long drain_recvmmsg(int fd, void *state) {
    struct buffers *b = state;
    long n = 0;
    for (;;) {
        int r = recvmmsg(fd, b->messages, BATCH, MSG_DONTWAIT, NULL);
        if (r <= 0) return n;
        n += r;
        if (r < BATCH) return n;
    }
}

struct ring { unsigned char *base; unsigned block_size, frame_size, frames_per_block, frame_count, block_count, next; };

static long drain_mmap2(int fd, void *state) {
    (void)fd;
    struct ring *r = state;
    long n = 0;
    for (;;) {
        unsigned index = r->next;
        struct tpacket2_hdr *header = (struct tpacket2_hdr *)(r->base + (size_t)(index / r->frames_per_block) * r->block_size +
                                                              (size_t)(index % r->frames_per_block) * r->frame_size);
        if (!(__atomic_load_n(&header->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) return n;
        __atomic_store_n(&header->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        r->next = (index + 1) % r->frame_count;
        n++;
    }
}

static long drain_mmap3(int fd, void *state) {
    (void)fd;
    struct ring *r = state;
    long n = 0;
    for (;;) {
        struct tpacket_block_desc *block = (struct tpacket_block_desc *)(r->base + (size_t)r->next * r->block_size);
        if (!(__atomic_load_n(&block->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) return n;
        n += block->hdr.bh1.num_pkts;
        __atomic_store_n(&block->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        r->next = (r->next + 1) % r->block_count;
    }
}

static int rx(const char *mode, const char *ifname, size_t size) {
    int fd = open_packet_socket(ifname);
    if (strcmp(mode, "rx-readv") == 0 || strcmp(mode, "rx-recvmmsg") == 0) {
        static struct buffers b;
        b.size = size + 64;
        b.data = malloc(b.size * BATCH);
        for (int i = 0; i < BATCH; i++) {
            b.iov[i].iov_base = b.data + i * b.size;
            b.iov[i].iov_len = b.size;
            b.messages[i].msg_hdr.msg_iov = &b.iov[i];
            b.messages[i].msg_hdr.msg_iovlen = 1;
        }
        if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) die("fcntl");
        return receive(fd, strcmp(mode, "rx-readv") == 0 ? drain_readv : drain_recvmmsg, &b);
    }
    static struct ring r;
    int v3 = strcmp(mode, "rx-mmap3") == 0;
    int version = v3 ? TPACKET_V3 : TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) die("PACKET_VERSION");
    // Same geometry as the Swift endpoint with mtu = FRAMESIZE - 14 and its default 16 MiB
    // ring (PacketRingGeometry): slot = aligned header room + network packet + 4 spare bytes.
#define ALIGN16(x) (((x) + 15) / 16 * 16)
    size_t header = v3 ? TPACKET3_HDRLEN : TPACKET2_HDRLEN;
    r.frame_size = (unsigned)ALIGN16(ALIGN16(header + 16) + (size - 14) + 4);
    if (v3) {
        r.block_size = 1 << 20;
        if (r.block_size < r.frame_size + 64) r.block_size = (r.frame_size + 64 + 4095) / 4096 * 4096;
        r.block_count = (16u << 20) / r.block_size;
        if (r.block_count < 2) r.block_count = 2;
        r.frames_per_block = r.block_size / r.frame_size;
        struct tpacket_req3 req = {r.block_size, r.block_count, r.frame_size, r.frames_per_block * r.block_count, 1, 0, 0};
        if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) die("PACKET_RX_RING");
    } else {
        unsigned wanted = ((128u << 10) / r.frame_size ? (128u << 10) / r.frame_size : 1) * r.frame_size;
        r.block_size = (wanted + 4095) / 4096 * 4096;
        r.frames_per_block = r.block_size / r.frame_size;
        r.block_count = (16u << 20) / r.block_size;
        if (r.block_count < 1) r.block_count = 1;
        struct tpacket_req req = {r.block_size, r.block_count, r.frame_size, r.frames_per_block * r.block_count};
        if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) die("PACKET_RX_RING");
    }
    r.frame_count = r.frames_per_block * r.block_count;
    r.base = mmap(NULL, (size_t)r.block_size * r.block_count, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (r.base == MAP_FAILED) die("mmap");
    return receive(fd, v3 ? drain_mmap3 : drain_mmap2, &r);
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "send") == 0) return send_frames(argv[2], atol(argv[3]), (size_t)atol(argv[4]), argv[5], 0);
    if (argc >= 6 && strcmp(argv[1], "tx-sendmmsg") == 0) return send_frames(argv[2], atol(argv[3]), (size_t)atol(argv[4]), argv[5], 1);
    if (argc >= 6 && strcmp(argv[1], "tx-ring") == 0) return tx_ring(argv[2], atol(argv[3]), (size_t)atol(argv[4]), argv[5]);
    if (argc >= 4 && strncmp(argv[1], "rx-", 3) == 0) return rx(argv[1], argv[2], (size_t)atol(argv[3]));
    fprintf(stderr, "usage: see the comment at the top of reference.c\n");
    return 2;
}
