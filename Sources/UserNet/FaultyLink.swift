// The app's link as `LinkFaults` makes it: a link endpoint between the stack's NIC and the
// veth's (after the pcap, so a capture shows what crossed the veth), which loses, duplicates,
// delays, rate-limits and reorders frames in both directions. It is in the path only when a
// fault is asked for (or may be, in a detached sandbox: then, without faults, it passes
// frames straight on). A held frame is copied (the ring's and the stack's buffers are borrowed
// for the call only) into a buffer of its own, freed when it goes; each direction holds at
// most `maximumHeldFrames` frames and `maximumHeldBytes` bytes (netem's limit is 1000 frames),
// and what found it full is dropped and counted.

import HeapModule
import Link
import Netstack
import Wire

public struct LinkFaultCounters: Sendable, Equatable {
    /// Frames the faults were applied to, both directions (what `lost` and the rest are out of).
    public var judged: UInt64 = 0
    public var lost: UInt64 = 0
    public var duplicated: UInt64 = 0
    public var reordered: UInt64 = 0
    public var delayed: UInt64 = 0
    /// Dropped because the direction already held its most.
    public var queueFull: UInt64 = 0

    /// Adds another link's counters (a network's switch sums its members' links).
    mutating func add(_ other: LinkFaultCounters) {
        judged &+= other.judged
        lost &+= other.lost
        duplicated &+= other.duplicated
        reordered &+= other.reordered
        delayed &+= other.delayed
        queueFull &+= other.queueFull
    }
}

final class FaultyLink: WrappingLink, NetworkDispatcher {
    static let maximumHeldFrames = 1000
    static let maximumHeldBytes = 16 << 20

    /// A frame waiting for its time: the bytes, and how to hand them on.
    struct Held: Comparable {
        enum Kind {
            case toStack(EtherType, linkHeaderLength: Int, gso: GSOInfo?, checksumVerified: Bool)
            case toWire(EtherType, MACAddress, headerLength: Int, gso: GSOInfo?)
        }
        var due: UInt64
        var order: UInt64
        var bytes: UnsafeMutableRawBufferPointer
        var kind: Kind

        static func < (a: Held, b: Held) -> Bool { (a.due, a.order) < (b.due, b.order) }
        static func == (a: Held, b: Held) -> Bool { a.due == b.due && a.order == b.order }
    }

    /// One direction's serialisation (`--net-rate`) and what it holds.
    struct Direction {
        var linkFreeAt: UInt64 = 0
        var heldFrames = 0
        var heldBytes = 0
    }

    let inner: any LinkEndpoint
    var faults: LinkFaults
    private(set) var counters = LinkFaultCounters()
    private let loop: EventLoop
    private var upper: (any NetworkDispatcher)?
    private var generator: SeededGenerator
    private var held = Heap<Held>()
    private var toStack = Direction()
    private var toWire = Direction()
    private var order: UInt64 = 0
    private var timer: (id: TimerID, deadline: UInt64)?

    init(wrapping inner: any LinkEndpoint, faults: LinkFaults, loop: EventLoop) {
        self.inner = inner
        self.faults = faults
        self.loop = loop
        generator = SeededGenerator(seed: faults.seed)
    }

    deinit {
        while let frame = held.popMin() { frame.bytes.deallocate() }
        if let timer { loop.cancelTimer(timer.id) }
    }

    var isAttached: Bool { upper != nil }

    func attach(_ dispatcher: (any NetworkDispatcher)?) {
        upper = dispatcher
        inner.attach(dispatcher == nil ? nil : self)
    }

    // MARK: from the app (the veth) to the stack

