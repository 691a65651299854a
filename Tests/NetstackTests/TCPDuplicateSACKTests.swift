// The receiver's D-SACK (RFC 2883): duplicate data is reported once, as the first SACK block,
// followed by the out-of-order block that holds it; the examples of RFC 2883 section 4.

import Netstack
import Testing

@Suite struct TCPDuplicateSACKTests {
    static func sackConfig() -> TCPConfig {
        var config = plainConfig()
        config.selectiveAcknowledgments = true
        return config
    }

    static func established() throws -> TCPHarness {
        try TCPHarness.established(Self.sackConfig(), peerOptions: options(mss: 1460, sackPermitted: true))
    }

    /// The SACK blocks a segment carries, as (left, right) pairs.
    static func blocks(_ sent: Sent) -> [[UInt32]] {
        sent.repr.options.sackBlocks.map { [$0.left.rawValue, $0.right.rawValue] }
    }

    /// RFC 2883 4.1.1, "Reporting a duplicate segment": an ACK was lost and the sender resent
    /// data below the cumulative ACK; the reply reports it, and only that reply does.
    @Test func duplicateBelowTheCumulativeAckIsReportedOnce() throws {
        let h = try Self.established()
        #expect(h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(1460)).isEmpty)
        #expect(h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460)).count == 1)
        let reply = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(reply.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2921, flags: .ack)])
        #expect(reply.map(Self.blocks) == [[[peerISS + 1, peerISS + 1461]]])
        #expect(h.connection.counters.duplicateSegmentsReceived == 1)
        // The next ACK (for new data, after the delayed-ACK timer) carries no block.
        #expect(h.segment(seq: peerISS + 2921, ack: ourISS + 1, payload: tcpBytes(10)).isEmpty)
        let next = h.advance(ms: 40)
        #expect(next.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2931, flags: .ack)])
        #expect(next.map(Self.blocks) == [[]])
    }

    /// A segment that is partly old: the new part is taken, the old part reported.
    @Test func partlyDuplicateSegmentReportsItsOldPart() throws {
        let h = try Self.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(1460))
        h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(h.segment(seq: peerISS + 2001, ack: ourISS + 1, payload: tcpBytes(1460)).isEmpty)
        let ack = h.advance(ms: 40)
        #expect(ack.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 3461, flags: .ack)])
        #expect(ack.map(Self.blocks) == [[[peerISS + 2001, peerISS + 2921]]])
    }

    /// RFC 2883 4.2.1, "Reporting Duplicate Out-of-order Segments": the D-SACK block first, then
    /// the out-of-order block that contains it.
    @Test func duplicateOfHeldOutOfOrderDataIsReportedWithItsBlock() throws {
        let h = try Self.established()
        let first = h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(first.map(Self.blocks) == [[[peerISS + 1461, peerISS + 2921]]])
        h.segment(seq: peerISS + 4381, ack: ourISS + 1, payload: tcpBytes(1460))
        let reply = h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(reply.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(
            reply.map(Self.blocks) == [
                [[peerISS + 1461, peerISS + 2921], [peerISS + 1461, peerISS + 2921], [peerISS + 4381, peerISS + 5841]]
            ])
    }

    /// A retransmission that fills the hole and runs on into data already held: the overlap is
    /// the duplicate (Linux's tcp_ofo_queue reports it the same way).
    @Test func segmentRunningIntoHeldDataReportsTheOverlap() throws {
        let h = try Self.established()
        h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460))
        let reply = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(2000))
        #expect(reply.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2921, flags: .ack)])
        #expect(reply.map(Self.blocks) == [[[peerISS + 1461, peerISS + 2001]]])
    }

    /// Without SACK there is nowhere to report it: the duplicate is counted, the ACK plain.
    @Test func duplicateWithoutSACKIsCountedOnly() throws {
        let h = try TCPHarness.established()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(1460))
        h.segment(seq: peerISS + 1461, ack: ourISS + 1, payload: tcpBytes(1460))
        let reply = h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(reply.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 2921, flags: .ack)])
        #expect(reply.map(Self.blocks) == [[]])
        #expect(h.connection.counters.duplicateSegmentsReceived == 1)
    }
}
