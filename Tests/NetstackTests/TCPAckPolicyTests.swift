// When the receiver ACKs, and what a pure ACK carries: RFC 5681 4.2 (every second full-sized
// segment, full-sized as received), Linux's quick ACKs at the start of a connection, SND.MAX in
// ACKs after go-back-N, and a bare FIN taken into a zero window. Each test feeds exact segments
// and asserts exactly what comes back.

import Netstack
import Testing
import Wire

@Suite struct TCPAckPolicyTests {
    /// RFC 5681 4.2: "an ACK SHOULD be generated for at least every second full-sized segment".
    /// A peer using timestamps sends MSS - 12 = 1448 bytes; keyed to our send MSS (1460), two
    /// of them (2896 bytes) would not count as two full segments and the ACK would wait for a
    /// third. Keyed to what arrives, the second one is ACKed at once, as Linux does.
    @Test func ackEverySecondSegmentOfTheSizeReceived() throws {
        let h = try TCPHarness.established()
        let base = peerISS + 1
        #expect(h.segment(seq: base, ack: ourISS + 1, payload: tcpBytes(1448)).isEmpty)
        let second = h.segment(seq: base + 1448, ack: ourISS + 1, payload: tcpBytes(1448))
        #expect(second.map(\.summary) == [Seg(seq: ourISS + 1, ack: base + 2896, flags: .ack)])
    }

    /// The first segment of 1448 bytes teaches the receiver the peer's size; from then on every
    /// second one is ACKed (the first alone waits for the delayed-ACK timer).
    @Test func everySecondSegmentOnceTheSizeIsKnown() throws {
        let h = try TCPHarness.established()
        let base = peerISS + 1
        var acked: [Seg] = []
        for i in 0..<6 {
            acked += h.segment(seq: base + UInt32(i * 1448), ack: ourISS + 1, payload: tcpBytes(1448)).map(\.summary)
        }
        // Segments 2, 4 and 6 are ACKed: 1448 bytes alone is not more than one segment.
        #expect(acked.map(\.ack) == [base + 2896, base + 5792, base + 8688])
    }

    /// Linux's quick-ACK mode (tcp_incr_quickack, TCP_MAX_QUICKACKS): the first data segments
    /// of a connection are each ACKed at once, so the peer's slow start is not held back by
    /// delayed ACKs; afterwards the RFC 5681 rule applies again.
    @Test func quickAcksAtTheStartOfAConnection() throws {
        var config = plainConfig()
        config.maximumQuickAcks = 3
        let h = try TCPHarness.established(config)
        let base = peerISS + 1
        var replies: [[Seg]] = []
        for i in 0..<5 {
            replies.append(
                h.segment(seq: base + UInt32(i * 1000), ack: ourISS + 1, payload: tcpBytes(1000)).map(\.summary))
        }
        #expect(replies[0] == [Seg(seq: ourISS + 1, ack: base + 1000, flags: .ack)])
        #expect(replies[1] == [Seg(seq: ourISS + 1, ack: base + 2000, flags: .ack)])
        #expect(replies[2] == [Seg(seq: ourISS + 1, ack: base + 3000, flags: .ack)])
        // Quick ACKs spent: the fourth is delayed, the fifth makes two segments unacknowledged.
        #expect(replies[3].isEmpty)
        #expect(replies[4] == [Seg(seq: ourISS + 1, ack: base + 5000, flags: .ack)])
    }

    /// After a retransmission timeout rewinds SND.NXT (go-back-N), a pure ACK carries SND.MAX,
    /// as Linux's (its snd_nxt never moves back): the peer has seen those sequence numbers.
    @Test func pureAckAfterGoBackNCarriesSndMax() throws {
        let h = try TCPHarness.established()
        let sent = try h.write(tcpBytes(4 * 1460))
        #expect(sent.count == 4)
        let retransmission = h.advance(ms: 1000)
        #expect(retransmission.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1460)])
        // Out-of-order data from the peer asks for an immediate (duplicate) ACK.
        let reply = h.segment(seq: peerISS + 101, ack: ourISS + 1, payload: tcpBytes(100))
        #expect(reply.map(\.summary) == [Seg(seq: ourISS + 1 + 4 * 1460, ack: peerISS + 1, flags: .ack)])
    }

    /// A receive window of zero takes no data, but a bare FIN at RCV.NXT is taken and ACKed
    /// (Linux's tcp_data_queue does); dropping it would leave a closed peer retrying forever.
    @Test func bareFinIntoAZeroWindowIsAccepted() throws {
        var config = plainConfig()
        config.receiveBufferSize = 2920
        config.initialReceiveWindow = 2920
        let h = try TCPHarness.established(config)
        let base = peerISS + 1
        h.segment(seq: base, ack: ourISS + 1, payload: tcpBytes(1460))
        let full = h.segment(seq: base + 1460, ack: ourISS + 1, payload: tcpBytes(1460))
        #expect(full.map(\.summary) == [Seg(seq: ourISS + 1, ack: base + 2920, flags: .ack)])
        #expect(full.first?.window == 0)
        // Data into the closed window is refused (ACK of what we have) ...
        let refused = h.segment(seq: base + 2920, ack: ourISS + 1, flags: [.ack, .fin], payload: tcpBytes(10))
        #expect(refused.map(\.summary) == [Seg(seq: ourISS + 1, ack: base + 2920, flags: .ack)])
        #expect(h.connection.state == .established)
        // ... a bare FIN is not.
        let fin = h.segment(seq: base + 2920, ack: ourISS + 1, flags: [.ack, .fin])
        #expect(fin.map(\.summary) == [Seg(seq: ourISS + 1, ack: base + 2921, flags: .ack)])
        #expect(h.connection.state == .closeWait)
        #expect(h.read().count == 2920)
        #expect(h.connection.isReadClosed)
    }
}