    func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket) {
        guard !faults.isEmpty else { return upper?.deliverNetworkPacket(protocolNumber, packet) ?? () }
        let length = packet.linkHeader.count + packet.network.count
        for _ in 0..<copies() {
            guard let due = schedule(length, &toStack) else {
                upper?.deliverNetworkPacket(protocolNumber, packet)
                continue
            }
            let kind = Held.Kind.toStack(
                protocolNumber, linkHeaderLength: packet.linkHeader.count, gso: packet.gso,
                checksumVerified: packet.checksumVerified)
            hold(due, kind, packet.linkHeader, packet.network, in: &toStack)
        }
    }

    func deliveryBatchEnded() { upper?.deliveryBatchEnded() }

    // MARK: from the stack to the app

    func writePacket(_ packet: OutboundPacket) throws(LinkError) {
        guard !faults.isEmpty else { return try inner.writePacket(packet) }
        for _ in 0..<copies() {
            guard let due = schedule(packet.length, &toWire) else {
                try inner.writePacket(packet)
                continue
            }
            let kind = Held.Kind.toWire(
                packet.protocolNumber, packet.remoteLinkAddress, headerLength: packet.header.count, gso: packet.gso)
            hold(due, kind, packet.header, packet.payload, in: &toWire)
        }
    }

    func flush() throws(LinkError) { try inner.flush() }

    // MARK: the faults

    /// 0 (lost), 1, or 2 (duplicated).
    private func copies() -> Int {
        counters.judged &+= 1
        if faults.loss > 0, roll() < faults.loss {
            counters.lost &+= 1
            return 0
        }
        if faults.duplicate > 0, roll() < faults.duplicate {
            counters.duplicated &+= 1
            return 2
        }
        return 1
    }

    /// When a frame of `length` bytes may go (nil: now): after the frames before it at the
    /// rate, then the delay, give or take the jitter, unless it is one of those reordered.
    private func schedule(_ length: Int, _ direction: inout Direction) -> UInt64? {
        let now = EventLoop.now()
        var due = now
        if let rate = faults.rateBitsPerSecond {
            let start = max(now, direction.linkFreeAt)
            direction.linkFreeAt = start &+ UInt64(length) &* 8_000_000_000 / rate
            due = direction.linkFreeAt
        }
        if faults.reorder > 0, roll() < faults.reorder {
            counters.reordered &+= 1
        } else if faults.delayNanoseconds > 0 {
            var delay = faults.delayNanoseconds
            if faults.jitterNanoseconds > 0 {
                let spread = faults.jitterNanoseconds
                delay = delay - spread + UInt64.random(in: 0...(2 * spread), using: &generator)
            }
            due &+= delay
        }
        return due > now ? due : nil
    }

    private func roll() -> Double { Double.random(in: 0..<1, using: &generator) }

    /// Copies the frame (its two parts back to back) and holds it until `due`.
    private func hold(
        _ due: UInt64, _ kind: Held.Kind, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer,
        in direction: inout Direction
    ) {
        let length = first.count + second.count
        guard direction.heldFrames < Self.maximumHeldFrames, direction.heldBytes + length <= Self.maximumHeldBytes
        else {
            counters.queueFull &+= 1
            return
        }
        let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 16)
        if first.count > 0 { UnsafeMutableRawBufferPointer(rebasing: bytes[0..<first.count]).copyMemory(from: first) }
        if second.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: bytes[first.count..<length]).copyMemory(from: second)
        }
        order &+= 1
        held.insert(
            Held(due: due, order: order, bytes: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<length]), kind: kind))
        direction.heldFrames += 1
        direction.heldBytes += length
        counters.delayed &+= 1
        armTimer()
    }

    /// One timer, for the earliest frame held.
    private func armTimer() {
        guard let next = held.min?.due else { return }
        if let timer {
            guard next < timer.deadline else { return }
            loop.cancelTimer(timer.id)
        }
        guard let id = try? loop.scheduleTimer(at: next, { [unowned self] in self.release() }) else {
            timer = nil
            return
        }
        timer = (id, next)
    }

    /// Hands on every frame whose time has come, in order.
    private func release() {
        timer = nil
        let now = EventLoop.now()
        var wrote = false
        var delivered = false
        while let frame = held.min, frame.due <= now {
            _ = held.popMin()
            let length = frame.bytes.count
            switch frame.kind {
            case .toStack(let protocolNumber, let linkHeaderLength, let gso, let verified):
                toStack.heldFrames -= 1
                toStack.heldBytes -= length
                let packet = InboundPacket(
                    linkHeader: UnsafeRawBufferPointer(rebasing: frame.bytes[0..<linkHeaderLength]),
                    network: UnsafeRawBufferPointer(rebasing: frame.bytes[linkHeaderLength...]), gso: gso,
                    checksumVerified: verified)
                upper?.deliverNetworkPacket(protocolNumber, packet)
                delivered = true
            case .toWire(let protocolNumber, let destination, let headerLength, let gso):
                toWire.heldFrames -= 1
                toWire.heldBytes -= length
                let packet = OutboundPacket(
                    protocolNumber: protocolNumber, remoteLinkAddress: destination,
                    header: UnsafeRawBufferPointer(rebasing: frame.bytes[0..<headerLength]),
                    payload: UnsafeRawBufferPointer(rebasing: frame.bytes[headerLength...]), gso: gso)
                // A full TX queue drops it, as the link would: the endpoint counts it.
                try? inner.writePacket(packet)
                wrote = true
            }
            frame.bytes.deallocate()
        }
        if delivered { upper?.deliveryBatchEnded() }
        if wrote { try? inner.flush() }
        armTimer()
    }
}
