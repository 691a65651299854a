// SYN cookies that keep the SYN's options: with timestamps, window scale and SACK-permitted ride
// in the low bits of our TSval and come back in the ACK's TSecr (Linux's cookie_init_timestamp).

import Netstack
import Testing
import Wire

@Suite struct TCPSynCookieTests {
    static func config(timestamps: Bool = true) -> TCPConfig {
        var config = plainConfig()
        config.windowScaling = true
        config.timestamps = timestamps
        config.selectiveAcknowledgments = true
        return config
    }

    static let cookieFlow = TCPListenerTests.flow(port: 2)

    /// A listener whose one half-open slot is taken, so the next SYN gets a cookie.
    static func fullListener(timestamps: Bool = true) throws -> TCPListenerTests.Fixture {
        let f = TCPListenerTests.Fixture(config: config(timestamps: timestamps), synBacklog: 1)
        f.now = .milliseconds(5_000)
        _ = try #require(f.syn(TCPListenerTests.flow(port: 1)))
        return f
    }

    static func ack(_ synAck: Sent, window: UInt16, options o: TCPOptions) -> TCPRepr {
        TCPRepr(
            sourcePort: cookieFlow.remote.port, destinationPort: cookieFlow.local.port,
            sequenceNumber: seq(peerISS + 1), acknowledgmentNumber: seq(synAck.seq + 1), flags: .ack,
            window: window, urgentPointer: 0, options: o, payloadLength: 0)
    }

    @Test func cookieKeepsWindowScaleSACKAndTimestamps() throws {
        let f = try Self.fullListener()
        let synOptions = options(mss: 1460, windowScale: 7, sackPermitted: true, timestamp: (777, 0))
        let synAck = try #require(f.syn(Self.cookieFlow, options: synOptions))
        #expect(f.listener.counters.cookiesSent == 1)
        let offered = synAck.repr.options
        #expect(offered.mss == 1460)
        #expect(offered.windowScale == 1)
        #expect(offered.sackPermitted)
        let ts = try #require(offered.timestamp)
        #expect(ts.echo == 777)
        #expect(ts.value & 0x3F == 0x17, "window scale 7 and SACK-permitted in TSval's low bits")

        let (made, replies) = f.feed(
            Self.ack(synAck, window: 100, options: options(timestamp: (778, ts.value))), flow: Self.cookieFlow)
        #expect(replies.isEmpty)
        let connection = try #require(made)
        #expect(f.listener.counters.cookiesAccepted == 1)
        #expect(connection.state == .established)
        #expect(connection.peerWindow == 100 << 7, "the peer's window scale came back from TSecr")

        // Out-of-order data: the ACK carries a SACK block and timestamps, echoing the last
        // in-sequence TSval (RFC 7323 4.3: a segment past a hole does not update TS.Recent).
        var out = Capture()
        let data = TCPRepr(
            sourcePort: Self.cookieFlow.remote.port, destinationPort: Self.cookieFlow.local.port,
            sequenceNumber: seq(peerISS + 101), acknowledgmentNumber: seq(synAck.seq + 1), flags: .ack,
            window: 100, urgentPointer: 0, options: options(timestamp: (779, ts.value)), payloadLength: 10)
        tcpBytes(10).withUnsafeBytes { connection.handle(data, payload: $0, now: f.now, output: &out) }
        let reply = try #require(out.take().first)
        #expect(reply.repr.options.sackBlocks.map { $0.left.rawValue } == [peerISS + 101])
        let echoed = try #require(reply.repr.options.timestamp)
        #expect(echoed.echo == 778)
        // Our clock never ran backwards from the SYN-ACK's rounded-down TSval.
        #expect((0..<64).contains(Int32(bitPattern: echoed.value &- ts.value)))
    }

    @Test func cookieWithoutWindowScaleDecodesNone() throws {
        let f = try Self.fullListener()
        let synAck = try #require(f.syn(Self.cookieFlow, options: options(mss: 1460, timestamp: (777, 0))))
        let ts = try #require(synAck.repr.options.timestamp)
        #expect(synAck.repr.options.windowScale == nil)
        #expect(!synAck.repr.options.sackPermitted)
        let (made, _) = f.feed(
            Self.ack(synAck, window: 100, options: options(timestamp: (778, ts.value))), flow: Self.cookieFlow)
        #expect(try #require(made).peerWindow == 100)
    }

    /// Without timestamps there is nowhere to keep WS and SACK: the cookie offers the MSS alone.
    @Test func cookieWithoutTimestampsOffersTheMSSAlone() throws {
        let f = try Self.fullListener()
        let synAck = try #require(
            f.syn(Self.cookieFlow, options: options(mss: 1400, windowScale: 7, sackPermitted: true)))
        let offered = synAck.repr.options
        #expect(offered.mss == 1360)
        #expect(offered.windowScale == nil)
        #expect(!offered.sackPermitted)
        #expect(offered.timestamp == nil)
        let (made, _) = f.feed(Self.ack(synAck, window: 100, options: TCPOptions()), flow: Self.cookieFlow)
        let connection = try #require(made)
        #expect(connection.peerWindow == 100)
        #expect(connection.maximumSegmentSize == 1360)
    }

    /// An ACK echoing a timestamp the listener cannot have sent (its timestamps are off) is no
    /// valid cookie answer (Linux's cookie_timestamp_decode refuses it too).
    @Test func cookieAckWithTimestampsThatAreOffIsRefused() throws {
        let f = try Self.fullListener(timestamps: false)
        let synAck = try #require(f.syn(Self.cookieFlow, options: options(mss: 1460, timestamp: (777, 0))))
        #expect(synAck.repr.options.timestamp == nil)
        let forged = Self.ack(synAck, window: 100, options: options(timestamp: (778, 0x1F)))
        let (made, replies) = f.feed(forged, flow: Self.cookieFlow)
        #expect(made == nil)
        #expect(replies.map(\.summary) == [Seg(seq: synAck.seq + 1, flags: .rst)])
        #expect(f.listener.counters.cookiesRejected == 1)
    }
}
