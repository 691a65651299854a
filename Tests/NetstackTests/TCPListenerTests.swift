// Passive open: the listener's half-open table, SYN cookies under a flood, the accept queue,
// and the demux that routes segments (including "accept for any destination").

import Netstack
import Testing
import Wire

@Suite struct TCPListenerTests {
    static func flow(port: UInt16 = 49152) -> TCPFlowID {
        TCPFlowID(local: ourAddress, remote: TCPSocketAddress(peerAddress.address, port))
    }

    static func segment(
        _ flow: TCPFlowID, seq s: UInt32, ack a: UInt32 = 0, flags: TCPFlags,
        options o: TCPOptions = TCPOptions(), payload: Int = 0
    ) -> TCPRepr {
        TCPRepr(
            sourcePort: flow.remote.port, destinationPort: flow.local.port, sequenceNumber: seq(s),
            acknowledgmentNumber: seq(a), flags: flags, window: 65535, urgentPointer: 0, options: o,
            payloadLength: payload)
    }

    final class Fixture {
        let listener: TCPListener
        var out = Capture()
        var now = NetstackInstant.zero

        init(
            config: TCPConfig = plainConfig(), synBacklog: Int = 16, acceptBacklog: Int = 16,
            budget: TCPMemoryBudget? = nil
        ) {
            listener = TCPListener(
                config: config, synBacklog: synBacklog, acceptBacklog: acceptBacklog,
                secret: (0x0123_4567, 0x89AB_CDEF), budget: budget)
        }

        @discardableResult
        func feed(_ segment: TCPRepr, flow: TCPFlowID, payload: [UInt8] = []) -> (TCPConnection?, [Sent]) {
            let connection = payload.withUnsafeBytes {
                listener.handle(segment, payload: $0, flow: flow, now: now, output: &out)
            }
            return (connection, out.take())
        }

        /// Sends a SYN and returns the SYN-ACK.
        func syn(_ flow: TCPFlowID, options o: TCPOptions = options(mss: 1460)) -> Sent? {
            let (_, sent) = feed(TCPListenerTests.segment(flow, seq: peerISS, flags: .syn, options: o), flow: flow)
            #expect(sent.count == 1)
            return sent.first
        }

        func complete(_ flow: TCPFlowID, synAck: Sent, payload: [UInt8] = []) -> (TCPConnection?, [Sent]) {
            feed(
                TCPListenerTests.segment(
                    flow, seq: peerISS + 1, ack: synAck.seq + 1, flags: .ack, payload: payload.count),
                flow: flow, payload: payload)
        }
    }

    /// RFC 6528 3: ISN = M + F(four-tuple, secret), M a 4 us clock. Same tuple, same instant:
    /// same ISN; 4 us later: one more; another tuple or another secret: unrelated.
    @Test func initialSequenceNumbersFollowRFC6528() {
        let listener = TCPListener(config: plainConfig(), secret: (1, 2))
        let flow = Self.flow()
        let t0 = NetstackInstant(nanoseconds: 1_000_000)
        let isn = listener.initialSequenceNumber(for: flow, now: t0)
        #expect(listener.initialSequenceNumber(for: flow, now: t0) == isn)
        #expect(listener.initialSequenceNumber(for: flow, now: t0 + .microseconds(4)) == isn &+ 1)
        #expect(listener.initialSequenceNumber(for: flow, now: t0 + .seconds(1)) == isn &+ 250_000)
        #expect(listener.initialSequenceNumber(for: Self.flow(port: 49153), now: t0) != isn)
        let other = TCPListener(config: plainConfig(), secret: (3, 4))
        #expect(other.initialSequenceNumber(for: flow, now: t0) != isn)
    }

