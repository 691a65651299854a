// A link wrapper that loses, duplicates and reorders outbound packets, from a fixed seed, so a
// test of loss recovery is reproducible (this machine's kernel has no netem).

import Link
import Netstack
import Wire

public final class LossyLink: LinkEndpoint {
    public struct Impairment: Sendable {
        /// Probability that a packet is dropped.
        public var loss: Double
        /// Probability that a packet is sent twice.
        public var duplicate: Double
        /// Probability that a packet is held back and sent after the next one (or at the flush).
        public var reorder: Double
        public init(loss: Double = 0, duplicate: Double = 0, reorder: Double = 0) {
            self.loss = loss
            self.duplicate = duplicate
            self.reorder = reorder
        }
    }

    public let inner: any LinkEndpoint
    public var impairment: Impairment
    private var generator: SeededGenerator
    private var held: (packet: OutboundPacket, header: [UInt8], payload: [UInt8])?
    public private(set) var dropped = 0
    public private(set) var duplicated = 0
    public private(set) var reordered = 0

    public init(wrapping inner: any LinkEndpoint, impairment: Impairment, seed: UInt64) {
        self.inner = inner
        self.impairment = impairment
        generator = SeededGenerator(seed: seed)
    }

    public var mtu: Int { inner.mtu }
    public var capabilities: LinkCapabilities { inner.capabilities }
    public var maxHeaderLength: Int { inner.maxHeaderLength }
    public var linkAddress: MACAddress { inner.linkAddress }
    public var gsoMaxSize: Int { inner.gsoMaxSize }
    public var isAttached: Bool { inner.isAttached }
    public func attach(_ dispatcher: (any NetworkDispatcher)?) { inner.attach(dispatcher) }

    private func chance(_ p: Double) -> Bool { p > 0 && Double.random(in: 0..<1, using: &generator) < p }

    public func writePacket(_ packet: OutboundPacket) throws(LinkError) {
        if chance(impairment.loss) {
            dropped += 1
            return
        }
        if held == nil && chance(impairment.reorder) {
            reordered += 1
            held = (packet, Array(packet.header), Array(packet.payload))
            return
        }
        try inner.writePacket(packet)
        if chance(impairment.duplicate) {
            duplicated += 1
            try inner.writePacket(packet)
        }
        try releaseHeld()
    }

    private func releaseHeld() throws(LinkError) {
        guard let held else { return }
        self.held = nil
        let result: LinkError? = held.header.withUnsafeBytes { header in
            held.payload.withUnsafeBytes { payload -> LinkError? in
                var packet = held.packet
                packet.header = header
                packet.payload = payload
                do throws(LinkError) { try inner.writePacket(packet) } catch { return error }
                return nil
            }
        }
        if let result { throw result }
    }

    public func flush() throws(LinkError) {
        try releaseHeld()
        try inner.flush()
    }
}
