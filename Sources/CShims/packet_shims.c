// Implementations of packet_shims.h: thin pass-throughs, no policy.
#define _GNU_SOURCE
#include <sys/socket.h>
#include "packet_shims.h"

_Static_assert(sizeof(struct cshim_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr layout");

int cshim_recvmmsg(int fd, struct cshim_mmsghdr *messages, unsigned int count, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)messages, count, flags, NULL);
}

int cshim_sendmmsg(int fd, struct cshim_mmsghdr *messages, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)messages, count, flags);
}

size_t cshim_tpacket2_header_length(void) {
    return TPACKET_ALIGN(sizeof(struct tpacket2_hdr));
}

size_t cshim_tpacket3_header_length(void) {
    return TPACKET_ALIGN(sizeof(struct tpacket3_hdr));
}
