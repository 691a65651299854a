// CShims: C glue for what Glibc's Swift module hides. Small functions named by what they do,
// no policy (the logic lives in Swift). One header per area of the system.
#ifndef CSHIMS_H
#define CSHIMS_H

#include "packet_shims.h"    // FDBased: TPACKET rings, sockaddr_ll, mmsghdr, virtio_net_hdr
#include "process_shims.h"   // Sandbox: clone/unshare/setns/pivot_root, the fork-to-exec child path
#include "idmap_shims.h"     // Sandbox: idmapped volumes for the default user namespace
#include "usernet_shims.h"   // UserNet: epoll/timerfd/eventfd helpers, socket options, error queue
#include "gateway_shims.h"   // Sandbox: the gateway's confined process (clone, isolation, privileges)
#include "netlink_shims.h"   // Netlink: rtnetlink UAPI (message types, attributes, flags)

#endif
