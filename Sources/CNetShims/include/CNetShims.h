// CNetShims: C glue for what Glibc's Swift module hides, for the network modules (FDBased,
// Netlink, UserNet). Small functions named by what they do, no policy (the logic lives in
// Swift). One header per area. The launcher's C is CLauncher's.
#ifndef CNETSHIMS_H
#define CNETSHIMS_H

#include "packet_shims.h"    // FDBased: TPACKET rings, sockaddr_ll, mmsghdr, virtio_net_hdr
#include "usernet_shims.h"   // UserNet: epoll/timerfd/eventfd helpers, socket options, error queue
#include "netlink_shims.h"   // Netlink: rtnetlink UAPI (message types, attributes, flags)

#endif
