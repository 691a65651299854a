// FDBasedEndpoint's set-up: the options checked, each fd inspected and prepared (socket
// buffers, packet-socket options, fanout), and the reader for each fd in its dispatch mode
// (readv, recvmmsg, or a mapped PACKET_RX_RING).

import CNetShims
import Glibc
import Link
import Posix
import Wire

extension FDBasedEndpoint {
    /// Refuses options out of range, naming the option.
    static func validate(_ options: Options) throws(FDBasedError) {
        guard !options.fds.isEmpty else { throw .noFileDescriptors }
        guard options.mtu > 0, options.mtu <= 65535 else { throw .invalidOption("mtu") }
        guard options.gsoMaxSize >= 0, options.gsoMaxSize <= 65535 + 14 else { throw .invalidOption("gsoMaxSize") }
        guard options.recvmmsgBatchSize > 0, options.recvmmsgBatchSize <= 1024 else {
            throw .invalidOption("recvmmsgBatchSize")
        }
        guard options.txBatchSize > 0, options.txBatchSize <= 1024 else { throw .invalidOption("txBatchSize") }
        guard options.socketBufferSize >= 0 else { throw .invalidOption("socketBufferSize") }
        guard options.dispatchBudget > 0 else { throw .invalidOption("dispatchBudget") }
        guard options.ringSize > 0, options.ringBlockSize > 0 else { throw .invalidOption("ringSize") }
    }

    /// What an endpoint over `options` advertises (a switch of such endpoints advertises the same).
    public static func capabilities(_ options: Options) -> LinkCapabilities {
        var caps: LinkCapabilities = []
        if options.ethernetHeader { caps.insert(.resolutionRequired) }
        if options.gsoMaxSize > 0 { caps.insert(.gso) }
        if options.txChecksumOffload { caps.insert(.txChecksumOffload) }
        if options.rxChecksumOffload { caps.insert(.rxChecksumOffload) }
        return caps
    }

    /// What init sets up over the fds: a reader per fd (when the endpoint receives), the mode
    /// each really reads in, the AF_PACKET fds, and whether the first fd (the one written) is a
    /// socket.
    struct FDSetup {
        var readers: [any FrameReader] = []
        var modes: [PacketDispatchMode] = []
        var packetFDs: [Int32] = []
        var firstIsSocket = false
    }

    static func setUpFDs(
        _ options: Options, receives: Bool, virtioHeaderLength: Int,
        linkHeaderLength: Int
    ) throws(FDBasedError) -> FDSetup {
        var setup = FDSetup()
        let maxNetworkLength = max(options.mtu, options.gsoMaxSize)
        for (index, fd) in options.fds.enumerated() {
            let kind = try inspect(fd, options: options)
            if index == 0 { setup.firstIsSocket = kind.isSocket }
            if kind.isPacketSocket {
                setup.packetFDs.append(fd)
                if !options.packetSocketsPrepared {
                    try system { () throws(PosixError) in
                        try preparePacketSocket(fd, virtioHeader: virtioHeaderLength > 0)
                    }
                }
            }
            guard receives else { continue }
            let networkLength = kind.isPacketSocket ? packetNetworkLength(options) : maxNetworkLength
            let reader = try makeReader(
                kind, options: options, virtioHeaderLength: virtioHeaderLength,
                maxNetworkLength: networkLength,
                maxFrameLength: virtioHeaderLength + linkHeaderLength + 4 + networkLength)
            setup.readers.append(reader.reader)
            setup.modes.append(reader.mode)
        }
        if receives && setup.packetFDs.count > 1 {
            try system { () throws(PosixError) in try joinFanoutGroup(setup.packetFDs) }
        }
        return setup
    }

