// The endpoint's configuration, after gVisor's fdbased.Options.

import Link
import Posix
import Wire

/// How inbound frames are read from each fd.
public enum PacketDispatchMode: Sendable, Hashable {
    /// One readv(2) per frame. Works on any boundary-preserving fd (TUN, socketpair, AF_PACKET).
    case readv
    /// recvmmsg(2): up to `Options.recvmmsgBatchSize` frames per call. Sockets only; an fd that
    /// is not a socket falls back to `.readv` (see `FDBasedEndpoint.effectiveDispatchMode`).
    case recvmmsg
    /// AF_PACKET PACKET_RX_RING shared with the kernel: no copy, no syscall per frame. AF_PACKET
    /// sockets only (the endpoint refuses other fds).
    case packetMMap
}

/// The TPACKET layout used by `.packetMMap`.
public enum PacketRingVersion: Sendable, Hashable {
    /// One fixed-size frame per packet; the kernel wakes the reader per packet. The default:
    /// see Benchmarks/bench-fdbased/README.md for the measurement behind the choice.
    case v2
    /// Variable-size packets packed into blocks; a block is handed over when full or when
    /// `Options.ringBlockTimeoutMilliseconds` passes, which delays lone packets.
    case v3
}

/// Who runs the receive loop.
public enum DispatchDriver: Sendable, Hashable {
    /// `attach(_:)` starts one thread per fd (gVisor's dispatch loops). Each blocks in poll(2) on
    /// its fd and an eventfd; `attach(nil)` / `close()` signal the eventfd, so stopping is
    /// immediate and an idle endpoint uses no CPU.
    case dispatcherThreads
    /// No threads. The owner of an event loop registers `FDBasedEndpoint.pollableFileDescriptors`
    /// for readability (level-triggered) and calls `dispatchAvailable()` when one is ready; that
    /// call drains what is ready without blocking, delivers it, calls `deliveryBatchEnded()` and
    /// returns. Deliveries then happen on the caller's thread.
    case external
}

extension FDBasedEndpoint {
    /// The endpoint's configuration, after gVisor's fdbased.Options. Its `SaveRestore` has no
    /// counterpart: it marks a link whose state survives a checkpoint and restore, and a
    /// sandbox is never checkpointed; a restarted sandbox makes a new endpoint over new fds.
    public struct Options: Sendable {
        /// The fds to read and write. Each must preserve frame boundaries (AF_PACKET, TUN,
        /// SEQPACKET/DGRAM socket). The endpoint puts them in non-blocking mode but does NOT own
        /// them: it never closes them; the caller closes them after `close()`.
        /// With several AF_PACKET fds they join one PACKET_FANOUT_HASH group and each gets its
        /// own receive loop; writes go to the first fd.
        public var fds: [Int32]
        /// Largest network-layer packet of one frame.
        public var mtu: Int
        /// Frames carry a 14-byte Ethernet II header (false for TUN: IP packets only).
        public var ethernetHeader: Bool
        /// Called exactly once when an fd reaches EOF or fails fatally, with that failure
        /// (`.closed` for EOF), or with nil for an end `disconnectOK` calls normal. Not called
        /// for a deliberate stop (`attach(nil)`, `close()`). Runs on the thread that saw the end.
        public var onClosed: (@Sendable (LinkError?) -> Void)?
        /// The endpoint's MAC address: the source of outbound frames, and the filter for inbound
        /// unicast frames (frames for another unicast MAC are counted and skipped). `.zero`
        /// disables the filter.
        public var address: MACAddress
        /// Largest GSO super-frame sent and received; 0 disables GSO on transmit. When non-zero every
        /// frame on the fd is preceded by a 10-byte struct virtio_net_hdr: the endpoint enables
        /// PACKET_VNET_HDR on AF_PACKET fds itself; other fds (TUN with IFF_VNET_HDR, test
        /// socketpairs) must already carry the header. (AF_PACKET fds take the header for
        /// `receivesSuperFrames` as well.)
        public var gsoMaxSize: Int
        /// AF_PACKET fds: size ring slots and read buffers for a kernel super-frame of
        /// `FDBasedEndpoint.superFrameNetworkLength` bytes, not just for `mtu` (see there why a
        /// veth hands such frames over at any MTU), and read them with a virtio_net_hdr
        /// (PACKET_VNET_HDR, also when `gsoMaxSize` is 0: outbound frames then carry an empty
        /// one) so each super-frame says what it is. A TCP super-frame is delivered as the one
        /// large segment it is (`InboundPacket.gso` set), as GRO would; so is a UDP GSO batch
        /// (an app's UDP_SEGMENT send), which the stack's UDP cuts into its datagrams.
        /// False only for an interface known to do no offload: it saves ring memory at a small
        /// MTU (a 16 MiB ring holds about 250 such slots, against 10,000 of MTU 1500), at the
        /// price of dropping (and counting as `truncated`) every frame over the MTU.
        public var receivesSuperFrames = true
        public var dispatchMode: PacketDispatchMode
        public var driver: DispatchDriver
        /// Advertise `.txChecksumOffload`: outbound transport checksums may be left partial and
        /// are completed below (with GSO, the kernel does it from virtio_net_hdr).
        public var txChecksumOffload: Bool
        /// Advertise `.rxChecksumOffload` and mark every inbound packet checksum-verified.
        /// (Without it a packet is marked verified only when the kernel says so.)
        public var rxChecksumOffload: Bool

