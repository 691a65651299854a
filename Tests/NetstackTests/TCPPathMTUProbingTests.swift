// Packetization-layer path MTU discovery (RFC 4821) for a path that drops big segments without
// an ICMP: repeated timeouts fall back to a base segment size, probes then search upward, and a
// lost probe is resent in the old size with no congestion response (Linux's tcp_mtu_probing=1).

import Netstack
import Testing
import Wire

@Suite struct TCPPathMTUProbingTests {
    /// Two full segments in flight and never acknowledged.
    static func blackHoled() throws -> TCPHarness {
        let h = try TCPHarness.established()
        #expect(try h.write(tcpBytes(2920)).count == 2)
        return h
    }

    /// RFC 4821 7.7: a segment timed out three times in a row suggests a black hole: the third
    /// go-back-N already resends at Linux's base MSS (1024), a fourth at half that, which the
    /// IPv4 floor (552-byte MTU) stops at 512.
    @Test func repeatedTimeoutsFallBackToTheBaseMSSThenHalve() throws {
        let h = try Self.blackHoled()
        let full = Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)
        #expect(h.advance(ms: 200).map(\.summary) == [full])
        #expect(h.advance(ms: 400).map(\.summary) == [full])
        #expect(
            h.advance(ms: 800).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1024)])
        #expect(h.connection.maximumSegmentSize == 1024)
        #expect(h.connection.counters.pathMTUBlackHoles == 1)
        #expect(
            h.advance(ms: 1600).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 512)])
        #expect(
            h.advance(ms: 3200).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 512)])
        #expect(h.connection.counters.pathMTUBlackHoles == 2)
    }

    /// Falls back to the base MSS, then lets the data through so the window regrows.
    static func fellBack() throws -> TCPHarness {
        let h = try Self.blackHoled()
        h.advance(ms: 200)
        h.advance(ms: 400)
        h.advance(ms: 800)
        #expect(h.connection.maximumSegmentSize == 1024)
        h.segment(seq: peerISS + 1, ack: ourISS + 2921)
        return h
    }

    /// Writes what fits and acknowledges each segment as it comes, `rounds` times. Segments
    /// longer than the MSS when they arrive are probes: all acknowledged and returned, unless
    /// `stopAtProbe`, where the first one and what follows it are left unacknowledged.
    static func drive(_ h: TCPHarness, rounds: Int = 200, stopAtProbe: Bool) throws
        -> (probes: [Sent], unacknowledged: [Sent])
    {
        var probes: [Sent] = []
        for _ in 0..<rounds {
            var batch = try h.write(tcpBytes(h.connection.writableSpace))
            while !batch.isEmpty {
                var more: [Sent] = []
                for (index, segment) in batch.enumerated() where !segment.payload.isEmpty {
                    if segment.payload.count > h.connection.maximumSegmentSize {
                        probes.append(segment)
                        if stopAtProbe { return (probes, Array(batch[index...])) }
                    }
                    more += h.segment(seq: peerISS + 1, ack: segment.seq + UInt32(segment.payload.count))
                }
                batch = more
            }
        }
        return (probes, [])
    }

    /// RFC 4821 7.6: probes halve the range between what passes (1064, the base) and the route
    /// MTU (1500); each one acknowledged raises the MSS to its size, until the range is under 8.
    @Test func probesSearchUpwardOnAHealthyPath() throws {
        let h = try Self.fellBack()
        let probes = try Self.drive(h, stopAtProbe: false).probes
        #expect(probes.map(\.payload.count) == [1242, 1351, 1405, 1432, 1446, 1453])
        #expect(probes.allSatisfy { $0.segmentSize == nil }, "a probe is never cut by segmentation offload")
        #expect(h.connection.maximumSegmentSize == 1453)
        #expect(h.connection.counters.pathMTUProbesSent == 6)
    }

    /// The probe is dropped and the segments behind it draw duplicate ACKs: the probe's data goes
    /// again at the old MSS, with no fast retransmit and no cut of ssthresh; the next probe is
    /// smaller, under the size that failed.
    @Test func lostProbeIsResentInTheOldSizeWithoutACongestionResponse() throws {
        let h = try Self.fellBack()
        let (probes, unacknowledged) = try Self.drive(h, stopAtProbe: true)
        let probe = try #require(probes.first)
        let after = Array(unacknowledged.dropFirst())
        #expect(probe.payload.count == 1242)
        #expect(!after.isEmpty)
        let ssthresh = h.connection.slowStartThreshold
        var resent: [Sent] = []
        for _ in 0..<3 { resent += h.segment(seq: peerISS + 1, ack: probe.seq) }
        // (The first two duplicate ACKs send new data: Limited Transmit.)
        #expect(resent.contains { $0.summary == Seg(seq: probe.seq, ack: peerISS + 1, flags: .ack, length: 1024) })
        #expect(h.connection.counters.pathMTUProbesLost == 1)
        #expect(h.connection.counters.fastRetransmits == 0)
        #expect(h.connection.slowStartThreshold == ssthresh)
        #expect(h.connection.maximumSegmentSize == 1024)
        // Everything arrives: the next probe halves the range below the failed size.
        let end = ([probe] + after + resent).map { $0.seq + UInt32($0.payload.count) }.max()!
        let resumed = h.segment(seq: peerISS + 1, ack: end)
        let next = try #require(
            try resumed.first { $0.payload.count > 1024 } ?? Self.drive(h, stopAtProbe: true).probes.first)
        #expect(next.payload.count == (1064 + 1281) / 2 - 40)
    }

    @Test func probingOffLeavesTheMSSAlone() throws {
        var config = plainConfig()
        config.pathMTUProbing = false
        let h = try TCPHarness.established(config)
        #expect(try h.write(tcpBytes(2920)).count == 2)
        for backoff: Int64 in [200, 400, 800, 1600] {
            #expect(h.advance(ms: backoff).first?.payload.count == 1460)
        }
        #expect(h.connection.counters.pathMTUBlackHoles == 0)
    }
}
