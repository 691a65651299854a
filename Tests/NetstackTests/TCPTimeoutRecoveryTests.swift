// The state a retransmission timeout leaves behind: RFC 5681 3.1 (ssthresh held on a repeated
// timeout of the same segment) and RFC 6582 3.2 step 6 ("recover" recorded, so go-back-N's
// duplicate ACKs start no fast retransmit). Linux behaves the same (tcp_enter_loss keeps
// ssthresh in the Loss state; tcp_time_to_recover waits for high_seq).

import Netstack
import Testing
import Wire

@Suite struct TCPTimeoutRecoveryTests {
    /// Four full segments in flight (1001..<6841); the handshake set RTO to 200 ms. NewReno,
    /// whose ssthresh is RFC 5681's "max (FlightSize / 2, 2*SMSS)".
    static func fourSegmentsInFlight() throws -> TCPHarness { try segmentsInFlight(4) }

    static func segmentsInFlight(_ count: Int) throws -> TCPHarness {
        var config = plainConfig()
        config.congestionControl = .newReno
        let h = try TCPHarness.established(config)
        #expect(try h.write(tcpBytes(count * 1460)).count == count)
        return h
    }

    /// RFC 5681 3.1: "when a TCP sender detects segment loss using the retransmission timer and
    /// the given segment has already been retransmitted by way of the retransmission timer at
    /// least once, the value of ssthresh is held constant."
    /// CUBIC here, whose cut is taken from cwnd: a second cut after the first timeout left
    /// cwnd at one segment would drop ssthresh to its 2*SMSS floor.
    @Test func repeatedTimeoutOfTheSameSegmentHoldsSsthresh() throws {
        let h = try TCPHarness.established()
        #expect(try h.write(tcpBytes(5840)).count == 4)
        let first = h.advance(ms: 200)
        #expect(first.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        // "ssthresh = cwnd * beta_cubic" of the initial 10-segment window.
        #expect(h.connection.slowStartThreshold == 10220)
        #expect(h.connection.congestionWindow == 1460)
        // Backed off to 400 ms; the same segment times out again.
        #expect(h.advance(ms: 399).isEmpty)
        #expect(h.advance(ms: 1).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.slowStartThreshold == 10220)
        #expect(h.connection.congestionWindow == 1460)
        #expect(h.connection.counters.retransmissionTimeouts == 2)
    }

    /// A new segment's first timeout cuts ssthresh again (only repeats of one segment hold it).
    /// CUBIC holds the same way (`onRetransmissionTimeout` is shared).
    @Test func timeoutAfterProgressReducesAgain() throws {
        let h = try Self.segmentsInFlight(8)
        _ = h.advance(ms: 200)
        // FlightSize 8 * 1460 at the first timeout: ssthresh 5840.
        #expect(h.connection.slowStartThreshold == 5840)
        // The retransmission is acknowledged; the next segment times out in its turn.
        #expect(!h.segment(seq: peerISS + 1, ack: ourISS + 1 + 1460).isEmpty)
        #expect(h.connection.slowStartThreshold == 5840)
        _ = h.advance(ms: 400)
        // FlightSize now 7 * 1460: ssthresh 5110.
        #expect(h.connection.slowStartThreshold == 5110)
    }

    /// RFC 6582 3.2 step 6: "After a retransmit timeout, record the highest sequence number
    /// transmitted in the variable recover", and step 1: fast retransmit only "If the
    /// Cumulative Acknowledgment field covers more than recover". Duplicate ACKs for the hole
    /// a timeout is already repairing start no second recovery.
    @Test func duplicateAcksAfterTimeoutStartNoFastRetransmit() throws {
        let h = try Self.fourSegmentsInFlight()
        #expect(h.advance(ms: 200).count == 1)
        for _ in 0..<3 {
            #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1).isEmpty)
        }
        #expect(h.connection.counters.fastRetransmits == 0)
        #expect(h.connection.congestionWindow == 1460)
    }

    /// Once the cumulative ACK passes the old `recover`, a fresh loss is repaired by fast
    /// retransmit again.
    @Test func fastRetransmitReturnsOnceTheAckPassesRecover() throws {
        let h = try Self.fourSegmentsInFlight()
        _ = h.advance(ms: 200)
        // Everything outstanding at the timeout is acknowledged (ACK = recover).
        _ = h.segment(seq: peerISS + 1, ack: ourISS + 1 + 5840)
        _ = try h.write(tcpBytes(4 * 1460))
        let hole = ourISS + 1 + 5840
        // The first two duplicate ACKs may each send one new segment (Limited Transmit).
        for _ in 0..<2 { #expect(h.segment(seq: peerISS + 1, ack: hole).allSatisfy { $0.seq > hole }) }
        let retransmitted = h.segment(seq: peerISS + 1, ack: hole)
        #expect(retransmitted.map(\.summary).first == Seg(seq: hole, ack: peerISS + 1, flags: .ack, length: 1460))
        #expect(h.connection.counters.fastRetransmits == 1)
    }
}