    /// Makes `fd` non-blocking, gives a socket its buffer sizes, and says what kind of fd it is.
    static func inspect(_ fd: Int32, options: Options) throws(FDBasedError) -> ReceivedFD {
        try system { () throws(PosixError) in try SystemCalls.setNonBlocking(fd) }
        let isSocket = try system { () throws(PosixError) in try SystemCalls.isSocket(fd) }
        var socketType: Int32 = 0
        var isPacketSocket = false
        if isSocket {
            if options.socketBufferSize > 0 {
                let size = Int32(clamping: options.socketBufferSize)
                try system { () throws(PosixError) in
                    try SystemCalls.setSocketOption(
                        fd, level: SOL_SOCKET, name: SO_RCVBUF, value: size, call: "setsockopt(SO_RCVBUF)")
                    try SystemCalls.setSocketOption(
                        fd, level: SOL_SOCKET, name: SO_SNDBUF, value: size, call: "setsockopt(SO_SNDBUF)")
                }
            }
            socketType = try system { () throws(PosixError) in
                try SystemCalls.socketOption(fd, level: SOL_SOCKET, name: SO_TYPE, call: "getsockopt(SO_TYPE)")
            }
            let domain = try system { () throws(PosixError) in
                try SystemCalls.socketOption(fd, level: SOL_SOCKET, name: SO_DOMAIN, call: "getsockopt(SO_DOMAIN)")
            }
            isPacketSocket = domain == AF_PACKET
        }
        // A zero-length read is an empty datagram only on SOCK_DGRAM.
        return ReceivedFD(
            fd: fd, isSocket: isSocket, isPacketSocket: isPacketSocket,
            zeroLengthIsEOF: !(isSocket && socketType == Int32(SOCK_DGRAM.rawValue)))
    }

    /// What the reader of one fd needs to know about it.
    struct ReceivedFD {
        var fd: Int32
        var isSocket: Bool
        var isPacketSocket: Bool
        var zeroLengthIsEOF: Bool
    }

    /// The reader for one fd in `options.dispatchMode`, and the mode it really reads in.
    static func makeReader(
        _ received: ReceivedFD, options: Options, virtioHeaderLength: Int, maxNetworkLength: Int,
        maxFrameLength: Int
    ) throws(FDBasedError) -> (reader: any FrameReader, mode: PacketDispatchMode) {
        let fd = received.fd
        switch options.dispatchMode {
        case .readv:
            return (
                ReadvReader(
                    fd: fd, maxFrameLength: maxFrameLength, zeroLengthIsEOF: received.zeroLengthIsEOF,
                    auxiliaryData: received.isPacketSocket), .readv
            )
        case .recvmmsg where !received.isSocket:
            // recvmmsg needs a socket; any other fd (TUN) is read with readv.
            return (
                ReadvReader(
                    fd: fd, maxFrameLength: maxFrameLength, zeroLengthIsEOF: received.zeroLengthIsEOF,
                    auxiliaryData: false), .readv
            )
        case .recvmmsg:
            return (
                RecvmmsgReader(
                    fd: fd, maxFrameLength: maxFrameLength, batchSize: options.recvmmsgBatchSize,
                    zeroLengthIsEOF: received.zeroLengthIsEOF, auxiliaryData: received.isPacketSocket), .recvmmsg
            )
        case .packetMMap:
            guard received.isPacketSocket else { throw .packetMMapNeedsPacketSocket(fd: fd) }
            let ring = try system { () throws(PosixError) in
                try MappedPacketRing(
                    fd: fd, version: options.ringVersion, virtioHeaderLength: virtioHeaderLength,
                    maxNetworkLength: maxNetworkLength, ringSize: options.ringSize,
                    blockSize: options.ringBlockSize,
                    blockTimeoutMilliseconds: options.ringBlockTimeoutMilliseconds,
                    detachOnDeinit: options.detachesRingOnClose,
                    configured: options.packetSocketsPrepared)
            }
            switch options.ringVersion {
            case .v2: return (PacketRingV2Reader(ring: ring), .packetMMap)
            case .v3: return (PacketRingV3Reader(ring: ring), .packetMMap)
            }
        }
    }

    /// Every fd is an AF_PACKET socket (an fd that is not a socket is not).
    static func allPacketSockets(_ fds: [Int32]) -> Bool {
        fds.allSatisfy { fd in
            (try? SystemCalls.socketOption(fd, level: SOL_SOCKET, name: SO_DOMAIN, call: "getsockopt(SO_DOMAIN)"))
                == AF_PACKET
        }
    }

