// RACK-TLP (RFC 8985) in exact segments, on a fake clock with a 40 ms round trip: losses found
// by time (a quarter of the minimum RTT of reordering allowance, none once DupThresh segments
// are SACKed, unless reordering was seen), and the tail loss probe that turns a lost tail into a
// fast recovery instead of a retransmission timeout.

import Netstack
import Testing
import Wire

@Suite struct TCPRACKTests {
    static let roundTrip: Duration = .milliseconds(40)
    static let a = ourISS + 1

    static func config(_ lossDetection: TCPLossDetection = .rack) -> TCPConfig {
        var config = plainConfig()
        config.selectiveAcknowledgments = true
        config.lossDetection = lossDetection
        return config
    }

    /// ESTABLISHED, the SYN-ACK arriving one round trip after the SYN: SRTT and the minimum RTT
    /// are 40 ms, so RACK's reordering window is 10 ms and the PTO 2 * 40 ms + 8 ms.
    static func established(_ config: TCPConfig = config()) throws -> TCPHarness {
        let h = try TCPHarness.active(config)
        _ = h.take()
        h.now = h.now + roundTrip
        h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460, sackPermitted: true))
        #expect(h.connection.smoothedRTT == roundTrip)
        return h
    }

    static func segment(_ n: UInt32) -> UInt32 { a + (n - 1) * 1460 }

    /// `count` segments sent, and one round trip later the first ACK about them due.
    static func inFlight(_ count: Int, _ config: TCPConfig = config()) throws -> TCPHarness {
        let h = try established(config)
        #expect(try h.write(tcpBytes(count * 1460)).count == count)
        h.now = h.now + roundTrip
        return h
    }

    /// The peer's ACK at `ack` with SACK blocks of segments [from, to).
    @discardableResult
    static func sack(_ h: TCPHarness, ack: UInt32 = a, _ blocks: [(from: UInt32, to: UInt32)]) -> [Sent] {
        h.segment(seq: peerISS + 1, ack: ack, options: options(sack: blocks.map { (segment($0.from), segment($0.to)) }))
    }

    /// RFC 8985 6.2 steps 4-5: one segment SACKed above a hole is not DupThresh's three, yet the
    /// hole is lost once "Segment.xmit_ts + RACK.rtt + RACK.reo_wnd" passes, RACK.reo_wnd being
    /// "RACK.min_RTT / 4". The reordering timer fires then and fast recovery resends it. The
    /// DupThresh rule, on the same ACK, waits for a timeout.
    @Test func holeBelowOneSACKedSegmentIsLostAfterAQuarterOfTheMinimumRTT() throws {
        let h = try Self.inFlight(4)
        #expect(Self.sack(h, [(2, 3)]).isEmpty)
        #expect(h.advance(ms: 9).isEmpty, "still within the reordering window")
        let sent = h.advance(ms: 1)
        #expect(sent.map(\.summary) == [Seg(seq: Self.a, ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.counters.reorderTimeouts == 1)
        #expect(h.connection.counters.fastRetransmits == 1)

        let d = try Self.inFlight(4, Self.config(.duplicateThreshold))
        #expect(Self.sack(d, [(2, 3)]).isEmpty)
        #expect(d.advance(ms: 10).isEmpty)
        #expect(d.connection.counters.fastRetransmits == 0)
    }

    /// RFC 8985 6.2 step 4: "If RACK.reordering_seen is FALSE: ... Else if RACK.segs_sacked >=
    /// DupThresh: return 0": three segments SACKed above the hole make it lost on that ACK.
    @Test func holeBelowThreeSACKedSegmentsIsLostAtOnce() throws {
        let h = try Self.inFlight(5)
        let sent = Self.sack(h, [(2, 5)])
        #expect(sent.map(\.summary) == [Seg(seq: Self.a, ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.counters.reorderTimeouts == 0)
    }

    /// RFC 8985 6.2 step 3: a segment delivered below RACK.fack that was never retransmitted
    /// ("RACK.reordering_seen = TRUE") keeps the reordering window open, even past DupThresh.
    @Test func reorderingSeenKeepsTheReorderingWindowPastThreeSACKs() throws {
        let h = try Self.inFlight(6)
        #expect(Self.sack(h, [(2, 3)]).isEmpty)
        // The first segment was only late: it arrives, and the ACK covers both.
        #expect(h.segment(seq: peerISS + 1, ack: Self.segment(3)).isEmpty)
        // The third is lost: three SACKed above it wait out the window now.
        #expect(Self.sack(h, ack: Self.segment(3), [(4, 7)]).isEmpty)
        let sent = h.advance(ms: 10)
        #expect(sent.map(\.summary) == [Seg(seq: Self.segment(3), ack: peerISS + 1, flags: .ack, length: 1460)])
    }

    /// RFC 8985 7.2-7.3: the last two segments are lost and nothing is left to send. At "PTO =
    /// 2*SRTT" (plus Linux's two ticks, 8 ms) the highest segment goes again; its SACK shows the
    /// other lost (sent before a delivered segment, more than an RTT ago), and fast recovery
    /// resends it. No timeout: the RTO would have come at 200 ms.
    @Test func tailLossProbeResendsTheLastSegmentAndRecoveryFollows() throws {
        let h = try Self.established()
        #expect(try h.write(tcpBytes(10 * 1460)).count == 10)
        h.now = h.now + Self.roundTrip
        #expect(h.segment(seq: peerISS + 1, ack: Self.segment(9)).isEmpty)
        #expect(h.advance(ms: 87).isEmpty)
        let probe = h.advance(ms: 1)
        #expect(probe.map(\.summary) == [Seg(seq: Self.segment(10), ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.counters.tailLossProbes == 1)
        h.now = h.now + Self.roundTrip
        let repair = Self.sack(h, ack: Self.segment(9), [(10, 11)])
        #expect(repair.map(\.summary) == [Seg(seq: Self.segment(9), ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.counters.retransmissionTimeouts == 0)
    }

    /// RFC 8985 7.3: "If an unsent segment exists AND the receive window allows new data to be
    /// sent: Transmit the lowest-sequence unsent segment of up to SMSS", past the congestion
    /// window; then the RTO, not another PTO, is armed.
    @Test func tailLossProbeSendsNewDataWhenThereIsSome() throws {
        let h = try Self.established()
        #expect(try h.write(tcpBytes(12 * 1460)).count == 10)
        #expect(h.advance(ms: 87).isEmpty)
        let probe = h.advance(ms: 1)
        #expect(probe.map(\.summary) == [Seg(seq: Self.segment(11), ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.counters.retransmittedSegments == 0)
        #expect(h.advance(ms: 100).isEmpty, "one probe per episode")
    }

    /// RFC 8985 7.4: the probe's D-SACK says the original had arrived (only its ACKs were lost):
    /// the episode ends with no congestion response.
    @Test func probeAnsweredByADSACKCostsNoWindow() throws {
        let h = try Self.inFlight(3)
        h.segment(seq: peerISS + 1, ack: Self.segment(2))
        let window = h.connection.congestionWindow
        #expect(h.advance(ms: 88).map(\.seq) == [Self.segment(3)])
        h.now = h.now + Self.roundTrip
        Self.sack(h, ack: Self.segment(4), [(3, 4)])
        #expect(h.connection.counters.tailLossProbeRepairs == 0)
        #expect(h.connection.congestionWindow >= window)
        #expect(h.connection.slowStartThreshold == .max)
    }

    /// RFC 8985 7.4: no D-SACK, and an ACK beyond TLP.end_seq: the probe repaired a loss, so
    /// the sender makes the "congestion control response equivalent to fast recovery".
    @Test func probeThatRepairedALossReducesTheWindow() throws {
        let h = try Self.inFlight(3)
        h.segment(seq: peerISS + 1, ack: Self.segment(2))
        #expect(h.advance(ms: 88).map(\.seq) == [Self.segment(3)])
        h.now = h.now + Self.roundTrip
        h.segment(seq: peerISS + 1, ack: Self.segment(4))
        #expect(h.connection.counters.tailLossProbeRepairs == 0, "an ACK at TLP.end_seq leaves the verdict open")
        #expect(try h.write(tcpBytes(1460)).count == 1)
        h.segment(seq: peerISS + 1, ack: Self.segment(5))
        #expect(h.connection.counters.tailLossProbeRepairs == 1)
        #expect(h.connection.slowStartThreshold < .max)
        #expect(h.connection.counters.retransmissionTimeouts == 0)
    }

    /// The log is a bounded table: past `maximumTransmissionRecords` sends fold into the last
    /// record (counted), so times get coarser, and losses below it are still found.
    @Test func fullTransmissionLogIsCountedAndLossesAreStillFound() throws {
        var config = Self.config()
        config.maximumTransmissionRecords = 4
        let h = try Self.established(config)
        for _ in 0..<10 { #expect(try h.write(tcpBytes(1460)).count == 1) }
        #expect(h.connection.counters.transmissionLogOverflows == 6)
        h.now = h.now + Self.roundTrip
        let sent = Self.sack(h, [(2, 11)])
        #expect(sent.first?.summary == Seg(seq: Self.a, ack: peerISS + 1, flags: .ack, length: 1460))
    }

    /// A receiver keeps TS.Recent for a segment above a hole (RFC 7323 4.3), so the SACK of a
    /// probe that fills in above one echoes an older TSval than the probe's. It still counts
    /// (as with Linux's tcp_rack_advance, only an RTT below the minimum makes it ambiguous):
    /// the segment below is found lost and recovered, without a timeout.
    @Test func sackOfAProbeEchoingAnOlderTimestampStillShowsTheLoss() throws {
        var config = Self.config()
        config.timestamps = true
        let h = try TCPHarness.active(config)
        _ = h.take()
        h.now = h.now + Self.roundTrip
        h.segment(
            seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack],
            options: options(mss: 1460, sackPermitted: true, timestamp: (7000, 1000)))
        let sent = try h.write(tcpBytes(10 * 1448))
        #expect(sent.count == 10)
        let stamp = try #require(sent.first?.repr.options.timestamp?.value)
        let segment = { (n: UInt32) in Self.a + (n - 1) * 1448 }
        h.now = h.now + Self.roundTrip
        h.segment(seq: peerISS + 1, ack: segment(9), options: options(timestamp: (7001, stamp)))
        let probe = h.advance(ms: 88)
        #expect(probe.map(\.seq) == [segment(10)])
        h.now = h.now + Self.roundTrip
        let repair = h.segment(
            seq: peerISS + 1, ack: segment(9),
            options: options(timestamp: (7002, stamp), sack: [(segment(10), segment(11))]))
        #expect(repair.map(\.seq) == [segment(9)])
        #expect(h.connection.counters.retransmissionTimeouts == 0)
    }

    /// The ACK of the fast retransmission empties the scoreboard while RACK holds the rest of
    /// the flight lost: pipe is what is outstanding less what is lost (none in flight), so the
    /// lost segments go at once instead of waiting for the timeout.
    @Test func lostSegmentsGoWhenAPartialAckEmptiesTheScoreboard() throws {
        let h = try Self.inFlight(10)
        #expect(Self.sack(h, [(2, 4)]).isEmpty)
        #expect(h.advance(ms: 10).map(\.seq) == [Self.a], "the reordering timer finds the first lost")
        h.now = h.now + Self.roundTrip
        let sent = h.segment(seq: peerISS + 1, ack: Self.segment(4))
        #expect(sent.first?.seq == Self.segment(4))
        #expect(h.connection.counters.retransmissionTimeouts == 0)
    }

    /// A probe whose SACK starts fast recovery ends its episode there (Linux's
    /// tcp_init_cwnd_reduction): the ACK past TLP.end_seq is not a second verdict that cuts
    /// the window again for the same loss.
    @Test func probeThatLedToARecoveryCutsTheWindowOnce() throws {
        let h = try Self.inFlight(10)
        h.segment(seq: peerISS + 1, ack: Self.segment(9))
        #expect(h.advance(ms: 88).map(\.seq) == [Self.segment(10)])
        h.now = h.now + Self.roundTrip
        #expect(Self.sack(h, ack: Self.segment(9), [(10, 11)]).map(\.seq) == [Self.segment(9)])
        let threshold = h.connection.slowStartThreshold
        h.now = h.now + Self.roundTrip
        h.segment(seq: peerISS + 1, ack: Self.segment(11))
        #expect(try h.write(tcpBytes(1460)).count == 1)
        h.segment(seq: peerISS + 1, ack: Self.segment(12))
        #expect(h.connection.counters.tailLossProbeRepairs == 0)
        #expect(h.connection.slowStartThreshold == threshold)
    }
}
