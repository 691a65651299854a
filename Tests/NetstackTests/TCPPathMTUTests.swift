// Path MTU discovery (RFC 1191, RFC 8201) with RFC 5927's checks of the quoted segment: what a
// "fragmentation needed" / "packet too big" report does to the segment size and to what is in
// flight, which reports are ignored, and the same through the stack from an ICMP frame.

import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct TCPPathMTUTests {
    /// Two full segments and a short one in flight (MSS 1460).
    static func inFlight() throws -> TCPHarness {
        let h = try TCPHarness.established()
        #expect(try h.write(tcpBytes(3000)).count == 3)
        return h
    }

    /// RFC 1191: the next-hop MTU becomes the segment size's bound, and what was in flight goes
    /// again at once in the new size, with the congestion window kept in segments.
    @Test func fragmentationNeededLowersTheMSSAndResendsInTheNewSize() throws {
        let h = try Self.inFlight()
        let lowered = h.connection.handlePathMTU(
            reportedMTU: 1300, quotedSequence: seq(ourISS + 1), quotedLength: 1500, now: h.now, output: &h.out)
        #expect(lowered)
        #expect(h.connection.maximumSegmentSize == 1260)
        #expect(
            h.take().map(\.summary) == [
                Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack, length: 1260),
                Seg(seq: ourISS + 1261, ack: peerISS + 1, flags: .ack, length: 1260),
                Seg(seq: ourISS + 2521, ack: peerISS + 1, flags: [.ack, .psh], length: 480)
            ])
        #expect(h.connection.congestionWindow == 10 * 1260)
        #expect(h.connection.counters.pathMTUReductions == 1)
        #expect(h.connection.counters.retransmissionTimeouts == 0)
    }

    /// The resend is a go-back-N of its own: the duplicate ACKs it draws (the peer already held
    /// the first copies of a flight the report was about) start no fast retransmit, as the
    /// echoes of a timeout's go-back-N do not (RFC 6582 3.2 step 1's `recover`; Linux's
    /// tcp_simple_retransmit sets high_seq).
    @Test func duplicateAcksAfterTheResendStartNoFastRetransmit() throws {
        let h = try Self.inFlight()
        #expect(
            h.connection.handlePathMTU(
                reportedMTU: 1300, quotedSequence: seq(ourISS + 1), quotedLength: 1500, now: h.now, output: &h.out))
        _ = h.take()
        h.segment(seq: peerISS + 1, ack: ourISS + 1461)
        for _ in 0..<3 { h.segment(seq: peerISS + 1, ack: ourISS + 1461) }
        #expect(h.connection.counters.fastRetransmits == 0)
    }

    /// RFC 5927 4.1: the quoted sequence number must lie in SND.UNA =< SEG.SEQ < SND.NXT; a
    /// report about data already acknowledged, or never sent, is forged or stale.
    @Test func reportQuotingASequenceOutsideTheFlightIsIgnored() throws {
        let h = try Self.inFlight()
        h.segment(seq: peerISS + 1, ack: ourISS + 1461)
        for quoted in [ourISS + 1, ourISS + 3001, ourISS + 100_000] {
            let lowered = h.connection.handlePathMTU(
                reportedMTU: 1300, quotedSequence: seq(quoted), quotedLength: 1500, now: h.now, output: &h.out)
            #expect(!lowered)
        }
        #expect(h.take().isEmpty)
        #expect(h.connection.maximumSegmentSize == 1460)
        #expect(h.connection.counters.pathMTUMessagesIgnored == 3)
    }

    /// RFC 1191 section 3: "A host MUST never increase its estimate of the Path MTU in response
    /// to the contents of a Datagram Too Big message"; nor does a report not below the size of
    /// the datagram it quotes come from a router that dropped it.
    @Test func reportThatIsNoReductionIsIgnored() throws {
        let h = try Self.inFlight()
        let quoted = seq(ourISS + 1)
        #expect(
            !h.connection.handlePathMTU(
                reportedMTU: 9000, quotedSequence: quoted, quotedLength: 1500, now: h.now, output: &h.out))
        #expect(
            !h.connection.handlePathMTU(
                reportedMTU: 1500, quotedSequence: quoted, quotedLength: 1500, now: h.now, output: &h.out))
        #expect(
            !h.connection.handlePathMTU(
                reportedMTU: 1400, quotedSequence: quoted, quotedLength: 1400, now: h.now, output: &h.out))
        #expect(h.take().isEmpty)
        #expect(h.connection.maximumSegmentSize == 1460)
    }

    /// RFC 5927 section 7: a forged tiny MTU would shrink segments to a few bytes; IPv4 stops at
    /// 552 (Linux's min_pmtu), IPv6 at its 1280-byte minimum link MTU (RFC 8201 section 4).
    @Test func reportsBelowTheFloorStopAtTheMinimumPathMTU() throws {
        let h = try Self.inFlight()
        #expect(
            h.connection.handlePathMTU(
                reportedMTU: 100, quotedSequence: seq(ourISS + 1), quotedLength: 1500, now: h.now, output: &h.out))
        #expect(h.connection.maximumSegmentSize == 512)

        let flow6 = TCPFlowID(
            local: TCPSocketAddress(.v6(stackIP6), 80), remote: TCPSocketAddress(.v6(peerIP6), 49152))
        let h6 = try TCPHarness.established(peerOptions: options(mss: 1440), flow: flow6)
        #expect(try h6.write(tcpBytes(3000)).count == 3)
        #expect(
            h6.connection.handlePathMTU(
                reportedMTU: 1000, quotedSequence: seq(ourISS + 1), quotedLength: 1500, now: h6.now, output: &h6.out))
        #expect(h6.connection.maximumSegmentSize == 1220)
        #expect(h6.take().first?.payload.count == 1220)
    }

    /// RFC 1191 section 5: a router that predates it reports no MTU; the host takes "the
    /// largest plateau value that is less than the returned Total Length field".
    @Test func reportWithoutAnMTUUsesThePlateauBelowTheQuotedLength() throws {
        let h = try Self.inFlight()
        #expect(
            h.connection.handlePathMTU(
                reportedMTU: 0, quotedSequence: seq(ourISS + 1), quotedLength: 1500, now: h.now, output: &h.out))
        #expect(h.connection.maximumSegmentSize == 1492 - 40)
    }

    /// The whole path: our data leaves at MSS 1460, a router's ICMP "fragmentation needed"
    /// (MTU 1300) quoting the first segment's IP header and TCP ports and sequence arrives, and
    /// the data goes again in 1260-byte segments.
    @Test func fragmentationNeededThroughTheStack() throws {
        let h = Harness()
        h.learnPeer()
        let tcp = TCPTransport(stack: h.stack)
        let flow = TCPFlowID(local: TCPSocketAddress(.v4(stackIP), 40000), remote: TCPSocketAddress(.v4(remoteIP), 80))
        var out = tcp.output
        let connection = try TCPConnection.connect(flow: flow, iss: seq(100), now: h.clock.now, output: &out)
        tcp.demux.register(connection)
        h.stack.flush()
        _ = h.link.takeWrittenFrames()
        let synAck = TCPRepr(
            sourcePort: 80, destinationPort: 40000, sequenceNumber: seq(5000), acknowledgmentNumber: seq(101),
            flags: [.syn, .ack], window: 65535, urgentPointer: 0, options: options(mss: 1460), payloadLength: 0)
        h.receive(TCPGatewayAdmissionTests.frame(synAck, from: remoteIP, to: stackIP))
        h.stack.flush()
        _ = h.link.takeWrittenFrames()

        _ = try tryWrite(connection, tcpBytes(3000)).get()
        connection.poll(now: h.clock.now, output: &out)
        h.stack.flush()
        let sent = h.link.takeWrittenFrames()
        #expect(
            sent.map(DecodedFrame.init).compactMap(TCPGatewayAdmissionTests.tcp).map(\.segment.payloadLength) == [
                1460, 1460, 80
            ])
        let quote = Array(try #require(sent.first)[14..<42])
        let icmp = FrameBuilder.icmp(.destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: 1300), data: quote)
        h.receiveIPv4(FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .icmp, payload: icmp))
        h.stack.flush()
        let resent = h.link.takeWrittenFrames().map(DecodedFrame.init).compactMap(TCPGatewayAdmissionTests.tcp)
        #expect(resent.map(\.segment.payloadLength) == [1260, 1260, 480])
        #expect(resent.allSatisfy { $0.ip.dontFragment })
        #expect(connection.maximumSegmentSize == 1260)
        #expect(tcp.counters.icmpErrors == 1)
    }
}
