// RFC 6298 retransmission timing on the fake clock, Karn's rule, backoff, giving up;
// persist (zero-window probes); keepalive; TIME-WAIT lives in TCPCloseTests.

import Netstack
import Testing
import Wire

@Suite struct TCPTimerTests {
    @Test func rtoRetransmitsAfterMinimumRTO() throws {
        // SYN-ACK answered at once: R = 0, so RTO = max(SRTT + max(G, 4 RTTVAR), 200 ms).
        let h = try TCPHarness.established()
        try h.write(tcpBytes(100))
        #expect(h.advance(ms: 199).isEmpty)
        #expect(
            h.advance(ms: 1).map(\.summary) == [
                Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .psh], length: 100)
            ])
    }

    @Test func rtoBacksOffExponentially() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(100))
        #expect(h.advance(ms: 200).count == 1)
        #expect(h.advance(ms: 399).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
        #expect(h.advance(ms: 799).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
        #expect(h.connection.retransmissionTimeout == .milliseconds(1600))
    }

    @Test func rtoFollowsMeasuredRTT() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.now = .milliseconds(100)
        h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460))
        // First sample R = 100 ms: SRTT = 100, RTTVAR = 50, RTO = 100 + 4 * 50 = 300 ms.
        #expect(h.connection.smoothedRTT == .milliseconds(100))
        #expect(h.connection.retransmissionTimeout == .milliseconds(300))
        try h.write(tcpBytes(10))
        #expect(h.advance(ms: 299).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
    }

    @Test func secondSampleSmoothsPerRFC6298() throws {
        let h = try TCPHarness.active()
        _ = h.take()
        h.now = .milliseconds(100)
        h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460))
        try h.write(tcpBytes(10))
        h.now = h.now + .milliseconds(300)
        h.segment(seq: peerISS + 1, ack: ourISS + 11)
        // R' = 300: RTTVAR = 3/4 * 50 + 1/4 * 200 = 87.5; SRTT = 7/8 * 100 + 1/8 * 300 = 125.
        #expect(h.connection.smoothedRTT == .milliseconds(125))
        #expect(h.connection.retransmissionTimeout == .microseconds(475_000))
    }

    @Test func minimumRTOIsConfigurable() throws {
        var config = plainConfig()
        config.minimumRTO = .milliseconds(50)
        let h = try TCPHarness.established(config)
        try h.write(tcpBytes(10))
        #expect(h.advance(ms: 49).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
    }

    @Test func karnIgnoresRetransmittedSegments() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(10))
        h.advance(ms: 200)
        let before = h.connection.smoothedRTT
        h.advance(ms: 50)
        h.segment(seq: peerISS + 1, ack: ourISS + 11)
        #expect(h.connection.smoothedRTT == before)
    }

    @Test func rtoCollapsesWindowToOneSegment() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(5000))
        let sent = h.advance(ms: 200)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.congestionWindow == 1460)
        #expect(h.connection.counters.retransmissionTimeouts == 1)
    }

    @Test func goBackNAfterTimeoutResendsInOrder() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(5000))
        h.advance(ms: 200)
        // The ACK of the first segment grows cwnd (slow start) and the rest follows from SND.UNA.
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1461)
        #expect(
            sent.map(\.summary) == [
                Seg(seq: ourISS + 1461, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: ourISS + 2921, ack: peerISS + 1, flags: .ack, length: 1460)
            ])
    }

    @Test func connectionTimesOutAfterMaximumRetransmissions() throws {
        var config = plainConfig()
        config.maximumRetransmissions = 2
        let h = try TCPHarness.established(config)
        try h.write(tcpBytes(10))
        #expect(h.advance(ms: 200).count == 1)
        #expect(h.advance(ms: 400).count == 1)
        #expect(h.advance(ms: 800).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .timedOut)
    }

    @Test func timerStopsWhenEverythingAcked() throws {
        let h = try TCPHarness.established()
        try h.write(tcpBytes(10))
        h.segment(seq: peerISS + 1, ack: ourISS + 11)
        #expect(h.connection.nextDeadline == nil)
        #expect(h.advance(ms: 5000).isEmpty)
    }

    @Test func zeroWindowStartsPersistTimer() throws {
        let h = try TCPHarness.established(peerWindow: 0)
        #expect(try h.write(tcpBytes(100)).isEmpty)
        #expect(h.connection.nextDeadline == .milliseconds(200))
        // Probe: SEQ = SND.UNA - 1, no data, must be answered with the current window.
        #expect(h.advance(ms: 200).map(\.summary) == [Seg(seq: ourISS, ack: peerISS + 1, flags: .ack)])
        #expect(h.connection.counters.zeroWindowProbesSent == 1)
    }

    @Test func zeroWindowProbesBackOff() throws {
        let h = try TCPHarness.established(peerWindow: 0)
        try h.write(tcpBytes(100))
        #expect(h.advance(ms: 200).count == 1)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 0).isEmpty)
        #expect(h.advance(ms: 399).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
        #expect(h.advance(ms: 799).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
        #expect(h.connection.state == .established)
    }

    @Test func windowSmallerThanASegmentIsProbedWithWhatFits() throws {
        // The peer's window shrinks below one segment with nothing in flight: sender SWS
        // avoidance holds the data back and no ACK will come, so the persist timer sends what
        // fits (RFC 9293 3.8.6.2.1's override timeout; Linux's tcp_write_wakeup).
        let h = try TCPHarness.established(peerWindow: 60000)
        #expect(try h.write(tcpBytes(2920)).count == 2)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 2921, window: 500).isEmpty)
        #expect(try h.write(tcpBytes(5000)).isEmpty)
        #expect(h.connection.nextDeadline == h.now + .milliseconds(200))
        #expect(
            h.advance(ms: 200).map(\.summary) == [Seg(seq: ourISS + 2921, ack: peerISS + 1, flags: .ack, length: 500)])
        #expect(h.connection.counters.zeroWindowProbesSent == 1)
        // The window is now closed: ordinary zero-window probes follow.
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 3421, window: 0).isEmpty)
        #expect(
            h.advance(ms: 200).map(\.summary) == [Seg(seq: ourISS + 3420, ack: peerISS + 1, flags: .ack, length: 0)])
    }

    @Test func windowOpeningResumesSending() throws {
        let h = try TCPHarness.established(peerWindow: 0)
        try h.write(tcpBytes(100))
        h.advance(ms: 200)
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 1000)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .psh], length: 100)])
        #expect(h.connection.nextDeadline == h.now + .milliseconds(200))
    }

    @Test func zeroWindowProbeFromPeerIsAnswered() throws {
        let h = try TCPHarness.established()
        let sent = h.segment(seq: peerISS, ack: ourISS + 1)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(sent.first?.window == 65535)
    }

    static func keepaliveConfig() -> TCPConfig {
        var config = plainConfig()
        config.keepalive = TCPKeepalive(idle: .seconds(10), interval: .seconds(1), probes: 2)
        return config
    }

    @Test func keepaliveProbesAfterIdle() throws {
        let h = try TCPHarness.established(Self.keepaliveConfig())
        #expect(h.advance(ms: 9999).isEmpty)
        #expect(h.advance(ms: 1).map(\.summary) == [Seg(seq: ourISS, ack: peerISS + 1, flags: .ack)])
        #expect(h.advance(ms: 1000).map(\.summary) == [Seg(seq: ourISS, ack: peerISS + 1, flags: .ack)])
    }

    @Test func keepaliveGivesUpWithReset() throws {
        let h = try TCPHarness.established(Self.keepaliveConfig())
        h.advance(ms: 10000)
        h.advance(ms: 1000)
        let sent = h.advance(ms: 1000)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.rst, .ack])])
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .timedOut)
    }

    @Test func keepaliveAnswerRestartsIdleTimer() throws {
        let h = try TCPHarness.established(Self.keepaliveConfig())
        h.advance(ms: 10000)
        h.segment(seq: peerISS + 1, ack: ourISS + 1)
        #expect(h.advance(ms: 9999).isEmpty)
        #expect(h.advance(ms: 1).count == 1)
        #expect(h.connection.counters.keepaliveProbesSent == 2)
    }

    @Test func keepaliveOffByDefault() throws {
        let h = try TCPHarness.established()
        #expect(h.connection.nextDeadline == nil)
        #expect(h.advance(ms: 10_000_000).isEmpty)
    }
}
