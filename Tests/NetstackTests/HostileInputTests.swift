import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct HostileInputTests {
    @Test func fragmentFloodStaysWithinTheCaps() throws {
        var configuration = Stack.Configuration()
        configuration.reassembly.maxDatagrams = 16
        configuration.reassembly.maxHeldBytes = 256 * 1024
        let h = Harness(configuration: configuration)
        h.learnPeer()
        _ = try h.stack.udp.open(localPort: 7, delegate: UDPRecorder())
        var generator = SeededGenerator(seed: 42)
        for _ in 0..<20_000 {
            let id = UInt16.random(in: 0...2000, using: &generator)
            let offset = Int.random(in: 0...8000, using: &generator) & ~7
            let length = (Int.random(in: 1...180, using: &generator)) * 8
            let source = IPv4Address(rawValue: 0x0A00_0200 | UInt32.random(in: 3...250, using: &generator))
            h.receiveIPv4(
                FrameBuilder.ipv4(
                    source: source, destination: stackIP, protocolNumber: .udp, payload: bytes(length),
                    identification: id, moreFragments: Bool.random(using: &generator), fragmentOffset: offset))
            if Int.random(in: 0..<500, using: &generator) == 0 { h.advance(by: .seconds(5)) }
        }
        let stats = h.stack.reassemblyStatistics
        #expect(stats.peakDatagramsInProgress <= 16)
        #expect(stats.peakHeldBytes <= 256 * 1024)
        #expect(stats.reservedBytes <= configuration.reassembly.memoryBound)
        #expect(stats.evicted > 0)
        // And the caps were what stopped it: counters say so.
        let c = h.counters
        #expect(c[drop: .fragmentOverlap] + c[drop: .fragmentOfDiscardedDatagram] + c[drop: .fragmentMalformed] > 0)
        // Everything in flight expires.
        h.advance(by: .seconds(31))
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(h.stack.reassemblyStatistics.heldBytes == 0)
    }

    @Test func randomFramesNeitherTrapNorGrowState() {
        let h = Harness.gateway(hook: RecordingHook(verdict: .drop))
        h.learnPeer()
        var generator = SeededGenerator(seed: 7)
        let etherTypes: [EtherType] = [.ipv4, .arp, .ipv6, EtherType(rawValue: 0x1234)]
        for round in 0..<30_000 {
            let length = Int.random(in: 0...200, using: &generator)
            var body = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Half the IPv4 bodies get a plausible header so they reach the deeper parsers.
            let etherType = etherTypes[round % etherTypes.count]
            if etherType == .ipv4 && round % 8 == 0 && length >= 20 {
                body[0] = 0x45
                body[2] = UInt8(length >> 8)
                body[3] = UInt8(length & 0xFF)
                body[10] = 0
                body[11] = 0
                let sum = body.withUnsafeBytes {
                    InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<20]))
                }
                body[10] = UInt8(sum >> 8)
                body[11] = UInt8(sum & 0xFF)
            }
            h.receive(
                FrameBuilder.ethernet(
                    destination: round % 3 == 0 ? .broadcast : stackMAC, source: peerMAC,
                    etherType: etherType, payload: body))
            if round % 1000 == 0 { _ = h.link.takeWrittenFrames() }
        }
        let c = h.counters
        #expect(c.rxFrames == 30_000)
        #expect(c.totalDrops > 0)
        let configuration = ReassemblyConfiguration()
        #expect(h.stack.reassemblyStatistics.peakDatagramsInProgress <= configuration.maxDatagrams)
        #expect(h.stack.neighbourEntries(of: h.nic).count <= NeighbourConfiguration().capacity)
        #expect(h.stack.udp.endpointCount == 0)
    }

    @Test func arpFloodCannotGrowTheNeighbourTable() {
        var configuration = Stack.Configuration()
        configuration.neighbour.capacity = 8
        let h = Harness(configuration: configuration)
        for i in 0..<1000 {
            let mac = MACAddress(rawValue: 0x0200_0000_0000 | UInt64(i))
            h.receive(
                FrameBuilder.arp(
                    ARPRepr(
                        operation: .request, senderHardwareAddress: mac,
                        senderProtocolAddress: IPv4Address(rawValue: 0x0A00_0000 | UInt32(i + 10)),
                        targetHardwareAddress: .zero, targetProtocolAddress: stackIP), destination: .broadcast))
        }
        #expect(h.stack.neighbourEntries(of: h.nic).count == 8)
    }
}
