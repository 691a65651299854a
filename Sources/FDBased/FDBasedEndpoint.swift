// FDBasedEndpoint: a LinkEndpoint over one or more boundary-preserving fds (AF_PACKET socket,
// TUN device, SEQPACKET/DGRAM socketpair), after gVisor's pkg/tcpip/link/fdbased.
//
// Receive: one FrameReader per fd in the chosen PacketDispatchMode. Either `attach(_:)` starts
// a thread per fd (DispatchDriver.dispatcherThreads), or the owner of an event loop polls
// `pollableFileDescriptors` and calls `dispatchAvailable()` (DispatchDriver.external).
// Transmit: frames are queued in a TX batch and sent with sendmmsg at `flush()`.
//
// Lifetime: call close() (or attach(nil)) before letting go of the endpoint: running receive
// threads hold it.
//
// Threading: writePacket/writePackets/flush must not run concurrently (the stack serialises
// them). attach/close are called by the owner, not from inside a delivery. With the external
// driver, dispatchAvailable runs on the owner's thread, as do the deliveries.

import CShims
import Glibc
import Link
import Posix
import Wire

public final class FDBasedEndpoint: LinkEndpoint, @unchecked Sendable {
    public let mtu: Int
    public let capabilities: LinkCapabilities
    public let maxHeaderLength: Int
    public let linkAddress: MACAddress
    public let gsoMaxSize: Int
    /// The mode each fd is read in (`.recvmmsg` on a non-socket becomes `.readv`).
    public let effectiveDispatchModes: [PacketDispatchMode]
    /// The fds to register for readability with the external driver (one per fd; empty for an
    /// endpoint that does not receive, such as the one inside InjectableEndpoint).
    public let pollableFileDescriptors: [Int32]

