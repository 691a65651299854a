// Send path: segmentation by MSS, peer window, Nagle (Minshall), sender SWS avoidance, initial
// window and slow start, backpressure, readiness.

import Netstack
import Testing
import Wire

@Suite struct TCPSendTests {
    @Test func writeSendsAtOnceWhenIdle() throws {
        let h = try TCPHarness.established()
        let sent = try h.write(tcpBytes(100))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .psh], length: 100)])
        #expect(sent.first?.payload == tcpBytes(100))
    }

    /// `write(inPlace:)` offers the send buffer's free space where it lies: two runs once the
    /// ring wraps; what the writer filled is queued and sent in order, the rest stays free.
    @Test func writeInPlaceOffersBothRunsOfAWrappedRingAndSendsWhatWasFilled() throws {
        let h = try TCPHarness.established()
        _ = try h.write(tcpBytes(10_000))
        _ = h.segment(seq: peerISS + 1, ack: ourISS + 10_001)
        let free = h.connection.writableSpace
        var runs: (Int, Int) = (0, 0)
        let filled = try h.connection.write(inPlace: { first, second in
            runs = (first.count, second.count)
            for i in 0..<first.count { first[i] = UInt8(truncatingIfNeeded: i) }
            second[0] = UInt8(truncatingIfNeeded: first.count)
            return first.count + 1
        })
        #expect(runs.0 > 0 && runs.1 > 0 && runs.0 + runs.1 == free, "the ring wrapped")
        #expect(filled == runs.0 + 1 && h.connection.writableSpace == free - filled)
        h.connection.poll(now: h.now, output: &h.out)
        let sent = h.take().flatMap(\.payload)
        #expect(sent.elementsEqual(tcpBytes(sent.count)), "sent in order, from the first run on")
        #expect(!sent.isEmpty)
    }

    @Test func nagleHoldsSmallSegmentUntilAck() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(100))
        #expect(try h.write(tcpBytes(50)).isEmpty)
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 101)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 101, ack: peerISS + 1, flags: [.ack, .psh], length: 50)])
    }

    @Test func noDelaySendsSmallSegmentsAtOnce() throws {
        let h = try TCPHarness.established()
        h.connection.noDelay = true
        try h.write(tcpBytes(100))
        let sent = try h.write(tcpBytes(50))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 101, ack: peerISS + 1, flags: [.ack, .psh], length: 50)])
    }

    @Test func segmentsAreCutAtMSS() throws {
        let h = try TCPHarness.established()
        let sent = try h.write(tcpBytes(3000))
        #expect(
            sent.map(\.summary) == [
                Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: ourISS + 1461, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: ourISS + 2921, ack: peerISS + 1, flags: [.ack, .psh], length: 80)
            ])
        #expect(sent.flatMap(\.payload) == tcpBytes(3000))
    }

    /// Segmentation offload: whole MSS multiples go down as one segment, marked with the MSS
    /// for the link to cut at; the short remainder follows as an ordinary segment.
    @Test func segmentationOffloadSendsWholeSegmentsAsOne() throws {
        var config = plainConfig()
        config.segmentationOffloadSize = 65536
        let h = try TCPHarness.established(config)
        let sent = try h.write(tcpBytes(3000))
        #expect(
            sent.map(\.summary) == [
                Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 2920),
                Seg(seq: ourISS + 2921, ack: peerISS + 1, flags: [.ack, .psh], length: 80)
            ])
        #expect(sent.map(\.segmentSize) == [1460, nil])
        #expect(sent.flatMap(\.payload) == tcpBytes(3000))
    }

    /// The congestion window still rules: the initial window (RFC 6928, ten segments) goes
    /// down as one offloaded segment and nothing more until an ACK.
    @Test func segmentationOffloadStaysWithinTheCongestionWindow() throws {
        var config = plainConfig()
        config.segmentationOffloadSize = 65536
        let h = try TCPHarness.established(config)
        let sent = try h.write(tcpBytes(40000))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 14600)])
        #expect(sent.first?.segmentSize == 1460)
        let next = h.segment(seq: peerISS + 1, ack: ourISS + 14601)
        #expect(next.map(\.payload.count).reduce(0, +) > 14600)
        #expect(
            next.allSatisfy { $0.payload.count % 1460 == 0 && ($0.payload.count == 1460 || $0.segmentSize == 1460) })
    }

    @Test func senderSWSAvoidanceRespectsPeerWindow() throws {
        let h = try TCPHarness.established(peerWindow: 2000)
        // 540 bytes fit the rest of the window, but that is less than half the largest window
        // the peer offered: hold it (RFC 9293 3.8.6.2.1).
        let sent = try h.write(tcpBytes(5000))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        let next = h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 2000)
        #expect(next.map(\.summary) == [Seg(seq: ourISS + 1461, ack: peerISS + 1, flags: .ack, length: 1460)])
    }

    @Test func initialWindowIsTenSegments() throws {
        let h = try TCPHarness.established()
        let sent = try h.write(tcpBytes(30000))
        #expect(sent.count == 10)
        #expect(sent.allSatisfy { $0.payload.count == 1460 })
        #expect(h.connection.congestionWindow == 14600)
    }

    @Test func slowStartGrowsWindowPerAck() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(30000))
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 14601)
        // RFC 3465 with L = 2: one ACK grows cwnd by at most 2 * SMSS.
        #expect(h.connection.congestionWindow == 14600 + 2920)
        #expect(sent.count == 11)
        #expect(sent.last?.payload.count == 800)
    }

    @Test func writeReportsBackpressure() throws {
        let h = try TCPHarness.established(peerWindow: 0)
        let big = tcpBytes(70000)
        #expect(tryWrite(h.connection, big) == .success(64 * 1024))
        #expect(h.connection.writableSpace == 0)
        #expect(tryWrite(h.connection, big) == .success(0))
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 0)
        #expect(h.connection.writableSpace == 0)
    }

    @Test func writeAfterShutdownThrows() throws {
        let h = try TCPHarness.established()
        h.connection.shutdownWrite()
        #expect(tryWrite(h.connection, tcpBytes(1)) == .failure(.notWritable))
    }

    @Test func readinessCallbacksFireOnEdges() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        final class Log { var events: [TCPReadiness] = [] }
        let log = Log()
        h.connection.onReadiness = { _, r in log.events.append(r) }
        h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460))
        #expect(log.events == [[.connected, .writable]])
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(10))
        #expect(log.events.last == .readable)
        h.segment(seq: peerISS + 11, flags: .rst)
        #expect(log.events.last == .closed)
    }

    @Test func delayedAckPiggybacksOnData() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(100))
        let sent = try h.write(tcpBytes(10))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 101, flags: [.ack, .psh], length: 10)])
        #expect(h.advance(ms: 40).isEmpty)
    }

    @Test func nagleWithDelayedAckReleasedByPeerAck() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(10))
        try h.write(tcpBytes(10))
        // The peer's delayed ACK arrives 40 ms later and releases the held bytes.
        h.advance(ms: 40)
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 11)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 11, ack: peerISS + 1, flags: [.ack, .psh], length: 10)])
    }

    @Test func memoryBudgetRefusesConnection() throws {
        let budget = TCPMemoryBudget(limit: 200 * 1024)
        var first: TCPHarness? = try TCPHarness.active(budget: budget)
        #expect(budget.used == 128 * 1024)
        var out = Capture()
        do {
            _ = try TCPConnection.connect(
                flow: testFlow, config: plainConfig(), iss: seq(1), now: .zero,
                budget: budget, output: &out)
            Issue.record("the budget should have refused a second connection")
        } catch {
            #expect(error == .noBufferSpace)
        }
        #expect(budget.refusals == 1)
        #expect(out.sent.isEmpty)
        #expect(first?.connection.state == .synSent)
        first = nil
        #expect(budget.used == 0)
    }
}

