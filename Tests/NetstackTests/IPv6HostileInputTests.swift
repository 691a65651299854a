import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct IPv6HostileInputTests {
    @Test func fragmentFloodOfBothFamiliesStaysWithinTheSharedCaps() throws {
        var configuration = Stack.Configuration()
        configuration.reassembly.maxDatagrams = 16
        configuration.reassembly.maxHeldBytes = 256 * 1024
        let h = Harness6(configuration: configuration)
        h.learnPeer()
        h.h.learnPeer()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: UDPRecorder())
        defer { endpoint.close() }
        var generator = SeededGenerator(seed: 61)
        for round in 0..<20_000 {
            let offset = Int.random(in: 0...8000, using: &generator) & ~7
            let length = Int.random(in: 1...180, using: &generator) * 8
            let more = Bool.random(using: &generator)
            if round % 2 == 0 {
                let source = IPv6Address(high: peerIP6.high, low: UInt64.random(in: 3...250, using: &generator))
                h.receive(
                    FrameBuilder.ipv6(
                        source: source, destination: stackIP6, nextHeader: .fragment,
                        payload: FrameBuilder.ipv6Fragment(
                            nextHeader: .udp, offset: offset, more: more,
                            identification: UInt32.random(in: 0...2000, using: &generator),
                            data: bytes(length))))
            } else {
                h.h.receiveIPv4(
                    FrameBuilder.ipv4(
                        source: peerIP, destination: stackIP, protocolNumber: .udp, payload: bytes(length),
                        identification: UInt16.random(in: 0...2000, using: &generator),
                        moreFragments: more, fragmentOffset: offset))
            }
            if round % 500 == 0 {
                h.advance(by: .seconds(5))
                _ = h.h.link.takeWrittenFrames()
            }
        }
        let stats = h.stack.reassemblyStatistics
        #expect(stats.peakDatagramsInProgress <= 16)
        #expect(stats.peakHeldBytes <= 256 * 1024)
        #expect(stats.reservedBytes <= configuration.reassembly.memoryBound)
        #expect(stats.evicted > 0)
        // IPv6 datagrams live 60 s, IPv4 ones 30 s: after 61 s nothing is left.
        h.advance(by: .seconds(61))
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(h.stack.reassemblyStatistics.heldBytes == 0)
    }

    @Test func randomIPv6PacketsNeitherTrapNorGrowState() {
        let h = Harness6.gateway(hook: RecordingHook(verdict: .drop))
        h.learnPeer()
        var generator = SeededGenerator(seed: 17)
        let nextHeaders: [IPProtocol] = [
            .hopByHop, .routing, .fragment, .destinationOptions, .icmpv6, .udp, .tcp, .noNextHeader,
            IPProtocol(rawValue: 200)
        ]
        let destinations = [
            stackIP6, stackLinkLocal, remoteIP6, .allNodes, stackIP6.solicitedNodeMulticast, v6("fe80::1")
        ]
        for round in 0..<30_000 {
            var body = (0..<Int.random(in: 0...160, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            let nextHeader = nextHeaders[round % nextHeaders.count]
            if nextHeader == .icmpv6 && body.count >= 4 && round % 4 == 0 {
                // A plausible ND message type so the option parser and NDP paths get exercised
                // (the checksum is then fixed below by the builder).
                body[0] = UInt8.random(in: 133...136, using: &generator)
                body[1] = 0
                let repr = ICMPv6Repr.other(type: body[0], code: 0)
                body = FrameBuilder.icmpv6(
                    repr, data: Array(body[4...]), source: peerIP6,
                    destination: destinations[round % destinations.count])
            }
            h.receive(
                FrameBuilder.ipv6(
                    source: round % 7 == 0 ? .any : peerIP6, destination: destinations[round % destinations.count],
                    nextHeader: nextHeader, payload: body, hopLimit: round % 2 == 0 ? 255 : 1))
            // Random bytes behind the IPv6 EtherType too.
            let raw = (0..<Int.random(in: 0...80, using: &generator)).map { _ in
                UInt8.random(in: 0...255, using: &generator)
            }
            h.receive(raw)
            if round % 1000 == 0 { _ = h.h.link.takeWrittenFrames() }
        }
        let c = h.counters
        #expect(c.rxFrames == 60_000)
        #expect(c.totalDrops > 0)
        #expect(h.stack.reassemblyStatistics.peakDatagramsInProgress <= ReassemblyConfiguration().maxDatagrams)
        #expect(h.stack.neighbourEntries(of: h.nic).count <= NeighbourConfiguration().capacity)
        #expect(h.stack.udp.endpointCount == 0)
    }

    @Test func solicitationFloodCannotGrowTheNeighbourTable() {
        var configuration = Stack.Configuration()
        configuration.neighbour.capacity = 8
        let h = Harness6(configuration: configuration)
        for i in 0..<1000 {
            let source = IPv6Address(high: peerIP6.high, low: 0x1000 + UInt64(i))
            let mac = MACAddress(rawValue: 0x0200_0000_0000 | UInt64(i))
            h.receiveICMPv6(
                .ndp(.neighborSolicitation(NDPNeighborSolicitation(target: stackIP6, sourceLinkAddress: mac))),
                from: source, to: stackIP6.solicitedNodeMulticast, hopLimit: 255,
                destinationMAC: stackIP6.solicitedNodeMulticast.multicastMAC)
        }
        #expect(h.stack.neighbourEntries(of: h.nic).count == 8)
    }
}