    private let options: Options
    private let counters = CounterStorage()
    private let decoder: FrameDecoder
    private let transmit: TransmitQueue
    private let virtioHeaderLength: Int
    private let linkHeaderLength: Int
    private var readers: [any FrameReader]
    private var readerFinished: [Bool]
    private let packetSocketFDs: [Int32]
    private let stopEvent: Int32
    private var threads: [DispatchThread] = []
    private var dispatcher: (any NetworkDispatcher)?
    private let closedReported: UnsafeMutablePointer<UInt32>
    /// Scratch for the virtio_net_hdr and link header of a directly sent large frame.
    private let directPrefix = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16)
    private var isClosed = false

    /// The largest network-layer packet an AF_PACKET socket may be handed whatever the MTU. The
    /// kernel gives a packet socket each skb as the interface received it, and a veth passes its
    /// peer's TSO/GSO super-frames on unsegmented: up to the peer's gso_max_size (65536 unless
    /// raised for BIG TCP; `ip -d link` shows it), one IP packet of many MSS-sized segments. GRO
    /// builds them up to gro_max_size (65536 too). A ring slot or read buffer sized for the MTU
    /// cuts such a frame short (tpacket_rcv: snaplen = tp_frame_size - tp_mac), and a cut frame
    /// is lost: a kernel TCP sender at MTU 1500 then got through only its single-segment skbs,
    /// one per retransmission timeout.
    public static let superFrameNetworkLength = 65_536

    /// Opens the endpoint over `options.fds` (which it makes non-blocking and never closes).
    public convenience init(options: Options) throws(FDBasedError) {
        try self.init(options: options, receives: true)
    }

    init(options: Options, receives: Bool) throws(FDBasedError) {
        guard !options.fds.isEmpty else { throw .noFileDescriptors }
        guard options.mtu > 0, options.mtu <= 65535 else { throw .invalidOption("mtu") }
        guard options.gsoMaxSize >= 0, options.gsoMaxSize <= 65535 + 14 else { throw .invalidOption("gsoMaxSize") }
        guard options.recvmmsgBatchSize > 0, options.recvmmsgBatchSize <= 1024 else { throw .invalidOption("recvmmsgBatchSize") }
        guard options.txBatchSize > 0, options.txBatchSize <= 1024 else { throw .invalidOption("txBatchSize") }
        guard options.socketBufferSize >= 0 else { throw .invalidOption("socketBufferSize") }
        guard options.dispatchBudget > 0 else { throw .invalidOption("dispatchBudget") }
        guard options.ringSize > 0, options.ringBlockSize > 0 else { throw .invalidOption("ringSize") }
        self.options = options
        mtu = options.mtu
        gsoMaxSize = options.gsoMaxSize
        linkAddress = options.address
        // Receiving super-frames on packet sockets takes the virtio_net_hdr too: it is how the
        // kernel says what a super-frame is (TCP: one large segment, delivered as such; UDP
        // GSO: many datagrams, which must not be delivered as one, see FrameDecoder).
        virtioHeaderLength = Self.virtioHeaderLength(options, receives: receives)
        linkHeaderLength = options.ethernetHeader ? EthernetRepr.headerLength : 0
        maxHeaderLength = linkHeaderLength
        var caps: LinkCapabilities = []
        if options.ethernetHeader { caps.insert(.resolutionRequired) }
        if options.gsoMaxSize > 0 { caps.insert(.gso) }
        if options.txChecksumOffload { caps.insert(.txChecksumOffload) }
        if options.rxChecksumOffload { caps.insert(.rxChecksumOffload) }
        capabilities = caps
        decoder = FrameDecoder(virtioHeaderLength: virtioHeaderLength, ethernetHeader: options.ethernetHeader,
                               address: options.address, rxChecksumOffload: options.rxChecksumOffload)
        let maxNetworkLength = max(options.mtu, options.gsoMaxSize)
        let virtioHeaderLength = virtioHeaderLength
        // 4 spare bytes for an 802.1Q tag. (What this endpoint sends; receive sizes per fd below.)
        let maxFrameLength = virtioHeaderLength + linkHeaderLength + 4 + maxNetworkLength

        var readers: [any FrameReader] = []
        var modes: [PacketDispatchMode] = []
        var packetFDs: [Int32] = []
        var firstIsSocket = false
        for (index, fd) in options.fds.enumerated() {
            try system { () throws(PosixError) in try SystemCalls.setNonBlocking(fd) }
            let isSocket = try system { () throws(PosixError) in try SystemCalls.isSocket(fd) }
            if index == 0 { firstIsSocket = isSocket }
            var socketType: Int32 = 0
            var isPacketSocket = false
            if isSocket {
                if options.socketBufferSize > 0 {
                    let size = Int32(clamping: options.socketBufferSize)
                    try system { () throws(PosixError) in
                        try SystemCalls.setSocketOption(fd, level: SOL_SOCKET, name: SO_RCVBUF, value: size, call: "setsockopt(SO_RCVBUF)")
                        try SystemCalls.setSocketOption(fd, level: SOL_SOCKET, name: SO_SNDBUF, value: size, call: "setsockopt(SO_SNDBUF)")
                    }
                }
                socketType = try system { () throws(PosixError) in try SystemCalls.socketOption(fd, level: SOL_SOCKET, name: SO_TYPE, call: "getsockopt(SO_TYPE)") }
                let domain = try system { () throws(PosixError) in try SystemCalls.socketOption(fd, level: SOL_SOCKET, name: SO_DOMAIN, call: "getsockopt(SO_DOMAIN)") }
                isPacketSocket = domain == AF_PACKET
            }
            if isPacketSocket {
                packetFDs.append(fd)
                if !options.packetSocketsPrepared {
                    try system { () throws(PosixError) in try FDBasedEndpoint.preparePacketSocket(fd, virtioHeader: virtioHeaderLength > 0) }
                }
            }
            guard receives else { continue }
            // A zero-length read is an empty datagram only on SOCK_DGRAM.
            let kind = ReceivedFD(fd: fd, isSocket: isSocket, isPacketSocket: isPacketSocket,
                                  zeroLengthIsEOF: !(isSocket && socketType == Int32(SOCK_DGRAM.rawValue)))
            let networkLength = isPacketSocket ? Self.packetNetworkLength(options) : maxNetworkLength
            let reader = try Self.makeReader(kind, options: options, virtioHeaderLength: virtioHeaderLength,
                                             maxNetworkLength: networkLength,
                                             maxFrameLength: virtioHeaderLength + linkHeaderLength + 4 + networkLength)
            readers.append(reader.reader)
            modes.append(reader.mode)
        }
        if receives && packetFDs.count > 1 {
            try system { () throws(PosixError) in try FDBasedEndpoint.joinFanoutGroup(packetFDs) }
        }
        self.readers = readers
        readerFinished = Array(repeating: false, count: readers.count)
        effectiveDispatchModes = modes
        pollableFileDescriptors = readers.map(\.fd)
        packetSocketFDs = packetFDs
        transmit = TransmitQueue(fd: options.fds[0], isSocket: firstIsSocket, batchSize: options.txBatchSize,
                                 bufferSize: max(options.txBufferSize, maxFrameLength + 16), counters: counters)
        stopEvent = try system { () throws(PosixError) in try SystemCalls.eventFD() }
        closedReported = .allocate(capacity: 1)
        closedReported.initialize(to: 0)
    }

    deinit {
        close()
        Glibc.close(stopEvent)
        closedReported.deallocate()
        directPrefix.deallocate()
    }

    // MARK: Setup helpers

    /// What the reader of one fd needs to know about it.
    private struct ReceivedFD {
        var fd: Int32
        var isSocket: Bool
        var isPacketSocket: Bool
        var zeroLengthIsEOF: Bool
    }

    /// The reader for one fd in `options.dispatchMode`, and the mode it really reads in.
    private static func makeReader(_ received: ReceivedFD, options: Options, virtioHeaderLength: Int, maxNetworkLength: Int,
                                   maxFrameLength: Int) throws(FDBasedError) -> (reader: any FrameReader, mode: PacketDispatchMode) {
        let fd = received.fd
        switch options.dispatchMode {
        case .readv:
            return (ReadvReader(fd: fd, maxFrameLength: maxFrameLength, zeroLengthIsEOF: received.zeroLengthIsEOF,
                                auxiliaryData: received.isPacketSocket), .readv)
        case .recvmmsg where !received.isSocket:
            // recvmmsg needs a socket; any other fd (TUN) is read with readv.
            return (ReadvReader(fd: fd, maxFrameLength: maxFrameLength, zeroLengthIsEOF: received.zeroLengthIsEOF,
                                auxiliaryData: false), .readv)
        case .recvmmsg:
            return (RecvmmsgReader(fd: fd, maxFrameLength: maxFrameLength, batchSize: options.recvmmsgBatchSize,
                                   zeroLengthIsEOF: received.zeroLengthIsEOF, auxiliaryData: received.isPacketSocket), .recvmmsg)
        case .packetMMap:
            guard received.isPacketSocket else { throw .packetMMapNeedsPacketSocket(fd: fd) }
            let ring = try system { () throws(PosixError) in
                try MappedPacketRing(fd: fd, version: options.ringVersion, virtioHeaderLength: virtioHeaderLength,
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
    private static func allPacketSockets(_ fds: [Int32]) -> Bool {
        fds.allSatisfy { fd in
            (try? SystemCalls.socketOption(fd, level: SOL_SOCKET, name: SO_DOMAIN, call: "getsockopt(SO_DOMAIN)")) == AF_PACKET
        }
    }

    /// Options every AF_PACKET fd gets before its ring is set up.
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
                let geometry = MappedPacketRing.geometry(version: options.ringVersion, virtioHeaderLength: virtioHeaderLength,
                                                         maxNetworkLength: packetNetworkLength(options),
                                                         ringSize: options.ringSize, blockSize: options.ringBlockSize)
                try MappedPacketRing.configure(fd: fd, version: options.ringVersion, geometry: geometry,
                                               blockTimeoutMilliseconds: options.ringBlockTimeoutMilliseconds)
            }
        }
    }

    /// Receiving super-frames on packet sockets takes the virtio_net_hdr too: it is how the
    /// kernel says what a super-frame is (TCP: one large segment, delivered as such; UDP GSO:
    /// many datagrams, which must not be delivered as one, see FrameDecoder).
    private static func virtioHeaderLength(_ options: Options, receives: Bool) -> Int {
        let superFrameHeader = options.receivesSuperFrames && receives && allPacketSockets(options.fds)
        return options.gsoMaxSize > 0 || superFrameHeader ? VirtioNetHeader.length : 0
    }

    /// The largest network packet a packet socket's reader takes: each skb as the interface
    /// got it, super-frames included.
    private static func packetNetworkLength(_ options: Options) -> Int {
        let maxNetworkLength = max(options.mtu, options.gsoMaxSize)
        return options.receivesSuperFrames ? max(maxNetworkLength, superFrameNetworkLength) : maxNetworkLength
    }

    private static func preparePacketSocket(_ fd: Int32, virtioHeader: Bool) throws(PosixError) {
        if virtioHeader {
            try SystemCalls.setSocketOption(fd, level: SOL_PACKET, name: PACKET_VNET_HDR, value: Int32(1),
                                            call: "setsockopt(PACKET_VNET_HDR)")
        }
        // A NIC does not receive what is sent out of it: without this the socket would also
        // read frames that the host side (or another socket) transmits on the interface.
        // Best effort: kernels before 4.20 lack the option.
        try? SystemCalls.setSocketOption(fd, level: SOL_PACKET, name: PACKET_IGNORE_OUTGOING, value: Int32(1),
                                         call: "setsockopt(PACKET_IGNORE_OUTGOING)")
        // readv/recvmmsg learn through PACKET_AUXDATA that a frame made on this host (a veth
        // peer's CHECKSUM_PARTIAL) carries only a pseudo-header checksum; the ring has it in
        // tp_status. Without it such frames would look corrupt to the stack.
        try SystemCalls.setSocketOption(fd, level: SOL_PACKET, name: PACKET_AUXDATA, value: Int32(1),
                                        call: "setsockopt(PACKET_AUXDATA)")
    }

    /// Puts every AF_PACKET fd in one PACKET_FANOUT_HASH group, so each flow is read by one
    /// fd. Group ids are per network namespace; a taken id is retried with another (bounded).
    private static func joinFanoutGroup(_ fds: [Int32]) throws(PosixError) {
        func join(_ fd: Int32, _ argument: Int32) throws(PosixError) {
            try SystemCalls.setSocketOption(fd, level: SOL_PACKET, name: PACKET_FANOUT, value: argument,
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

    // MARK: LinkEndpoint

    public var isAttached: Bool { dispatcher != nil }

    /// Starts delivering to `dispatcher` (replacing any previous one), or stops with nil.
    /// With `.dispatcherThreads` this starts or joins the receive threads; with `.external`
    /// it only sets where `dispatchAvailable()` delivers.
    public func attach(_ dispatcher: (any NetworkDispatcher)?) {
        stopThreads()
        self.dispatcher = isClosed ? nil : dispatcher
        guard self.dispatcher != nil, options.driver == .dispatcherThreads else { return }
        for index in readers.indices where !readerFinished[index] {
            do {
                threads.append(try DispatchThread { [self] in self.receiveLoop(index) })
            } catch {
                reportClosed(.system(error))
                stopThreads()
                return
            }
        }
    }

    public func writePacket(_ packet: OutboundPacket) throws(LinkError) {
        guard !isClosed else { throw .closed }
        let isGSO = packet.gso.map { $0.kind != .none } ?? false
        if isGSO {
            guard gsoMaxSize > 0 else { counters.add(.sendRejected, 1); throw .notSupported }
            guard packet.length <= gsoMaxSize else { counters.add(.sendRejected, 1); throw .messageTooLong }
        } else if packet.length > mtu {
            counters.add(.sendRejected, 1)
            throw .messageTooLong
        }
        let virtio = virtioHeaderLength
        let link = linkHeaderLength
        let source = linkAddress
        if virtio + link + packet.length >= TransmitQueue.directSendThreshold {
            try writeDirect(packet)
            return
        }
        try transmit.enqueue(length: virtio + link + packet.length) { frame in
            if virtio > 0 {
                VirtioNetHeader.encode(packet.gso, linkHeaderLength: link,
                                       into: UnsafeMutableRawBufferPointer(rebasing: frame[..<virtio]))
            }
            if link > 0 {
                EthernetRepr(destination: packet.remoteLinkAddress, source: source, etherType: packet.protocolNumber)
                    .emit(into: UnsafeMutableRawBufferPointer(rebasing: frame[virtio..<(virtio + link)]))
            }
            var offset = virtio + link
            if packet.header.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: frame[offset...]).copyMemory(from: packet.header)
                offset += packet.header.count
            }
            if packet.payload.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: frame[offset...]).copyMemory(from: packet.payload)
            }
        }
    }

    /// Sends a large packet straight from the caller's buffers: the virtio_net_hdr and link
    /// header come from a small scratch area, header and payload are referenced, not copied.
    private func writeDirect(_ packet: OutboundPacket) throws(LinkError) {
        let virtio = virtioHeaderLength
        let link = linkHeaderLength
        let prefix = UnsafeMutableRawBufferPointer(start: directPrefix, count: virtio + link)
        if virtio > 0 {
            VirtioNetHeader.encode(packet.gso, linkHeaderLength: link, into: UnsafeMutableRawBufferPointer(rebasing: prefix[..<virtio]))
        }
        if link > 0 {
            EthernetRepr(destination: packet.remoteLinkAddress, source: linkAddress, etherType: packet.protocolNumber)
                .emit(into: UnsafeMutableRawBufferPointer(rebasing: prefix[virtio...]))
        }
        try transmit.sendDirect(UnsafeRawBufferPointer(prefix), packet.header, packet.payload)
    }

    public func writePackets(_ packets: UnsafeBufferPointer<OutboundPacket>) -> (written: Int, error: LinkError?) {
        for (index, packet) in packets.enumerated() {
            do { try writePacket(packet) } catch { return (index, error) }
        }
        return (packets.count, nil)
    }

    public func flush() throws(LinkError) {
        guard !isClosed else { throw .closed }
        try transmit.flush()
    }

    /// Sends `frame` as it is (virtio_net_hdr, if the endpoint uses one, and link header
    /// included), after whatever is queued; then flushes.
    public func writeRawFrame(_ frame: UnsafeRawBufferPointer) throws(LinkError) {
        guard !isClosed else { throw .closed }
        guard frame.count > 0, frame.count <= transmit.arenaSize else { throw .messageTooLong }
        try transmit.enqueue(length: frame.count) { $0.copyMemory(from: frame) }
        try transmit.flush()
    }

    // MARK: External driver

    /// What one `dispatchAvailable()` call did.
    public struct DispatchResult: Sendable, Equatable {
        /// Frames read (delivered or counted as dropped).
        public var framesRead: Int
        /// A budget ran out: frames may still be ready (level-triggered polling reports them).
        public var moreAvailable: Bool
        /// An fd reached EOF or failed; `onClosed` was called (once, over the endpoint's life).
        public var closed: Bool

        public init(framesRead: Int, moreAvailable: Bool, closed: Bool) {
            self.framesRead = framesRead
            self.moreAvailable = moreAvailable
            self.closed = closed
        }
    }

    /// External driver: reads every ready frame on every fd without blocking (up to
    /// `Options.dispatchBudget` per fd), delivers it, calls `deliveryBatchEnded()` once per fd
    /// that delivered, and returns. Call it when a `pollableFileDescriptors` fd is readable.
    public func dispatchAvailable() -> DispatchResult {
        var result = DispatchResult(framesRead: 0, moreAvailable: false, closed: false)
        for index in readers.indices {
            let one = dispatchAvailable(readerAt: index)
            result.framesRead += one.framesRead
            result.moreAvailable = result.moreAvailable || one.moreAvailable
            result.closed = result.closed || one.closed
        }
        return result
    }

    /// External driver: like `dispatchAvailable()`, for the fd at `pollableFileDescriptors[index]`.
    public func dispatchAvailable(readerAt index: Int) -> DispatchResult {
        var result = DispatchResult(framesRead: 0, moreAvailable: false, closed: false)
        guard readers.indices.contains(index), !readerFinished[index], let dispatcher else { return result }
        let (outcome, frames) = drain(readers[index], into: dispatcher)
        result.framesRead = frames
        switch outcome {
        case .wouldBlock: break
        case .budgetExhausted: result.moreAvailable = true
        case .closed(let error):
            readerFinished[index] = true
            reportClosed(error)
            result.closed = true
        }
        return result
    }

    // MARK: Statistics and close

    /// The counters, with kernel drops (PACKET_STATISTICS) refreshed now.
    public var statistics: FDBasedStatistics {
        refreshKernelDrops()
        return counters.snapshot
    }

    /// Stops the receive threads, sends what is queued, and unmaps the rings (detaching them
    /// from the fds unless `Options.detachesRingOnClose` is false). The fds stay open (the
    /// caller owns them). Does not call `onClosed`. Idempotent.
    public func close() {
        guard !isClosed else { return }
        stopThreads()
        try? transmit.flush()
        refreshKernelDrops()
        isClosed = true
        dispatcher = nil
        readers = []
        readerFinished = []
    }

    // MARK: Internals

    private func drain(_ reader: any FrameReader, into dispatcher: any NetworkDispatcher) -> (DrainOutcome, Int) {
        var tally = ReceiveTally()
        let outcome = reader.drain(budget: options.dispatchBudget, decoder: decoder, dispatcher: dispatcher, tally: &tally)
        if tally.received > 0 { dispatcher.deliveryBatchEnded() }
        counters.add(tally)
        let frames = tally.received &+ tally.droppedShort &+ tally.droppedOtherAddress &+ tally.droppedBadVirtioHeader
            &+ tally.droppedUnknownProtocol &+ tally.truncated
        return (outcome, Int(frames))
    }

    /// One dispatcher thread: drain, then sleep in poll(2) on the fd and the stop eventfd.
    private func receiveLoop(_ index: Int) {
        guard let dispatcher else { return }
        let reader = readers[index]
        var fds = [pollfd(fd: reader.fd, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: stopEvent, events: Int16(POLLIN), revents: 0)]
        var timeout: Int32 = 0
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, timeout)
            if ready < 0 {
                let error = errno
                if error == EINTR { continue }
                reportClosed(.system(PosixError(call: "poll", errno: error)))
                return
            }
            if fds[1].revents != 0 { return }
            switch drain(reader, into: dispatcher).0 {
            case .wouldBlock: timeout = -1
            case .budgetExhausted: timeout = 0
            case .closed(let error):
                readerFinished[index] = true
                reportClosed(error)
                return
            }
        }
    }

    private func stopThreads() {
        guard !threads.isEmpty else { return }
        SystemCalls.signalEventFD(stopEvent)
        for thread in threads { thread.join() }
        threads = []
        var value: UInt64 = 0
        _ = read(stopEvent, &value, 8)
    }

    private func reportClosed(_ error: LinkError) {
        if cshim_flag_exchange(closedReported, 1) == 0 {
            options.onClosed?(error)
        }
    }

    private func refreshKernelDrops() {
        for fd in packetSocketFDs {
            // struct tpacket_stats_v3 (tpacket_stats is its prefix); reading resets the kernel's count.
            var stats = tpacket_stats_v3()
            var length = socklen_t(MemoryLayout<tpacket_stats_v3>.size)
            if getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &stats, &length) == 0 {
                counters.add(.kernelDropped, UInt64(stats.tp_drops))
            }
        }
    }
}

/// Runs a setup step, turning its system-call failure into FDBasedError.system.
private func system<T>(_ body: () throws(PosixError) -> T) throws(FDBasedError) -> T {
    do { return try body() } catch { throw .system(error) }
}