    /// RFC 9293 3.10.7.4 in SYN-RECEIVED: the first check is the window, so when the ACK that
    /// completes the handshake is lost together with the first data segment, the next
    /// segment (in window, beyond IRS+1) completes it; its bytes wait out of order and the
    /// reply is a duplicate ACK for IRS+1 (Linux's tcp_check_req does the same).
    @Test func handshakeCompletesOnAnInWindowSegmentBeyondIRSPlusOne() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        let later = Self.segment(
            Self.flow(), seq: peerISS + 1 + 1000, ack: synAck.seq + 1, flags: .ack, payload: 500)
        let (connection, sent) = f.feed(later, flow: Self.flow(), payload: tcpBytes(500))
        #expect(connection?.state == .established)
        #expect(f.listener.pendingAcceptCount == 1)
        #expect(sent.map(\.summary) == [Seg(seq: synAck.seq + 1, ack: peerISS + 1, flags: .ack)])
        #expect(f.listener.counters.resetsSent == 0)
    }

    /// "If an incoming segment is not acceptable, an acknowledgment should be sent in reply":
    /// outside the offered window, SYN-RECEIVED answers with <SEQ=SND.NXT><ACK=RCV.NXT>, not RST.
    @Test func segmentOutsideTheOfferedWindowInSynReceivedIsAcked() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        let beyond = Self.segment(Self.flow(), seq: peerISS + 1 + 70_000, ack: synAck.seq + 1, flags: .ack)
        let (connection, sent) = f.feed(beyond, flow: Self.flow())
        #expect(connection == nil)
        #expect(sent.map(\.summary) == [Seg(seq: synAck.seq + 1, ack: peerISS + 1, flags: .ack)])
        #expect(f.listener.halfOpenCount == 1)
    }

    /// A bad acknowledgment in SYN-RECEIVED still gets "<SEQ=SEG.ACK><CTL=RST>".
    @Test func wrongAcknowledgmentInSynReceivedIsReset() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        let wrong = Self.segment(Self.flow(), seq: peerISS + 1, ack: synAck.seq + 7, flags: .ack)
        let (_, sent) = f.feed(wrong, flow: Self.flow())
        #expect(sent.map(\.summary) == [Seg(seq: synAck.seq + 7, ack: 0, flags: .rst)])
    }

    @Test func synIsAnsweredWithSynAck() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.ack == peerISS + 1)
        #expect(synAck.repr.options.mss == 1460)
        #expect(synAck.repr.options.windowScale == nil)
        #expect(synAck.flow == Self.flow())
        #expect(f.listener.halfOpenCount == 1)
    }

    @Test func synAckOffersOnlyOptionsThePeerOffered() throws {
        var config = TCPConfig()
        config.receiveBufferSize = 256 * 1024
        let f = Fixture(config: config)
        let rich = try #require(
            f.syn(
                Self.flow(port: 1), options: options(mss: 1460, windowScale: 7, sackPermitted: true, timestamp: (77, 0))
            ))
        #expect(rich.repr.options.windowScale == 3)
        #expect(rich.repr.options.sackPermitted)
        #expect(rich.repr.options.timestamp?.echo == 77)
        let bare = try #require(f.syn(Self.flow(port: 2), options: options(mss: 1460)))
        #expect(bare.repr.options.windowScale == nil)
        #expect(!bare.repr.options.sackPermitted)
        #expect(bare.repr.options.timestamp == nil)
    }

    @Test func ackCompletesHandshakeIntoAcceptQueue() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        let (connection, sent) = f.complete(Self.flow(), synAck: synAck)
        #expect(sent.isEmpty)
        #expect(connection?.state == .established)
        #expect(f.listener.halfOpenCount == 0)
        #expect(f.listener.pendingAcceptCount == 1)
        #expect(f.listener.accept() === connection)
        #expect(f.listener.accept() == nil)
    }

    @Test func handshakeAckCarryingDataIsDelivered() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        let (connection, _) = f.complete(Self.flow(), synAck: synAck, payload: tcpBytes(100))
        #expect(connection?.availableToRead == 100)
    }

    @Test func acceptedConnectionSendsWithNegotiatedOptions() throws {
        var config = plainConfig()
        config.selectiveAcknowledgments = true
        let f = Fixture(config: config)
        let synAck = try #require(f.syn(Self.flow(), options: options(mss: 1000, sackPermitted: true)))
        let (connection, _) = f.complete(Self.flow(), synAck: synAck)
        let c = try #require(connection)
        #expect(c.maximumSegmentSize == 1000)
        _ = tryWrite(c, tcpBytes(2500))
        c.poll(now: f.now, output: &f.out)
        #expect(
            f.out.take().map(\.summary) == [
                Seg(seq: synAck.seq + 1, ack: peerISS + 1, flags: .ack, length: 1000),
                Seg(seq: synAck.seq + 1001, ack: peerISS + 1, flags: .ack, length: 1000),
                Seg(seq: synAck.seq + 2001, ack: peerISS + 1, flags: [.ack, .psh], length: 500)
            ])
    }

    @Test func strayAckIsReset() {
        let f = Fixture()
        let (_, sent) = f.feed(Self.segment(Self.flow(), seq: 9, ack: 1234, flags: .ack), flow: Self.flow())
        #expect(sent.map(\.summary) == [Seg(seq: 1234, flags: .rst)])
        #expect(f.listener.counters.resetsSent == 1)
    }

    @Test func wrongHandshakeAckIsReset() throws {
        let f = Fixture()
        let synAck = try #require(f.syn(Self.flow()))
        let (connection, sent) = f.feed(
            Self.segment(Self.flow(), seq: peerISS + 1, ack: synAck.seq + 5, flags: .ack), flow: Self.flow())
        #expect(connection == nil)
        #expect(sent.map(\.summary) == [Seg(seq: synAck.seq + 5, flags: .rst)])
    }

    @Test func resetRemovesHalfOpenEntry() throws {
        let f = Fixture()
        _ = f.syn(Self.flow())
        let (_, sent) = f.feed(Self.segment(Self.flow(), seq: peerISS + 1, flags: .rst), flow: Self.flow())
        #expect(sent.isEmpty)
        #expect(f.listener.halfOpenCount == 0)
    }

    @Test func retransmittedSynGetsSameSynAck() throws {
        let f = Fixture()
        let first = try #require(f.syn(Self.flow()))
        let second = try #require(f.syn(Self.flow()))
        #expect(first.seq == second.seq)
        #expect(f.listener.halfOpenCount == 1)
    }

    @Test func synAckRetransmittedThenExpired() throws {
        var config = plainConfig()
        config.maximumSynRetransmissions = 2
        let f = Fixture(config: config)
        let synAck = try #require(f.syn(Self.flow()))
        f.listener.poll(now: .milliseconds(999), output: &f.out)
        #expect(f.out.take().isEmpty)
        f.listener.poll(now: .milliseconds(1000), output: &f.out)
        #expect(f.out.take().map(\.summary) == [Seg(seq: synAck.seq, ack: peerISS + 1, flags: [.syn, .ack])])
        f.listener.poll(now: .milliseconds(3000), output: &f.out)
        #expect(f.out.take().count == 1)
        f.listener.poll(now: .milliseconds(7000), output: &f.out)
        #expect(f.out.take().isEmpty)
        #expect(f.listener.halfOpenCount == 0)
        #expect(f.listener.counters.halfOpenExpired == 1)
    }

    @Test func synFloodFallsBackToCookies() throws {
        let f = Fixture(synBacklog: 4)
        var synAcks: [Sent] = []
        for port in UInt16(1000)..<1010 {
            synAcks.append(try #require(f.syn(Self.flow(port: port))))
        }
        #expect(f.listener.halfOpenCount == 4)
        #expect(f.listener.counters.cookiesSent == 6)
        // A client answering a cookie SYN-ACK still gets its connection.
        let cookieFlow = Self.flow(port: 1009)
        let (connection, sent) = f.complete(cookieFlow, synAck: synAcks[9])
        #expect(sent.isEmpty)
        #expect(connection?.state == .established)
        #expect(connection?.maximumSegmentSize == 1460)
        #expect(f.listener.counters.cookiesAccepted == 1)
    }

    @Test func cookieFromAnotherFlowIsRejected() throws {
        let f = Fixture(synBacklog: 1)
        _ = f.syn(Self.flow(port: 1))
        let cookie = try #require(f.syn(Self.flow(port: 2)))
        let (connection, sent) = f.complete(Self.flow(port: 3), synAck: cookie)
        #expect(connection == nil)
        #expect(sent.map(\.summary) == [Seg(seq: cookie.seq + 1, flags: .rst)])
        #expect(f.listener.counters.cookiesRejected == 1)
    }

    @Test func expiredCookieIsRejected() throws {
        let f = Fixture(synBacklog: 1)
        _ = f.syn(Self.flow(port: 1))
        let cookie = try #require(f.syn(Self.flow(port: 2)))
        f.now = .milliseconds(200_000)
        let (connection, _) = f.complete(Self.flow(port: 2), synAck: cookie)
        #expect(connection == nil)
    }

    @Test func fullAcceptQueueDropsHandshakeAck() throws {
        let f = Fixture(acceptBacklog: 1)
        let a = try #require(f.syn(Self.flow(port: 1)))
        let b = try #require(f.syn(Self.flow(port: 2)))
        #expect(f.complete(Self.flow(port: 1), synAck: a).0 != nil)
        let (second, sent) = f.complete(Self.flow(port: 2), synAck: b)
        #expect(second == nil)
        #expect(sent.isEmpty)
        #expect(f.listener.counters.acceptQueueOverflows == 1)
        #expect(f.listener.halfOpenCount == 1)
    }

    @Test func budgetRefusalResetsHandshake() throws {
        let f = Fixture(budget: TCPMemoryBudget(limit: 1024))
        let synAck = try #require(f.syn(Self.flow()))
        let (connection, sent) = f.complete(Self.flow(), synAck: synAck)
        #expect(connection == nil)
        #expect(sent.map(\.summary) == [Seg(seq: synAck.seq + 1, flags: .rst)])
        #expect(f.listener.counters.budgetRefusals == 1)
    }

    // MARK: Demux

    @Test func demuxResetsSegmentsForNoConnection() {
        let demux = TCPDemux()
        var out = Capture()
        let syn = Self.segment(Self.flow(), seq: peerISS, flags: .syn)
        demux.deliver(
            syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: Self.flow(), now: .zero, output: &out)
        #expect(out.take().map(\.summary) == [Seg(seq: 0, ack: peerISS + 1, flags: [.rst, .ack])])
        #expect(demux.counters.resetsForStrays == 1)
    }

    @Test func demuxRoutesHandshakeAndData() throws {
        let demux = TCPDemux()
        let listener = TCPListener(config: plainConfig(), secret: (1, 2))
        demux.listen(listener, port: 80)
        var out = Capture()
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        demux.deliver(
            Self.segment(Self.flow(), seq: peerISS, flags: .syn), payload: empty, flow: Self.flow(), now: .zero,
            output: &out)
        let synAck = try #require(out.take().first)
        demux.deliver(
            Self.segment(Self.flow(), seq: peerISS + 1, ack: synAck.seq + 1, flags: .ack), payload: empty,
            flow: Self.flow(), now: .zero, output: &out)
        #expect(demux.connections.count == 1)
        let data = tcpBytes(10)
        data.withUnsafeBytes {
            demux.deliver(
                Self.segment(Self.flow(), seq: peerISS + 1, ack: synAck.seq + 1, flags: .ack, payload: 10),
                payload: $0, flow: Self.flow(), now: .zero, output: &out)
        }
        #expect(listener.accept()?.availableToRead == 10)
    }

    @Test func demuxAnyListenerAcceptsAnyDestination() throws {
        let demux = TCPDemux()
        demux.listenAny(TCPListener(config: plainConfig(), secret: (3, 4)))
        var out = Capture()
        let elsewhere = TCPFlowID(local: TCPSocketAddress(.v4(IPv4Address(192, 0, 2, 7)), 443), remote: peerAddress)
        demux.deliver(
            Self.segment(elsewhere, seq: peerISS, flags: .syn), payload: UnsafeRawBufferPointer(start: nil, count: 0),
            flow: elsewhere, now: .zero, output: &out)
        let synAck = try #require(out.take().first)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.flow.local == elsewhere.local)
        #expect(synAck.repr.sourcePort == 443)
    }

    @Test func demuxDropsClosedConnections() throws {
        let demux = TCPDemux()
        var out = Capture()
        let c = try TCPConnection.connect(
            flow: testFlow, config: plainConfig(), iss: seq(ourISS), now: .zero, output: &out)
        demux.register(c)
        _ = out.take()
        let rst = TCPRepr(
            sourcePort: peerAddress.port, destinationPort: ourAddress.port, sequenceNumber: seq(0),
            acknowledgmentNumber: seq(ourISS + 1), flags: [.rst, .ack], window: 0, urgentPointer: 0,
            options: TCPOptions(), payloadLength: 0)
        demux.deliver(
            rst, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: testFlow, now: .zero, output: &out)
        #expect(demux.connections.isEmpty)
        #expect(c.error == .connectionRefused)
    }
}
