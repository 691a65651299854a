// An in-memory Ethernet link endpoint for tests and benchmarks. What the attached stack writes
// is framed (Ethernet header) into a ring of preallocated slots, so writing allocates nothing;
// the frames are then delivered to a peer link (`deliverToPeer`), or taken out by a test
// (`takeWrittenFrames`), and a test can hand any bytes in with `receive(frame:)`.

import Link
import Netstack
import Wire

public final class MemoryLink: LinkEndpoint {
    public let mtu: Int
    public let capabilities: LinkCapabilities
    public let maxHeaderLength = EthernetRepr.headerLength
    public let linkAddress: MACAddress
    public let gsoMaxSize: Int
    public private(set) var dispatcher: (any NetworkDispatcher)?
    /// The other end, for `deliverToPeer` (not retained).
    public weak var peer: MemoryLink?

    /// Frames the outbox could not take.
    public private(set) var writesRefused: UInt64 = 0
    public private(set) var framesWritten: UInt64 = 0
    public private(set) var flushes: UInt64 = 0

    private let slotSize: Int
    private let slots: UnsafeMutableRawBufferPointer
    private var lengths: [Int]
    private var head = 0
    private var queued = 0

    /// `capacity` frames fit in the outbox; each up to the MTU (or `gsoMaxSize`) plus a header.
    public init(
        linkAddress: MACAddress, mtu: Int = 1500, capabilities: LinkCapabilities = [.resolutionRequired],
        gsoMaxSize: Int = 0, capacity: Int = 256
    ) {
        self.linkAddress = linkAddress
        self.mtu = mtu
        self.capabilities = capabilities
        self.gsoMaxSize = gsoMaxSize
        slotSize = max(mtu, gsoMaxSize) + EthernetRepr.headerLength
        slots = .allocate(byteCount: slotSize * max(1, capacity), alignment: 16)
        lengths = Array(repeating: 0, count: max(1, capacity))
    }

    deinit { slots.deallocate() }

    /// A connected pair.
    public static func pair(
        mtu: Int = 1500, capacity: Int = 256,
        addresses: (MACAddress, MACAddress) = (MACAddress(0x02, 0, 0, 0, 0, 1), MACAddress(0x02, 0, 0, 0, 0, 2))
    )
        -> (MemoryLink, MemoryLink)
    {
        let a = MemoryLink(linkAddress: addresses.0, mtu: mtu, capacity: capacity)
        let b = MemoryLink(linkAddress: addresses.1, mtu: mtu, capacity: capacity)
        a.peer = b
        b.peer = a
        return (a, b)
    }

    public var isAttached: Bool { dispatcher != nil }
    public func attach(_ dispatcher: (any NetworkDispatcher)?) { self.dispatcher = dispatcher }

    public var queuedFrameCount: Int { queued }

    public func writePacket(_ packet: OutboundPacket) throws(LinkError) {
        let length = EthernetRepr.headerLength + packet.length
        guard length <= slotSize, packet.gso != nil || packet.length <= mtu else { throw .messageTooLong }
        guard queued < lengths.count else {
            writesRefused &+= 1
            throw .queueFull
        }
        let index = (head + queued) % lengths.count
        let slot = UnsafeMutableRawBufferPointer(rebasing: slots[(index * slotSize)..<(index * slotSize + length)])
        EthernetRepr(destination: packet.remoteLinkAddress, source: linkAddress, etherType: packet.protocolNumber)
            .emit(into: slot)
        var offset = EthernetRepr.headerLength
        if packet.header.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: slot[offset..<(offset + packet.header.count)]).copyMemory(
                from: packet.header)
            offset += packet.header.count
        }
        if packet.payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: slot[offset..<(offset + packet.payload.count)]).copyMemory(
                from: packet.payload)
        }
        lengths[index] = length
        queued += 1
        framesWritten &+= 1
    }

    public func flush() throws(LinkError) { flushes &+= 1 }

    /// Hands one Ethernet frame to the attached stack, as a real endpoint would (with `gso`, as
    /// a super-frame).
    public func receive(frame: UnsafeRawBufferPointer, checksumVerified: Bool = false, gso: GSOInfo? = nil) {
        guard let dispatcher, let ethernet = try? EthernetFrame(frame) else { return }
        dispatcher.deliverNetworkPacket(
            ethernet.etherType,
            InboundPacket(
                linkHeader: UnsafeRawBufferPointer(rebasing: frame[0..<ethernet.headerLength]),
                network: ethernet.payload, gso: gso, checksumVerified: checksumVerified))
    }

    public func receive(frame: [UInt8], gso: GSOInfo? = nil) {
        frame.withUnsafeBytes { receive(frame: $0, gso: gso) }
    }

    /// Delivers what was written so far to the peer, then tells the peer's stack the batch
    /// ended. Returns the number of frames delivered.
    @discardableResult
    public func deliverToPeer() -> Int {
        guard let peer else { return 0 }
        let count = queued
        for _ in 0..<count {
            let index = head
            peer.receive(
                frame: UnsafeRawBufferPointer(rebasing: slots[(index * slotSize)..<(index * slotSize + lengths[index])])
            )
            head = (head + 1) % lengths.count
            queued -= 1
        }
        if count > 0 { peer.dispatcher?.deliveryBatchEnded() }
        return count
    }

    /// Copies out and forgets the frames written so far (tests).
    public func takeWrittenFrames() -> [[UInt8]] {
        var frames: [[UInt8]] = []
        while queued > 0 {
            frames.append(
                Array(UnsafeRawBufferPointer(rebasing: slots[(head * slotSize)..<(head * slotSize + lengths[head])])))
            head = (head + 1) % lengths.count
            queued -= 1
        }
        return frames
    }

    /// Moves frames both ways until both outboxes stay empty (or `maxRounds` is reached);
    /// returns the frames moved.
    @discardableResult
    public static func pump(_ a: MemoryLink, _ b: MemoryLink, maxRounds: Int = 1000) -> Int {
        var moved = 0
        for _ in 0..<maxRounds {
            let round = a.deliverToPeer() + b.deliverToPeer()
            moved += round
            if round == 0 { break }
        }
        return moved
    }
}