@Suite struct TCPSendRingTests {
    @Test func segmentWrappingTheSendRingIsSentWhole() throws {
        var config = plainConfig()
        config.sendBufferSize = 4096
        let h = try TCPHarness.established(config)
        h.connection.noDelay = true
        try h.write(tcpBytes(3000))
        h.segment(seq: peerISS + 1, ack: ourISS + 3001)
        // The next 2000 bytes wrap around the 4 KiB ring: still one full MSS segment first.
        let data = tcpBytes(2000, start: 7)
        let sent = try h.write(data)
        #expect(
            sent.map(\.summary) == [
                Seg(seq: ourISS + 3001, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: ourISS + 4461, ack: peerISS + 1, flags: [.ack, .psh], length: 540)
            ])
        #expect(sent.flatMap(\.payload) == data)
    }

    @Test func retransmissionAcrossTheRingWrapKeepsContent() throws {
        var config = plainConfig()
        config.sendBufferSize = 4096
        let h = try TCPHarness.established(config)
        try h.write(tcpBytes(3000))
        h.segment(seq: peerISS + 1, ack: ourISS + 3001)
        let data = tcpBytes(1460, start: 99)
        try h.write(data)
        let again = h.advance(ms: 200)
        #expect(again.map(\.summary) == [Seg(seq: ourISS + 3001, ack: peerISS + 1, flags: [.ack, .psh], length: 1460)])
        #expect(again.first?.payload == data)
    }
}
