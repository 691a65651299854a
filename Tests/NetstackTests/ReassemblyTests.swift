import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct ReassemblyTests {
    /// A UDP datagram to port 7 from the peer, cut into `chunk`-byte fragments.
    func fragments(payloadSize: Int, chunk: Int, id: UInt16 = 77) -> [[UInt8]] {
        let udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 4000, destination: stackIP, destinationPort: 7, payload: bytes(payloadSize))
        return FrameBuilder.fragments(of: udp, chunk: chunk).map { fragment in
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .udp, payload: fragment.bytes, identification: id,
                moreFragments: fragment.more, fragmentOffset: fragment.offset)
        }
    }

    func permutations<T>(_ items: [T]) -> [[T]] {
        guard items.count > 1 else { return [items] }
        return items.indices.flatMap { i -> [[T]] in
            var rest = items
            let head = rest.remove(at: i)
            return permutations(rest).map { [head] + $0 }
        }
    }

    func harnessWithListener() throws -> (Harness, UDPRecorder, UDPEndpoint) {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        return (h, recorder, endpoint)
    }

    @Test func everyOrderOfFourFragmentsReassembles() throws {
        let (h, recorder, endpoint) = try harnessWithListener()
        let parts = fragments(payloadSize: 100, chunk: 32)
        #expect(parts.count == 4)
        let orders = permutations(Array(parts.indices))
        #expect(orders.count == 24)
        for (n, order) in orders.enumerated() {
            // A fresh identification per run, so each order is its own datagram.
            let run = fragments(payloadSize: 100, chunk: 32, id: UInt16(1000 + n))
            for index in order { h.receiveIPv4(run[index]) }
        }
        #expect(recorder.datagrams.count == 24)
        #expect(recorder.datagrams.allSatisfy { $0.payload == bytes(100) })
        #expect(h.stack.reassemblyStatistics.completed == 24)
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(h.stack.reassemblyStatistics.heldBytes == 0)
        _ = endpoint
    }

    @Test func exactDuplicatesAreDroppedAlone() throws {
        let (h, recorder, _) = try harnessWithListener()
        let parts = fragments(payloadSize: 100, chunk: 32)
        for index in [0, 0, 2, 1, 2, 3] { h.receiveIPv4(parts[index]) }
        #expect(recorder.datagrams.map(\.payload) == [bytes(100)])
        #expect(h.stack.reassemblyStatistics.duplicates == 2)
        #expect(h.counters[drop: .fragmentDuplicate] == 2)
    }

    @Test func overlapDiscardsTheDatagramAndItsLaterFragments() throws {
        let (h, recorder, _) = try harnessWithListener()
        let parts = fragments(payloadSize: 100, chunk: 32)
        let udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 4000, destination: stackIP, destinationPort: 7, payload: bytes(100))
        // 16 bytes at offset 24: overlaps fragment 0 (0..<32) and fragment 1 (32..<64).
        let overlapping = FrameBuilder.ipv4(
            source: peerIP, destination: stackIP, protocolNumber: .udp,
            payload: Array(udp[24..<40]), identification: 77, moreFragments: true, fragmentOffset: 24)
        h.receiveIPv4(parts[0])
        h.receiveIPv4(overlapping)
        for index in 1..<parts.count { h.receiveIPv4(parts[index]) }
        #expect(recorder.datagrams.isEmpty)
        #expect(h.stack.reassemblyStatistics.overlaps == 1)
        #expect(h.counters[drop: .fragmentOverlap] == 1)
        #expect(h.counters[drop: .fragmentOfDiscardedDatagram] == 3)
        #expect(h.stack.reassemblyStatistics.heldBytes == 0)
    }

    @Test func partialDatagramTimesOutAfterThirtySecondsWithTimeExceeded() throws {
        let (h, recorder, _) = try harnessWithListener()
        let parts = fragments(payloadSize: 100, chunk: 32)
        h.receiveIPv4(parts[0])
        h.receiveIPv4(parts[2])
        h.advance(by: .seconds(29))
        #expect(h.written().isEmpty)
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 1)
        h.advance(by: .seconds(1))
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(h.stack.reassemblyStatistics.timedOut == 1)
        #expect(h.counters[drop: .fragmentTimeout] == 1)
        // RFC 1122 3.3.2: Time Exceeded, code 1, quoting fragment zero.
        let icmp = h.written().compactMap(\.icmp)
        #expect(icmp.map(\.repr) == [.timeExceeded(code: 1)])
        #expect(icmp.first.map { Array($0.data.prefix(28)) } == Array(parts[0].prefix(28)))
        // The late fragments start over and do not complete anything.
        h.receiveIPv4(parts[1])
        h.receiveIPv4(parts[3])
        #expect(recorder.datagrams.isEmpty)
    }

    @Test func timeoutWithoutFragmentZeroSendsNothing() throws {
        let (h, _, _) = try harnessWithListener()
        let parts = fragments(payloadSize: 100, chunk: 32)
        h.receiveIPv4(parts[3])
        h.advance(by: .seconds(31))
        #expect(h.written().isEmpty)
        #expect(h.stack.reassemblyStatistics.timedOut == 1)
    }

    @Test func datagramBeyond65535BytesIsRefused() throws {
        let (h, recorder, _) = try harnessWithListener()
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .udp, payload: bytes(64),
                identification: 9, moreFragments: false, fragmentOffset: 65_480))
        #expect(recorder.datagrams.isEmpty)
        #expect(h.counters[drop: .fragmentTooLarge] + h.counters[drop: .ipv4Malformed] == 1)
    }

    @Test func nonFinalFragmentNotMultipleOfEightIsMalformed() throws {
        let (h, _, _) = try harnessWithListener()
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .udp, payload: bytes(30),
                identification: 9, moreFragments: true, fragmentOffset: 0))
        #expect(h.counters[drop: .fragmentMalformed] == 1)
    }

    @Test func perDatagramFragmentCapDropsTheDatagram() throws {
        var configuration = Stack.Configuration()
        configuration.reassembly.maxFragmentsPerDatagram = 8
        let h = Harness(configuration: configuration)
        h.learnPeer()
        let recorder = UDPRecorder()
        _ = try h.stack.udp.open(localPort: 7, delegate: recorder)
        let parts = fragments(payloadSize: 200, chunk: 16) // 13 fragments
        for part in parts { h.receiveIPv4(part) }
        #expect(recorder.datagrams.isEmpty)
        #expect(h.stack.reassemblyStatistics.rejectedTooManyFragments == 1)
        #expect(h.counters[drop: .fragmentPerDatagramCap] == 1)
    }

    @Test func datagramsInProgressAreCappedOldestEvicted() throws {
        var configuration = Stack.Configuration()
        configuration.reassembly.maxDatagrams = 4
        let h = Harness(configuration: configuration)
        h.learnPeer()
        let recorder = UDPRecorder()
        _ = try h.stack.udp.open(localPort: 7, delegate: recorder)
        for id in 0..<10 { h.receiveIPv4(fragments(payloadSize: 100, chunk: 32, id: UInt16(id))[0]) }
        let stats = h.stack.reassemblyStatistics
        #expect(stats.peakDatagramsInProgress == 4)
        #expect(stats.evicted == 6)
        #expect(stats.reservedBytes <= configuration.reassembly.memoryBound)
        // The newest survives: completing it delivers.
        for part in fragments(payloadSize: 100, chunk: 32, id: 9).dropFirst() { h.receiveIPv4(part) }
        #expect(recorder.datagrams.count == 1)
    }

    @Test func heldBytesAreCapped() throws {
        var configuration = Stack.Configuration()
        configuration.reassembly.maxHeldBytes = 4096
        let h = Harness(configuration: configuration)
        h.learnPeer()
        _ = try h.stack.udp.open(localPort: 7, delegate: UDPRecorder())
        for id in 0..<20 {
            for part in fragments(payloadSize: 3000, chunk: 1000, id: UInt16(id)).prefix(2) { h.receiveIPv4(part) }
        }
        let stats = h.stack.reassemblyStatistics
        #expect(stats.peakHeldBytes <= 4096)
        #expect(stats.evicted > 0)
    }
}