    /// What the endpoint's init does to its AF_PACKET fds before reading them (socket options,
    /// and the PACKET_RX_RING for `.packetMMap`), done ahead: set `packetSocketsPrepared` in
    /// the same options for the endpoint. On a socket not yet bound, the ring's set-up costs no
    /// RCU grace period.
    public static func preparePacketSockets(options: Options) throws(FDBasedError) {
        // The same header and sizes the endpoint's init computes: the ring it maps must be the
        // one configured here.
        let virtioHeaderLength = virtioHeaderLength(options, receives: true)
        for fd in options.fds {
            try system { () throws(PosixError) in
                try preparePacketSocket(fd, virtioHeader: virtioHeaderLength > 0)
                guard options.dispatchMode == .packetMMap else { return }
                let geometry = MappedPacketRing.geometry(
                    version: options.ringVersion, virtioHeaderLength: virtioHeaderLength,
                    maxNetworkLength: packetNetworkLength(options),
                    ringSize: options.ringSize, blockSize: options.ringBlockSize)
                try MappedPacketRing.configure(
                    fd: fd, version: options.ringVersion, geometry: geometry,
                    blockTimeoutMilliseconds: options.ringBlockTimeoutMilliseconds)
            }
        }
    }

    /// Receiving super-frames on packet sockets takes the virtio_net_hdr too: it is how the
    /// kernel says what a super-frame is (TCP: one large segment, delivered as such; UDP GSO:
    /// many datagrams, which must not be delivered as one, see FrameDecoder).
    static func virtioHeaderLength(_ options: Options, receives: Bool) -> Int {
        let superFrameHeader = options.receivesSuperFrames && receives && allPacketSockets(options.fds)
        return options.gsoMaxSize > 0 || superFrameHeader ? VirtioNetHeader.length : 0
    }

    /// The largest network packet a packet socket's reader takes: each skb as the interface
    /// got it, super-frames included.
    static func packetNetworkLength(_ options: Options) -> Int {
        let maxNetworkLength = max(options.mtu, options.gsoMaxSize)
        return options.receivesSuperFrames ? max(maxNetworkLength, superFrameNetworkLength) : maxNetworkLength
    }

    /// Options every AF_PACKET fd gets before its ring is set up.
    static func preparePacketSocket(_ fd: Int32, virtioHeader: Bool) throws(PosixError) {
        if virtioHeader {
            try SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_VNET_HDR, value: Int32(1),
                call: "setsockopt(PACKET_VNET_HDR)")
        }
        // A NIC does not receive what is sent out of it: without this the socket would also
        // read frames that the host side (or another socket) transmits on the interface.
        // Best effort: kernels before 4.20 lack the option.
        try? SystemCalls.setSocketOption(
            fd, level: SOL_PACKET, name: PACKET_IGNORE_OUTGOING, value: Int32(1),
            call: "setsockopt(PACKET_IGNORE_OUTGOING)")
        // readv/recvmmsg learn through PACKET_AUXDATA that a frame made on this host (a veth
        // peer's CHECKSUM_PARTIAL) carries only a pseudo-header checksum; the ring has it in
        // tp_status. Without it such frames would look corrupt to the stack.
        try SystemCalls.setSocketOption(
            fd, level: SOL_PACKET, name: PACKET_AUXDATA, value: Int32(1),
            call: "setsockopt(PACKET_AUXDATA)")
    }

    /// Puts every AF_PACKET fd in one PACKET_FANOUT_HASH group, so each flow is read by one
    /// fd. Group ids are per network namespace; a taken id is retried with another (bounded).
    static func joinFanoutGroup(_ fds: [Int32]) throws(PosixError) {
        func join(_ fd: Int32, _ argument: Int32) throws(PosixError) {
            try SystemCalls.setSocketOption(
                fd, level: SOL_PACKET, name: PACKET_FANOUT, value: argument,
                call: "setsockopt(PACKET_FANOUT)")
        }
        var lastError = PosixError(call: "setsockopt(PACKET_FANOUT)", errno: EADDRINUSE)
        for _ in 0..<16 {
            let id = UInt32.random(in: 1...0xFFFF)
            let argument = Int32(bitPattern: id | UInt32(PACKET_FANOUT_HASH) << 16)
            do throws(PosixError) {
                try join(fds[0], argument)
            } catch {
                // An id held by a group with other settings fails with EINVAL or EADDRINUSE.
                guard error.errno == EADDRINUSE || error.errno == EINVAL else { throw error }
                lastError = error
                continue
            }
            for fd in fds.dropFirst() { try join(fd, argument) }
            return
        }
        throw lastError
    }
}

/// Runs a setup step, turning its system-call failure into FDBasedError.system.
func system<T>(_ body: () throws(PosixError) -> T) throws(FDBasedError) -> T {
    do { return try body() } catch { throw .system(error) }
}
