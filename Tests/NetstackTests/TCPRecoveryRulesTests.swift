// SACK loss recovery in exact segments: Proportional Rate Reduction (RFC 6937) paces what each
// ACK lets out, and RFC 6675's NextSeg rules (3) and (4) retransmit an unSACKed hole not yet
// presumed lost, and rescue a lost tail, when nothing else may go.

import Netstack
import Testing
import Wire

@Suite struct TCPRecoveryRulesTests {
    static func sackConfig(
        _ algorithm: TCPCongestionControlAlgorithm = .cubic, lossDetection: TCPLossDetection = .rack
    ) -> TCPConfig {
        var config = plainConfig()
        config.selectiveAcknowledgments = true
        config.congestionControl = algorithm
        config.lossDetection = lossDetection
        return config
    }

    static func established(_ config: TCPConfig) throws -> TCPHarness {
        try TCPHarness.established(config, peerOptions: options(mss: 1460, sackPermitted: true))
    }

    /// RFC 6937 with NewReno (ssthresh = FlightSize / 2): 20 segments in flight, the first lost,
    /// the other 19 SACKed one ACK at a time. While pipe exceeds ssthresh, new data goes out in
    /// proportion, one segment for every second ACK ("sndcnt = CEIL(prr_delivered * ssthresh /
    /// RecoverFS) - prr_out"), where RFC 6675 alone would send nothing until pipe fell below
    /// ssthresh and then one per ACK. Recovery starts on the third ACK under the DupThresh rule
    /// (RACK starts it on the first, TCPRACKTests).
    @Test func proportionalRateReductionPacesNewDataOverTheRecovery() throws {
        let h = try Self.established(Self.sackConfig(.newReno, lossDetection: .duplicateThreshold))
        // Slow start to a 20-segment window: ten segments, each ACKed on its own.
        let first = try h.write(tcpBytes(14_600))
        for segment in first { h.segment(seq: peerISS + 1, ack: segment.seq + 1460) }
        #expect(h.connection.congestionWindow == 20 * 1460)
        let flight = try h.write(tcpBytes(40 * 1460))
        #expect(flight.count == 20)
        let base = ourISS + 14_601
        var newSegments: [Int] = []
        var retransmitted: [UInt32] = []
        for k in 1...19 {
            let sent = h.segment(
                seq: peerISS + 1, ack: base, options: options(sack: [(base + 1460, base + 1460 * UInt32(k + 1))]))
            newSegments.append(sent.filter { $0.seq >= base + 20 * 1460 }.count)
            retransmitted += sent.filter { $0.seq < base + 20 * 1460 }.map(\.seq)
        }
        #expect(retransmitted == [base], "only the lost segment is resent")
        #expect(h.connection.counters.fastRetransmits == 1)
        // ACKs 1-2: duplicate ACKs, each sending one new segment (Limited Transmit, RFC 3042);
        // 3: recovery begins, prr_delivered counting from it and the fast retransmit in prr_out.
        // Each ACK delivers one segment; sndcnt reaches a whole segment (RFC 6675's "cwnd - pipe
        // >= 1 SMSS") on every second ACK, from the 6th, while pipe (19 - k unSACKed + the
        // retransmission + new) exceeds ssthresh (10 segments). ACK 16 brings pipe to
        // ssthresh; from 17 on, PRR-SSRB sends one for each one delivered.
        #expect(newSegments == [1, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1])
    }

