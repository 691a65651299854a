import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct TestKitTests {
    func lossyRun(seed: UInt64) throws -> (received: [[UInt8]], dropped: Int, duplicated: Int, reordered: Int) {
        let (a, b) = MemoryLink.pair()
        let lossy = LossyLink(wrapping: a, impairment: .init(loss: 0.2, duplicate: 0.1, reorder: 0.2), seed: seed)
        let left = Stack(), right = Stack()
        let l = left.addNIC(lossy), r = right.addNIC(b)
        left.addAddress(IPv4Subnet(IPv4Address(10, 0, 0, 1), prefixLength: 24), to: l)
        right.addAddress(IPv4Subnet(IPv4Address(10, 0, 0, 2), prefixLength: 24), to: r)
        left.addStaticNeighbour(IPv4Address(10, 0, 0, 2), b.linkAddress, on: l)
        let recorder = UDPRecorder()
        _ = try right.udp.open(localPort: 7, delegate: recorder)
        let socket = try left.udp.open(localPort: 9, delegate: nil)
        for i in 0..<200 {
            try send(socket, [UInt8(i)], to: IPv4Address(10, 0, 0, 2), port: 7)
            if i % 4 == 3 { left.flush() }
        }
        left.flush()
        MemoryLink.pump(a, b)
        return (recorder.datagrams.map(\.payload), lossy.dropped, lossy.duplicated, lossy.reordered)
    }

    @Test func lossyLinkIsDeterministicPerSeed() throws {
        let first = try lossyRun(seed: 1), again = try lossyRun(seed: 1), other = try lossyRun(seed: 2)
        #expect(first.received == again.received)
        #expect(first.received != other.received)
        #expect(first.dropped > 0 && first.duplicated > 0 && first.reordered > 0)
        #expect(first.received.count == 200 - first.dropped + first.duplicated)
        // Reordering shows: the sequence is not sorted.
        #expect(first.received.map { $0[0] } != first.received.map { $0[0] }.sorted())
    }

    @Test func fakeClockRunsTimersInOrder() throws {
        let h = Harness()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        try send(endpoint, [1], to: peerIP, port: 7)
        _ = h.written()
        // The ARP retries at +1 s and +2 s and the failure at +3 s are three timer steps.
        let steps = h.clock.runTimers(upTo: .seconds(10), stacks: h.stack)
        #expect(steps == 3)
        #expect(h.written().count == 2)
        #expect(h.stack.nextDeadline == nil)
    }

    @Test func memoryLinkRefusesWhenFullAndCounts() {
        let link = MemoryLink(linkAddress: stackMAC, capacity: 2)
        let header: [UInt8] = [1, 2, 3]
        header.withUnsafeBytes { bytes in
            let packet = OutboundPacket(protocolNumber: .ipv4, remoteLinkAddress: peerMAC, header: bytes)
            #expect(throws: Never.self) { try link.writePacket(packet) }
            #expect(throws: Never.self) { try link.writePacket(packet) }
            #expect(throws: LinkError.queueFull) { try link.writePacket(packet) }
        }
        #expect(link.writesRefused == 1)
        #expect(link.takeWrittenFrames().map { Array($0.suffix(3)) } == [header, header])
    }
}
