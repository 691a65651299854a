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

import CNetShims
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
        try Self.validate(options)
        self.options = options
        mtu = options.mtu
        gsoMaxSize = options.gsoMaxSize
        linkAddress = options.address
        virtioHeaderLength = Self.virtioHeaderLength(options, receives: receives)
        linkHeaderLength = options.ethernetHeader ? EthernetRepr.headerLength : 0
        maxHeaderLength = linkHeaderLength
        capabilities = Self.capabilities(options)
        decoder = FrameDecoder(
            virtioHeaderLength: virtioHeaderLength, ethernetHeader: options.ethernetHeader,
            address: options.address, rxChecksumOffload: options.rxChecksumOffload)
        let setup = try Self.setUpFDs(
            options, receives: receives, virtioHeaderLength: virtioHeaderLength,
            linkHeaderLength: linkHeaderLength)
        readers = setup.readers
        readerFinished = Array(repeating: false, count: setup.readers.count)
        effectiveDispatchModes = setup.modes
        pollableFileDescriptors = setup.readers.map(\.fd)
        packetSocketFDs = setup.packetFDs
        // 4 spare bytes for an 802.1Q tag. (What this endpoint sends; receive sizes are per fd.)
        let maxFrameLength = virtioHeaderLength + linkHeaderLength + 4 + max(options.mtu, options.gsoMaxSize)
        transmit = TransmitQueue(
            fd: options.fds[0], isSocket: setup.firstIsSocket, batchSize: options.txBatchSize,
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
            guard gsoMaxSize > 0 else {
                counters.add(.sendRejected, 1)
                throw .notSupported
            }
            guard packet.length <= gsoMaxSize else {
                counters.add(.sendRejected, 1)
                throw .messageTooLong
            }
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
                VirtioNetHeader.encode(
                    packet.gso, linkHeaderLength: link,
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
            VirtioNetHeader.encode(
                packet.gso, linkHeaderLength: link, into: UnsafeMutableRawBufferPointer(rebasing: prefix[..<virtio]))
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
        let outcome = reader.drain(
            budget: options.dispatchBudget, decoder: decoder, dispatcher: dispatcher, tally: &tally)
        if tally.received > 0 { dispatcher.deliveryBatchEnded() }
        counters.add(tally)
        let frames =
            tally.received &+ tally.droppedShort &+ tally.droppedOtherAddress &+ tally.droppedBadVirtioHeader
            &+ tally.droppedUnknownProtocol &+ tally.truncated
        return (outcome, Int(frames))
    }

    /// One dispatcher thread: drain, then sleep in poll(2) on the fd and the stop eventfd.
    private func receiveLoop(_ index: Int) {
        guard let dispatcher else { return }
        let reader = readers[index]
        var fds = [
            pollfd(fd: reader.fd, events: Int16(POLLIN), revents: 0),
            pollfd(fd: stopEvent, events: Int16(POLLIN), revents: 0)
        ]
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
            options.onClosed?(options.disconnectOK && error.isDisconnect ? nil : error)
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
