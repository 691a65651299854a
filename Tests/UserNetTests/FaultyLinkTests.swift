// The link faults as the engine applies them, without root: a GatewayEngine over an in-memory
// link, pinged at its own address (which it answers itself). Loss is decided per frame from the
// seed, so a seed repeats its losses exactly; a direction holds at most 1000 frames.

import Netstack
import NetstackTesting
import Testing
import UserNet
import Wire

@Suite struct FaultyLinkTests {
    static let appMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)

    /// The echo sequence numbers answered out of `count` pings sent at once, and the counters.
    func pings(_ faults: LinkFaults, count: Int = 200) throws -> (answered: [UInt16], counters: LinkFaultCounters) {
        let loop = try EventLoop()
        let link = MemoryLink(linkAddress: MACAddress(0x02, 0, 0, 0, 0, 0x01), capacity: 4096)
        var options = try UserNetOptions(mtu: 1500)
        options.linkFaults = faults
        let network = options.network
        let engine = try GatewayEngine(loop: loop, options: options, link: link, dnsUpstreams: [])
        defer { engine.shutDown() }
        let announce = ARPRepr(
            operation: .request, senderHardwareAddress: Self.appMAC, senderProtocolAddress: network.appV4,
            targetHardwareAddress: MACAddress(0, 0, 0, 0, 0, 0), targetProtocolAddress: network.gatewayV4)
        // The gateway learns the app's MAC from this one; with loss it may be lost, so it is
        // sent until a reply shows the gateway knows the app.
        for _ in 0..<64 { link.receive(frame: FrameBuilder.arp(announce, destination: .broadcast)) }
        engine.endOfRound()
        _ = link.takeWrittenFrames()
        for sequence in 0..<UInt16(count) {
            let echo = FrameBuilder.icmp(.echoRequest(identifier: 9, sequence: sequence), data: [1, 2, 3])
            let packet = FrameBuilder.ipv4(
                source: network.appV4, destination: network.gatewayV4, protocolNumber: .icmp, payload: echo)
            link.receive(
                frame: FrameBuilder.ethernet(
                    destination: link.linkAddress, source: Self.appMAC, etherType: .ipv4, payload: packet))
        }
        engine.endOfRound()
        let answered = link.takeWrittenFrames().compactMap { frame -> UInt16? in
            // Ethernet (14) + IPv4 (20): the echo reply's type is 0, its sequence at bytes 6-7.
            guard frame.count >= 42, frame[12] == 0x08, frame[13] == 0x00, frame[34] == 0 else { return nil }
            return UInt16(frame[40]) << 8 | UInt16(frame[41])
        }
        return (answered, engine.snapshot.linkFaults)
    }

    @Test func withoutFaultsEveryPingIsAnswered() throws {
        #expect(try pings(LinkFaults(), count: 50).answered == Array(0..<50))
    }

    @Test func aSeedRepeatsItsLossesAndAnotherSeedDiffers() throws {
        let first = try pings(LinkFaults(loss: "30%", seed: "7"))
        let again = try pings(LinkFaults(loss: "30%", seed: "7"))
        let other = try pings(LinkFaults(loss: "30%", seed: "8"))
        #expect(first.answered == again.answered, "the same seed, the same frames lost")
        #expect(first.answered != other.answered)
        // Each way 30%: about half the pings come back (0.7 * 0.7), never all, never none.
        #expect(first.answered.count > 60 && first.answered.count < 140)
        #expect(first.counters.lost > 0 && first.counters.lost == again.counters.lost)
        // Judged: the 64 ARP announcements and the 200 requests, and the answers to those that
        // got through.
        let judged = first.counters.judged
        #expect(judged >= 264 + UInt64(first.answered.count) && judged < 528)
        #expect(abs(Double(first.counters.lost) / Double(judged) - 0.3) < 0.07, "30% of what crossed, lost")
    }

    @Test func duplicationAnswersSomePingsTwice() throws {
        let result = try pings(LinkFaults(duplicate: "20%", seed: "3"))
        #expect(result.answered.count > 200 && Set(result.answered).count == 200)
        #expect(result.counters.duplicated > 0)
    }

    @Test func aDirectionHoldsAtMost1000FramesAndCountsTheRest() throws {
        let result = try pings(LinkFaults(delay: "10s"), count: 1500)
        #expect(result.answered.isEmpty, "nothing is due for 10 s")
        // 64 ARP announcements and 1500 pings toward the stack: 1000 held, the rest dropped
        // (and the gateway's own first frames toward the app, its router advertisement, held).
        #expect(result.counters.queueFull == 64 + 1500 - 1000)
        #expect(result.counters.delayed >= 1000 && result.counters.delayed < 1010)
    }
}
