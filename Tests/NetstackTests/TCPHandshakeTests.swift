// RFC 9293 handshakes: active open, SYN-SENT processing, simultaneous open, SYN retransmission.

import Netstack
import Testing
import Wire

@Suite struct TCPHandshakeTests {
    @Test func activeOpenSendsSynWithAllOptions() throws {
        var config = TCPConfig()
        config.receiveBufferSize = 256 * 1024
        let h = try TCPHarness.active(config)
        let sent = h.take()
        #expect(sent.map(\.summary) == [Seg(seq: ourISS, flags: .syn)])
        let o = try #require(sent.first).repr.options
        #expect(o.mss == 1460)
        #expect(o.windowScale == 3)
        #expect(o.sackPermitted)
        #expect(o.timestamp?.value == ourISS)
        #expect(o.timestamp?.echo == 0)
        #expect(h.connection.state == .synSent)
    }

    @Test func synSentSynAckEstablishes() throws {
        let h = try TCPHarness.established()
        #expect(h.connection.state == .established)
        #expect(h.connection.maximumSegmentSize == 1460)
        #expect(h.connection.peerWindow == 65535)
    }

    @Test func synSentBadAckSendsReset() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset <SEQ=SEG.ACK><CTL=RST>".
        let sent = h.segment(seq: peerISS, ack: ourISS, flags: [.syn, .ack])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS, flags: .rst)])
        #expect(h.connection.state == .synSent)
    }

    @Test func synSentAckBeyondSndNxtSendsReset() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        let sent = h.segment(seq: peerISS, ack: ourISS + 2, flags: [.syn, .ack])
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 2, flags: .rst)])
        #expect(h.connection.state == .synSent)
    }

    @Test func synSentRstWithBadAck() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        // "(unless the RST bit is set, if so drop the segment and return)".
        #expect(h.segment(seq: 0, ack: ourISS + 5, flags: [.rst, .ack]).isEmpty)
        #expect(h.connection.state == .synSent)
    }

    @Test func synSentRstWithGoodAckRefuses() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        #expect(h.segment(seq: 0, ack: ourISS + 1, flags: [.rst, .ack]).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .connectionRefused)
    }

    @Test func synSentRstWithoutAckIgnored() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        #expect(h.segment(seq: peerISS, flags: .rst).isEmpty)
        #expect(h.connection.state == .synSent)
    }

    @Test func synSentSegmentWithoutSynDropped() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        #expect(h.segment(seq: peerISS, ack: ourISS + 1, flags: .ack).isEmpty)
        #expect(h.connection.state == .synSent)
    }

    @Test func synSentSimultaneousOpenSendsSynAck() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        let sent = h.segment(seq: peerISS, flags: .syn, options: options(mss: 1460))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS, ack: peerISS + 1, flags: [.syn, .ack])])
        #expect(h.connection.state == .synReceived)
    }

    @Test func simultaneousOpenCompletesOnPeerSynAck() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.segment(seq: peerISS, flags: .syn, options: options(mss: 1460))
        // RFC 9293 figure 8 line 6: the peer's SYN,ACK completes the open; nothing more to send.
        let sent = h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack])
        #expect(sent.isEmpty)
        #expect(h.connection.state == .established)
    }

    @Test func simultaneousOpenCompletesOnAck() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.segment(seq: peerISS, flags: .syn, options: options(mss: 1460))
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1).isEmpty)
        #expect(h.connection.state == .established)
    }

    @Test func synReceivedRstRefuses() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.segment(seq: peerISS, flags: .syn)
        #expect(h.segment(seq: peerISS + 1, flags: .rst).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .connectionRefused)
    }

    @Test func synReceivedUnacceptableAckSendsReset() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.segment(seq: peerISS, flags: .syn)
        // "If the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK>".
        let sent = h.segment(seq: peerISS + 1, ack: ourISS)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS, flags: .rst)])
        #expect(h.connection.state == .synReceived)
    }

    @Test func synSentRetransmitsSynWithBackoff() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        #expect(h.advance(ms: 999).isEmpty)
        #expect(h.advance(ms: 1).map(\.summary) == [Seg(seq: ourISS, flags: .syn)])
        #expect(h.advance(ms: 1999).isEmpty)
        #expect(h.advance(ms: 1).map(\.summary) == [Seg(seq: ourISS, flags: .syn)])
        #expect(h.connection.nextDeadline == NetstackInstant.milliseconds(7000))
    }

    @Test func synSentTimesOutAfterSynRetries() throws {
        var config = plainConfig()
        config.maximumSynRetransmissions = 2
        let h = try TCPHarness.active(config)
        _ = h.take()
        #expect(h.advance(ms: 1000).count == 1)
        #expect(h.advance(ms: 2000).count == 1)
        #expect(h.advance(ms: 4000).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .timedOut)
    }

    @Test func mssClampedToRouteMTU() throws {
        var config = plainConfig()
        config.mtu = 1280
        let h = try TCPHarness.active(config)
        #expect(h.take().first?.repr.options.mss == 1240)
        h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 9000))
        #expect(h.connection.maximumSegmentSize == 1240)
    }

    @Test func missingMSSDefaultsTo536() throws {
        let h = try TCPHarness.established(peerOptions: TCPOptions())
        #expect(h.connection.maximumSegmentSize == 536)
    }

    @Test func shutdownInSynSentCloses() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.connection.shutdownWrite()
        #expect(h.connection.state == .closed)
        #expect(h.advance(ms: 5000).isEmpty)
    }
}
