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

size_t cshim_packet_auxdata_space(void) {
    return CMSG_SPACE(sizeof(struct tpacket_auxdata));
}

uint32_t cshim_packet_auxdata_status(const struct msghdr *message) {
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)message); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)message, c)) {
        if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct tpacket_auxdata))) {
            const struct tpacket_auxdata *aux = (const struct tpacket_auxdata *)CMSG_DATA(c);
            return aux->tp_status;
        }
    }
    return 0;
}
