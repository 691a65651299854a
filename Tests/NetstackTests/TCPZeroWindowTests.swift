// Liveness against a closed window (RFC 9293 3.8.6.1): a connection stays open while the peer
// answers its probes, whether data is in flight or not, and is given up when the peer goes
// silent; orphans (closed by the user) are given up sooner, as Linux does.

import Netstack
import Testing

@Suite struct TCPZeroWindowTests {
    /// The peer acknowledges part of what is in flight with a zero window. The retransmission
    /// timer sends the rest as the probe (Linux's tcp_retransmit_timer: "our retransmits become
    /// zero probes"), and answered probes never exhaust `maximumRetransmissions`.
    @Test func closedWindowWithDataInFlightIsProbedByRetransmissions() throws {
        var config = plainConfig()
        config.maximumRetransmissions = 2
        let h = try TCPHarness.established(config)
        #expect(try h.write(tcpBytes(2000)).count == 2)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 0).isEmpty)
        for backoff: Int64 in [200, 400, 800, 1600, 3200] {
            #expect(h.advance(ms: backoff - 1).isEmpty)
            #expect(
                h.advance(ms: 1).map(\.summary) == [Seg(seq: ourISS + 1461, ack: peerISS + 1, flags: .ack, length: 540)]
            )
            #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 0).isEmpty)
        }
        #expect(h.connection.state == .established)
        #expect(h.connection.counters.zeroWindowProbesSent == 5)
        // The window opens with the probe's bytes taken: nothing is left to send or time.
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 2001, window: 65535).isEmpty)
        #expect(h.connection.nextDeadline == nil)
    }

    /// The same closed window, but the peer stops answering: the connection is dropped once
    /// no ACK has come for the longest RTO (Linux: "tcp_jiffies32 - tp->rcv_tstamp > TCP_RTO_MAX").
    @Test func closedWindowWithDataInFlightTimesOutAfterTheLongestRTOOfSilence() throws {
        var config = plainConfig()
        config.maximumRTO = .seconds(1)
        let h = try TCPHarness.established(config)
        #expect(try h.write(tcpBytes(2000)).count == 2)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 0).isEmpty)
        #expect(h.advance(ms: 200).count == 1)
        #expect(h.advance(ms: 400).count == 1)
        #expect(h.advance(ms: 800).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .timedOut)
        #expect(h.connection.counters.zeroWindowTimeouts == 1)
    }

    /// Persist probes the peer answers keep a connection open indefinitely (RFC 9293 3.8.6.1:
    /// "the sending TCP MUST allow the connection to stay open").
    @Test func answeredPersistProbesKeepTheConnectionOpen() throws {
        var config = plainConfig()
        config.maximumRetransmissions = 2
        let h = try TCPHarness.established(config, peerWindow: 0)
        #expect(try h.write(tcpBytes(100)).isEmpty)
        for backoff: Int64 in [200, 400, 800, 1600, 3200, 6400] {
            #expect(h.advance(ms: backoff).map(\.summary) == [Seg(seq: ourISS, ack: peerISS + 1, flags: .ack)])
            #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 0).isEmpty)
        }
        #expect(h.connection.state == .established)
        let resumed = h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 1000)
        #expect(resumed.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: [.ack, .psh], length: 100)])
    }

    /// Persist probes are bounded: after `maximumRetransmissions` unanswered ones the connection
    /// is dropped (Linux's tcp_probe_timer against tcp_retries2), without a segment.
    @Test func unansweredPersistProbesGiveUp() throws {
        var config = plainConfig()
        config.maximumRetransmissions = 3
        let h = try TCPHarness.established(config, peerWindow: 0)
        #expect(try h.write(tcpBytes(100)).isEmpty)
        #expect(h.advance(ms: 200).count == 1)
        #expect(h.advance(ms: 400).count == 1)
        #expect(h.advance(ms: 800).count == 1)
        #expect(h.advance(ms: 1599).isEmpty)
        #expect(h.connection.state == .established)
        #expect(h.advance(ms: 1).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .timedOut)
        #expect(h.connection.counters.zeroWindowProbesSent == 3)
        #expect(h.connection.counters.zeroWindowTimeouts == 1)
    }

    /// A connection the user closed is an orphan: its retransmissions are bounded by
    /// `maximumOrphanRetransmissions` (Linux's tcp_orphan_retries): a closed window is still
    /// probed but does not keep it alive.
    @Test func orphanGivesUpAfterTheOrphanRetries() throws {
        var config = plainConfig()
        config.maximumRetransmissions = 10
        config.maximumOrphanRetransmissions = 2
        let h = try TCPHarness.established(config)
        #expect(try h.write(tcpBytes(2000)).count == 2)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 0).isEmpty)
        h.connection.close(now: h.now, output: &h.out)
        #expect(h.take().isEmpty)
        let probe = Seg(seq: ourISS + 1461, ack: peerISS + 1, flags: .ack, length: 540)
        #expect(h.advance(ms: 200).map(\.summary) == [probe])
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 0).isEmpty)
        #expect(h.advance(ms: 400).map(\.summary) == [probe])
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1461, window: 0).isEmpty)
        #expect(h.advance(ms: 800).isEmpty)
        #expect(h.connection.state == .closed)
        #expect(h.connection.error == .timedOut)
    }
}