    /// Five segments and nothing more to send; the first and third are lost. Three SACKed above
    /// the first make it lost (NextSeg rule 1); the third has two above it, not yet "lost", but
    /// with no new data (rule 2) rule 3 resends it rather than wait (under the DupThresh rule;
    /// RACK finds the third lost by time).
    @Test func unsackedHoleNotYetLostIsResentWhenNothingElseMayGo() throws {
        let h = try Self.established(Self.sackConfig(lossDetection: .duplicateThreshold))
        #expect(try h.write(tcpBytes(5 * 1460)).count == 5)
        let a = ourISS + 1
        let (b, c, d, e) = (a + 1460, a + 2920, a + 4380, a + 5840)
        #expect(h.segment(seq: peerISS + 1, ack: a, options: options(sack: [(b, c)])).isEmpty)
        #expect(h.segment(seq: peerISS + 1, ack: a, options: options(sack: [(b, c), (d, e)])).isEmpty)
        let sent = h.segment(seq: peerISS + 1, ack: a, options: options(sack: [(b, c), (d, e + 1460)]))
        #expect(
            sent.map(\.summary) == [
                Seg(seq: a, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: c, ack: peerISS + 1, flags: .ack, length: 1460)
            ])
    }

    /// The tail is lost with nothing SACKed above it: the rescue retransmission (rule 4) resends
    /// the segment holding the highest unSACKed byte, once per recovery, instead of waiting for
    /// the retransmission timer. (Under the DupThresh rule; with RACK the tail loss probe does
    /// this, TCPRACKTests.)
    @Test func lostTailIsRescuedOncePerRecovery() throws {
        let h = try Self.established(Self.sackConfig(lossDetection: .duplicateThreshold))
        #expect(try h.write(tcpBytes(6 * 1460)).count == 6)
        let a = ourISS + 1
        let tail = a + 5 * 1460
        var sent: [Sent] = []
        for k: UInt32 in 1...4 {
            sent += h.segment(seq: peerISS + 1, ack: a, options: options(sack: [(a + 1460, a + 1460 * (k + 1))]))
        }
        #expect(sent.map(\.seq) == [a, tail], "the fast retransmit, then the rescue")
        // The fast retransmit arrives: a partial ACK up to the tail; no second rescue.
        let after = h.segment(seq: peerISS + 1, ack: tail)
        #expect(!after.contains { $0.seq == tail })
        #expect(h.connection.counters.retransmissionTimeouts == 0)
    }

    /// RFC 3042 Limited Transmit: each of the first two duplicate ACKs sends one new segment
    /// beyond cwnd (FlightSize <= cwnd + 2 * SMSS, cwnd unchanged), so a small window still
    /// yields the third duplicate ACK; the third starts fast retransmit.
    @Test func limitedTransmitSendsNewDataOnTheFirstTwoDuplicateAcks() throws {
        let h = try TCPHarness.established()
        #expect(try h.write(tcpBytes(12 * 1460)).count == 10)
        let cwnd = h.connection.congestionWindow
        let first = h.segment(seq: peerISS + 1, ack: ourISS + 1)
        #expect(first.map(\.summary) == [Seg(seq: ourISS + 1 + 10 * 1460, ack: peerISS + 1, flags: .ack, length: 1460)])
        let second = h.segment(seq: peerISS + 1, ack: ourISS + 1)
        #expect(
            second.map(\.summary) == [
                Seg(seq: ourISS + 1 + 11 * 1460, ack: peerISS + 1, flags: [.ack, .psh], length: 1460)
            ])
        #expect(h.connection.congestionWindow == cwnd, "the sender MUST NOT change cwnd")
        let third = h.segment(seq: peerISS + 1, ack: ourISS + 1)
        #expect(third.first?.summary == Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460))
        #expect(h.connection.counters.fastRetransmits == 1)
    }

    /// The fast retransmission of the first hole is lost as well. Once the peer SACKs three
    /// segments sent after it (more than DupThresh - 1, reordering's allowance) with the
    /// cumulative ACK still at the hole, it goes once more, before any timeout.
    @Test func lostFastRetransmissionIsSentAgainOnceLaterDataIsSACKed() throws {
        let h = try Self.established(Self.sackConfig())
        #expect(try h.write(tcpBytes(40 * 1460)).count == 10)
        let a = ourISS + 1
        var sent: [Sent] = []
        var sackedTo = a + 1460
        var k = 0
        while h.connection.counters.lostRetransmissions == 0, k < 30 {
            k += 1
            sackedTo += 1460
            sent += h.segment(seq: peerISS + 1, ack: a, options: options(sack: [(a + 1460, sackedTo)]))
        }
        let headCopies = sent.filter { $0.seq == a }
        #expect(headCopies.count == 2, "the fast retransmit, then once more when it was seen lost")
        #expect(h.connection.counters.lostRetransmissions == 1)
        #expect(h.connection.counters.retransmissionTimeouts == 0)
        // The second copy went only after three segments sent after the first copy were SACKed.
        let firstCopy = try #require(sent.firstIndex { $0.seq == a })
        let sentAfterFirstCopy = sent[(firstCopy + 1)...].filter { $0.seq > a && !$0.payload.isEmpty }
        #expect(sentAfterFirstCopy.count >= 3)
    }

    /// After a timeout, the go-back-N resends what was in flight; one of those retransmissions
    /// is lost too. RFC 6675 5.1 allows no fast recovery before RecoveryPoint, so only a second
    /// timeout would repair it; once segments resent after it are SACKed (RACK: one, as it was
    /// sent before them; DupThresh: three), it goes again.
    @Test(arguments: [TCPLossDetection.rack, .duplicateThreshold])
    func lostRetransmissionInTheGoBackNAfterATimeoutIsSentAgain(_ lossDetection: TCPLossDetection) throws {
        let h = try Self.established(Self.sackConfig(lossDetection: lossDetection))
        #expect(try h.write(tcpBytes(20 * 1460)).count == 10)
        var queue = h.advance(ms: 200)
        if lossDetection == .rack {
            // The tail loss probe comes first (new data: the flight was window-limited), and the
            // timeout one RTO after it.
            #expect(queue.map(\.seq) == [ourISS + 1 + 10 * 1460])
            queue = h.advance(ms: 200)
        }
        #expect(queue.map(\.seq) == [ourISS + 1], "the timeout resends the head")
        let hole = ourISS + 1 + 5 * 1460
        var holeCopies = 0
        var cumulative = ourISS + 1
        var sackedTo: UInt32?
        var steps = 0
        while !queue.isEmpty, steps < 200 {
            steps += 1
            let segment = queue.removeFirst()
            guard !segment.payload.isEmpty else { continue }
            let end = segment.seq + UInt32(segment.payload.count)
            if segment.seq == hole {
                holeCopies += 1
                // The go-back-N's copy of the sixth segment is lost; the next one arrives.
                if holeCopies == 1 { continue }
            }
            if segment.seq == cumulative {
                cumulative = max(end, sackedTo ?? end)
                sackedTo = nil
                queue += h.segment(seq: peerISS + 1, ack: cumulative)
            } else {
                sackedTo = max(sackedTo ?? end, end)
                queue += h.segment(
                    seq: peerISS + 1, ack: cumulative, options: options(sack: [(hole + 1460, sackedTo!)]))
            }
        }
        #expect(holeCopies == 2, "the lost retransmission went once more")
        #expect(h.connection.counters.lostRetransmissions == 1)
        #expect(h.connection.counters.retransmissionTimeouts == 1, "no second timeout")
        #expect(cumulative == ourISS + 1 + 20 * 1460, "everything arrived")
    }
}
