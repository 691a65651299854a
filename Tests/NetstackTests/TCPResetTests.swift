// RST and SYN handling in synchronized states with RFC 5961 challenge ACKs, ACK acceptability.

import Netstack
import Testing
import Wire

@Suite struct TCPResetTests {
    @Test func establishedRstWithExactSequenceResets() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 1, flags: .rst).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .connectionReset)
    }

    @Test func establishedRstInWindowSendsChallengeAck() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS + 2, flags: .rst)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.state == .established)
        #expect(h.connection.counters.challengeAcksSent == 1)
    }

    @Test func establishedRstOutsideWindowIgnored() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 100_000, flags: .rst).isEmpty)
        #expect(h.segment(seq: peerISS - 1, flags: .rst).isEmpty)
        #expect(h.connection.state == .established)
    }

    @Test func establishedSynSendsChallengeAck() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS + 10, flags: .syn)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.state == .established)
    }

    @Test func establishedOldSynIsAcked() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS, flags: .syn)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.state == .established)
    }

    @Test func challengeAcksAreRateLimited() throws {
        var config = plainConfig()
        config.challengeAckLimitPerSecond = 2
        let h = try TCPHarness.established(config)
        #expect(h.segment(seq: peerISS + 2, flags: .rst).count == 1)
        #expect(h.segment(seq: peerISS + 3, flags: .rst).count == 1)
        #expect(h.segment(seq: peerISS + 4, flags: .rst).isEmpty)
        #expect(h.connection.counters.challengeAcksSuppressed == 1)
        h.advance(ms: 1000)
        #expect(h.segment(seq: peerISS + 5, flags: .rst).count == 1)
    }

    @Test func ackForUnsentDataIsAckedAndDropped() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 500, payload: tcpBytes(10))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.read().isEmpty)
    }

    @Test func ackTooOldIsAckedAndDropped() throws {
        let h = try TCPHarness.established()
        // RFC 5961 5.2: below SND.UNA - MAX.SND.WND.
        let sent = h.segment(seq: peerISS + 1, ack: ourISS &+ 1 &- 70_000, payload: tcpBytes(10))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.read().isEmpty)
    }

    @Test func oldButPlausibleAckKeepsData() throws {
        let h = try TCPHarness.established()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS - 10, payload: tcpBytes(10)).isEmpty)
        #expect(h.read() == tcpBytes(10))
    }

    @Test func abortSendsReset() throws {
        let h = try TCPHarness.established()
        h.connection.abort(now: h.now, output: &h.out)
        #expect(h.take().map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.rst, .ack])])
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .aborted)
    }

    @Test func closeWithUnreadDataSendsReset() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(10))
        h.connection.close(now: h.now, output: &h.out)
        #expect(h.take().map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 11, flags: [.rst, .ack])])
        #expect(h.connection.state == .closed)
    }

    @Test func resetReplyForStrayAck() {
        let stray = TCPRepr(
            sourcePort: 1, destinationPort: 2, sequenceNumber: seq(7), acknowledgmentNumber: seq(99),
            flags: .ack, window: 10, urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
        let reply = TCPConnection.resetReply(to: stray)
        #expect(reply?.flags == .rst)
        #expect(reply?.sequenceNumber == seq(99))
        #expect(reply?.sourcePort == 2)
    }

    @Test func resetReplyForStraySynCountsSyn() {
        let stray = TCPRepr(
            sourcePort: 1, destinationPort: 2, sequenceNumber: seq(7), acknowledgmentNumber: seq(0),
            flags: .syn, window: 10, urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
        let reply = TCPConnection.resetReply(to: stray)
        #expect(reply?.flags == [.rst, .ack])
        #expect(reply?.sequenceNumber == seq(0))
        #expect(reply?.acknowledgmentNumber == seq(8))
    }

    @Test func noResetForStrayReset() {
        let stray = TCPRepr(
            sourcePort: 1, destinationPort: 2, sequenceNumber: seq(7), acknowledgmentNumber: seq(0),
            flags: .rst, window: 10, urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
        #expect(TCPConnection.resetReply(to: stray) == nil)
    }
}
