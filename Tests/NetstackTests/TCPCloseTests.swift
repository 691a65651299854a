// Connection teardown: active, passive and simultaneous close, half-close, TIME-WAIT.

import Netstack
import Testing
import Wire

@Suite struct TCPCloseTests {
    /// ESTABLISHED, then our FIN sent: FIN-WAIT-1.
    static func finWait1() throws -> TCPHarness {
        let h = try TCPHarness.established()
        h.connection.shutdownWrite()
        #expect(h.connection.state == .finWait1)
        #expect(h.advance(ms: 0).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .fin])])
        return h
    }

    @Test func activeCloseReachesTimeWait() throws {
        let h = try Self.finWait1()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 2).isEmpty)
        #expect(h.connection.state == .finWait2)
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 2, ack: peerISS + 2, flags: .ack)])
        #expect(h.connection.state == .timeWait)
        #expect(h.connection.isReadClosed)
    }

    @Test func finWait1FinWithAckGoesToTimeWait() throws {
        let h = try Self.finWait1()
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 2, ack: peerISS + 2, flags: .ack)])
        #expect(h.connection.state == .timeWait)
    }

    @Test func simultaneousCloseGoesThroughClosing() throws {
        let h = try Self.finWait1()
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1, flags: [.ack, .fin])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 2, ack: peerISS + 2, flags: .ack)])
        #expect(h.connection.state == .closing)
        #expect(h.segment(seq: peerISS + 2, ack: ourISS + 2).isEmpty)
        #expect(h.connection.state == .timeWait)
    }

    /// RFC 9293 3.6.1: TIME-WAIT only re-ACKs a retransmitted FIN, so the rings go back to the
    /// budget as it begins; data the user has not read yet keeps the receive ring until read.
    @Test func timeWaitGivesTheBuffersBackToTheBudget() throws {
        let budget = TCPMemoryBudget(limit: 1 << 20)
        let h = try TCPHarness.active(budget: budget)
        let reserved = budget.used
        #expect(reserved == plainConfig().sendBufferSize + plainConfig().receiveBufferSize)
        _ = h.take()
        h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460))
        h.connection.shutdownWrite()
        _ = h.advance(ms: 0)
        h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin], payload: tcpBytes(100))
        #expect(h.connection.state == .timeWait)
        #expect(budget.used == reserved, "100 bytes unread: the receive ring stays")
        #expect(h.read() == tcpBytes(100))
        #expect(budget.used == 0)
        // A retransmitted FIN is still answered with the same ACK.
        #expect(
            h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin], payload: tcpBytes(100)).map(\.summary)
                == [Seg(seq: ourISS + 2, ack: peerISS + 102, flags: .ack)])
        #expect(budget.used == 0 && budget.peak == reserved)
    }

    @Test func timeWaitExpiresAfterTwoMSL() throws {
        let h = try Self.finWait1()
        h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin])
        #expect(h.advance(ms: 999).isEmpty)
        #expect(h.connection.state == .timeWait)
        #expect(h.advance(ms: 1).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == nil)
    }

    @Test func timeWaitDurationIsConfigurable() throws {
        var config = plainConfig()
        config.timeWaitDuration = .seconds(60)
        let h = try TCPHarness.established(config)
        h.connection.shutdownWrite()
        h.advance(ms: 0)
        h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin])
        #expect(h.connection.nextDeadline == h.now + .seconds(60))
    }

    @Test func timeWaitReacknowledgesRetransmittedFin() throws {
        let h = try Self.finWait1()
        h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin])
        h.advance(ms: 500)
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 2, ack: peerISS + 2, flags: .ack)])
        // "restart the 2 MSL timeout".
        #expect(h.advance(ms: 999).isEmpty)
        #expect(h.connection.state == .timeWait)
        h.advance(ms: 1)
        #expect(h.connection.state == .closed)
    }

    @Test func finRetransmittedOnTimeout() throws {
        let h = try Self.finWait1()
        #expect(h.advance(ms: 200).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .fin])])
    }

    @Test func passiveCloseThroughLastAck() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1, flags: [.ack, .fin])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2, flags: .ack)])
        #expect(h.connection.state == .closeWait)
        #expect(h.connection.isReadClosed)
        h.connection.close(now: h.now, output: &h.out)
        #expect(h.take().map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2, flags: [.ack, .fin])])
        #expect(h.connection.state == .lastAck)
        #expect(h.segment(seq: peerISS + 2, ack: ourISS + 2).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == nil)
    }

    @Test func halfClosedConnectionStillSends() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, flags: [.ack, .fin])
        let sent = try h.write(tcpBytes(100))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2, flags: [.ack, .psh], length: 100)])
    }

    @Test func dataAndFinShareASegment() throws {
        let h = try TCPHarness.established()
        _ = tryWrite(h.connection, tcpBytes(100))
        h.connection.shutdownWrite()
        let sent = h.advance(ms: 0)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .psh, .fin], length: 100)])
    }

    @Test func outOfOrderFinWaitsForTheHole() throws {
        let h = try TCPHarness.established()
        let early = h.segment(
            seq: peerISS + 101, ack: ourISS + 1, flags: [.ack, .fin], payload: tcpBytes(50, start: 100))
        #expect(early.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.state == .established)
        let fill = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(100))
        #expect(fill.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 152, flags: .ack)])
        #expect(h.connection.state == .closeWait)
        #expect(h.read() == tcpBytes(150))
        #expect(h.connection.isReadClosed)
    }

    @Test func dataAfterPeerFinIsIgnored() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, flags: [.ack, .fin])
        h.segment(seq: peerISS + 2, ack: ourISS + 1, payload: tcpBytes(10))
        #expect(h.read().isEmpty)
    }

    @Test func resetInClosingStateClosesWithoutError() throws {
        let h = try Self.finWait1()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, flags: [.ack, .fin])
        h.segment(seq: peerISS + 2, flags: .rst)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == nil)
    }

    /// A connection the user closed waits in FIN-WAIT-2 at most `finWait2Timeout` (Linux's
    /// tcp_fin_timeout, 60 s, for orphaned sockets); then it is dropped without a segment.
    @Test func closedConnectionLeavesFinWait2AfterTheTimeout() throws {
        let h = try TCPHarness.established()
        h.connection.close(now: h.now, output: &h.out)
        #expect(h.take().map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .fin])])
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 2).isEmpty)
        #expect(h.connection.state == .finWait2)
        #expect(h.connection.nextDeadline == h.now + .seconds(60))
        #expect(h.advance(ms: 59_999).isEmpty)
        #expect(h.connection.state == .finWait2)
        #expect(h.advance(ms: 1).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.counters.finWait2Timeouts == 1)
    }

    /// A half-close (`shutdownWrite`) still reads: FIN-WAIT-2 lasts as long as the peer sends.
    @Test func halfClosedConnectionStaysInFinWait2() throws {
        let h = try Self.finWait1()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 2).isEmpty)
        #expect(h.connection.nextDeadline == nil)
        h.advance(ms: 120_000)
        #expect(h.connection.state == .finWait2)
        h.segment(seq: peerISS + 1, ack: ourISS + 2, payload: tcpBytes(10))
        #expect(h.read() == tcpBytes(10))
    }
}
