// Loss recovery: fast retransmit after three duplicate ACKs, NewReno partial ACKs (RFC 6582),
// SACK-based recovery (RFC 6675), D-SACK tolerance, congestion response of both algorithms.

import Netstack
import Testing
import Wire

@Suite struct TCPRecoveryTests {
    static func sackConfig() -> TCPConfig {
        var config = plainConfig()
        config.selectiveAcknowledgments = true
        return config
    }

    /// Four full segments in flight: 1001..<6841.
    static func fourSegmentsInFlight(_ config: TCPConfig = plainConfig(), sack: Bool = false) throws -> TCPHarness {
        let h = try TCPHarness.established(config, peerOptions: options(mss: 1460, sackPermitted: sack))
        #expect(try h.write(tcpBytes(5840)).count == 4)
        return h
    }

    @Test func threeDuplicateAcksTriggerFastRetransmit() throws {
        let h = try Self.fourSegmentsInFlight()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1).isEmpty)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1).isEmpty)
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        #expect(h.connection.counters.fastRetransmits == 1)
        #expect(h.connection.counters.duplicateAcksReceived == 3)
    }

    @Test func ackWithWindowChangeIsNotDuplicate() throws {
        let h = try Self.fourSegmentsInFlight()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 60000)
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 50000)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 40000).isEmpty)
        #expect(h.connection.counters.fastRetransmits == 0)
    }

    @Test func cubicReducesWindowBySeventyPercent() throws {
        let h = try Self.fourSegmentsInFlight()
        for _ in 0..<3 { h.segment(seq: peerISS + 1, ack: ourISS + 1) }
        // RFC 9438: ssthresh = cwnd * 0.7 = 14600 * 0.7; without SACK the NewReno recovery
        // mechanics then inflate by 3 * SMSS (RFC 6582 3.2 step 2).
        #expect(h.connection.slowStartThreshold == 10220)
        #expect(h.connection.congestionWindow == 10220 + 3 * 1460)
    }

    @Test func newRenoHalvesAndInflates() throws {
        var config = plainConfig()
        config.congestionControl = .newReno
        let h = try Self.fourSegmentsInFlight(config)
        for _ in 0..<3 { h.segment(seq: peerISS + 1, ack: ourISS + 1) }
        // RFC 5681: ssthresh = FlightSize / 2; RFC 6582: cwnd = ssthresh + 3 * SMSS.
        #expect(h.connection.slowStartThreshold == 2920)
        #expect(h.connection.congestionWindow == 2920 + 3 * 1460)
        h.segment(seq: peerISS + 1, ack: ourISS + 1)
        #expect(h.connection.congestionWindow == 2920 + 4 * 1460)
    }

    @Test func newRenoPartialAckRetransmitsNextSegment() throws {
        let h = try Self.fourSegmentsInFlight()
        for _ in 0..<3 { h.segment(seq: peerISS + 1, ack: ourISS + 1) }
        let sent = h.segment(seq: peerISS + 1, ack: ourISS + 1461)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1461, ack: peerISS + 1, flags: .ack, length: 1460)])
    }

    @Test func fullAckLeavesRecovery() throws {
        let h = try Self.fourSegmentsInFlight()
        for _ in 0..<3 { h.segment(seq: peerISS + 1, ack: ourISS + 1) }
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 5841).isEmpty)
        // RFC 6582: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
        #expect(h.connection.congestionWindow == 2920)
        // Out of recovery, three more duplicates trigger a new fast retransmit.
        try h.write(tcpBytes(5840))
        for _ in 0..<2 { h.segment(seq: peerISS + 1, ack: ourISS + 5841) }
        #expect(h.connection.counters.fastRetransmits == 1)
    }

    @Test func sackNegotiatedOnlyWhenBothOffer() throws {
        let h = try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460))
        let sent = h.segment(seq: peerISS + 101, ack: ourISS + 1, payload: tcpBytes(10))
        #expect(sent.first?.repr.options.sackBlocks.isEmpty == true)
    }

    @Test func outOfOrderAckCarriesSackMostRecentFirst() throws {
        let h = try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460, sackPermitted: true))
        let first = h.segment(seq: peerISS + 101, ack: ourISS + 1, payload: tcpBytes(100))
        #expect(
            first.first.map { Array($0.repr.options.sackBlocks) } == [
                SACKBlock(left: seq(peerISS + 101), right: seq(peerISS + 201))
            ])
        let second = h.segment(seq: peerISS + 301, ack: ourISS + 1, payload: tcpBytes(100))
        // RFC 2018: the block holding the segment that triggered this ACK comes first.
        #expect(
            second.first.map { Array($0.repr.options.sackBlocks) } == [
                SACKBlock(left: seq(peerISS + 301), right: seq(peerISS + 401)),
                SACKBlock(left: seq(peerISS + 101), right: seq(peerISS + 201))
            ])
    }

    /// Under RFC 6675's DupThresh rule (RACK, the default, is TCPRACKTests).
    @Test func sackRecoveryRetransmitsTheHole() throws {
        var config = Self.sackConfig()
        config.lossDetection = .duplicateThreshold
        let h = try TCPHarness.established(config, peerOptions: options(mss: 1460, sackPermitted: true))
        #expect(try h.write(tcpBytes(8760)).count == 6)
        #expect(
            h.segment(seq: peerISS + 1, ack: ourISS + 1, options: options(sack: [(ourISS + 1461, ourISS + 2921)]))
                .isEmpty)
        #expect(
            h.segment(seq: peerISS + 1, ack: ourISS + 1, options: options(sack: [(ourISS + 1461, ourISS + 4381)]))
                .isEmpty)
        // RFC 6675 IsLost(SND.UNA): more than (DupThresh - 1) * SMSS bytes SACKed above it. With
        // no new data to send and room in the window, NextSeg rule 4's rescue retransmission
        // follows: the segment holding the highest unSACKed byte, once per recovery.
        let sent = h.segment(
            seq: peerISS + 1, ack: ourISS + 1, options: options(sack: [(ourISS + 1461, ourISS + 5841)]))
        #expect(
            sent.map(\.summary) == [
                Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: ourISS + 7301, ack: peerISS + 1, flags: .ack, length: 1460)
            ])
    }

    @Test func sackRecoveryRetransmitsEveryLostHole() throws {
        let h = try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460, sackPermitted: true))
        #expect(try h.write(tcpBytes(8760)).count == 6)
        let sent = h.segment(
            seq: peerISS + 1, ack: ourISS + 1,
            options: options(sack: [(ourISS + 1461, ourISS + 2921), (ourISS + 4381, ourISS + 8761)]))
        #expect(
            sent.map(\.summary) == [
                Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460),
                Seg(seq: ourISS + 2921, ack: peerISS + 1, flags: .ack, length: 1460)
            ])
    }

    @Test func sackedDataSkippedAfterTimeout() throws {
        let h = try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460, sackPermitted: true))
        try h.write(tcpBytes(4380))
        h.segment(seq: peerISS + 1, ack: ourISS + 1, options: options(sack: [(ourISS + 1461, ourISS + 2921)]))
        #expect(
            h.advance(ms: 200).map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        // After the ACK, the SACKed middle segment is not resent.
        let sent = h.segment(
            seq: peerISS + 1, ack: ourISS + 1461, options: options(sack: [(ourISS + 1461, ourISS + 2921)]))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 2921, ack: peerISS + 1, flags: [.ack, .psh], length: 1460)])
    }

    @Test func dsackBlockIsTolerated() throws {
        let h = try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460, sackPermitted: true))
        try h.write(tcpBytes(2920))
        // RFC 2883: the first block reports a duplicate below the cumulative ACK.
        let sent = h.segment(
            seq: peerISS + 1, ack: ourISS + 1461, options: options(sack: [(ourISS + 1, ourISS + 1461)]))
        #expect(sent.isEmpty)
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 2921).isEmpty)
        #expect(h.connection.unacknowledgedBytes == 0)
        #expect(h.connection.counters.fastRetransmits == 0)
    }

    @Test func bogusSackBeyondSentDataIgnored() throws {
        let h = try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460, sackPermitted: true))
        try h.write(tcpBytes(1460))
        let sent = h.segment(
            seq: peerISS + 1, ack: ourISS + 1, options: options(sack: [(ourISS + 100_000, ourISS + 200_000)]))
        #expect(sent.isEmpty)
        #expect(h.connection.counters.fastRetransmits == 0)
    }
}