        // Sizing. Every buffer is allocated once at init.
        /// Frames read per recvmmsg call.
        public var recvmmsgBatchSize: Int
        /// Most frames delivered per fd per `dispatchAvailable()` / wake-up, so one busy fd
        /// cannot starve the rest of an event loop; what is left is read on the next call.
        public var dispatchBudget: Int
        /// Outbound frames queued before the batch is sent (sendmmsg); 1 sends at once.
        public var txBatchSize: Int
        /// Bytes of outbound frames the TX batch holds (raised to one maximal frame if smaller).
        public var txBufferSize: Int
        /// SO_RCVBUF and SO_SNDBUF for socket fds (the kernel caps them at net.core.rmem_max /
        /// wmem_max); 0 leaves the fds' own. The default AF_PACKET receive buffer (about 200 KiB)
        /// holds only three 64 KiB frames for `.readv` / `.recvmmsg`.
        public var socketBufferSize: Int
        /// Bytes of the PACKET_RX_RING (`.packetMMap`).
        public var ringSize: Int
        public var ringVersion: PacketRingVersion
        /// TPACKET_V3 only: bytes per block and the block retire timeout.
        public var ringBlockSize: Int
        public var ringBlockTimeoutMilliseconds: Int
        /// Whether `close()` detaches the PACKET_RX_RING from the fd, leaving the fd as it was
        /// given (the default: the caller owns it). An owner that closes the fd right after can
        /// say false: the kernel frees the ring with the socket, and detaching it first costs an
        /// RCU grace period of its own (10-15 ms, synchronize_net in packet_set_ring).
        public var detachesRingOnClose = true
        /// Whether `FDBasedEndpoint.preparePacketSockets(options:)` already ran on the fds with
        /// these options (in a more privileged process, or before the socket was bound, when
        /// setting up a ring needs no RCU grace period): the endpoint then only maps the ring.
        public var packetSocketsPrepared = false
        /// The fd's peer going away (EOF, or ECONNRESET from a socket whose peer closed with
        /// frames unread) is the link's normal end: the endpoint stops reading that fd as it
        /// always does, and `onClosed` gets nil instead of the error. Other failures are
        /// reported as they are. Named after gVisor's `Options.DisconnectOk`, which there lets
        /// a checkpoint drop the link's connections; with no checkpoints (see `Options`), this
        /// is what is left of it.
        public var disconnectOK = false

        public init(
            fds: [Int32],
            mtu: Int = 65520,
            ethernetHeader: Bool = true,
            onClosed: (@Sendable (LinkError?) -> Void)? = nil,
            address: MACAddress = .zero,
            gsoMaxSize: Int = 0,
            dispatchMode: PacketDispatchMode = .readv,
            driver: DispatchDriver = .dispatcherThreads,
            txChecksumOffload: Bool = false,
            rxChecksumOffload: Bool = false,
            recvmmsgBatchSize: Int = 32,
            dispatchBudget: Int = 1024,
            txBatchSize: Int = 64,
            txBufferSize: Int = 1 << 20,
            socketBufferSize: Int = 0,
            ringSize: Int = 16 << 20,
            ringVersion: PacketRingVersion = .v2,
            ringBlockSize: Int = 1 << 20,
            ringBlockTimeoutMilliseconds: Int = 1
        ) {
            self.fds = fds
            self.mtu = mtu
            self.ethernetHeader = ethernetHeader
            self.onClosed = onClosed
            self.address = address
            self.gsoMaxSize = gsoMaxSize
            self.dispatchMode = dispatchMode
            self.driver = driver
            self.txChecksumOffload = txChecksumOffload
            self.rxChecksumOffload = rxChecksumOffload
            self.recvmmsgBatchSize = recvmmsgBatchSize
            self.dispatchBudget = dispatchBudget
            self.txBatchSize = txBatchSize
            self.txBufferSize = txBufferSize
            self.socketBufferSize = socketBufferSize
            self.ringSize = ringSize
            self.ringVersion = ringVersion
            self.ringBlockSize = ringBlockSize
            self.ringBlockTimeoutMilliseconds = ringBlockTimeoutMilliseconds
        }
    }
}

/// Why the endpoint could not be created.
public enum FDBasedError: Error, Sendable, Equatable {
    case noFileDescriptors
    /// An option is out of range; the message names it.
    case invalidOption(String)
    /// `.packetMMap` was asked for on an fd that is not an AF_PACKET socket.
    case packetMMapNeedsPacketSocket(fd: Int32)
    case system(PosixError)
}
