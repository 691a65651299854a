// Options: window scaling arithmetic (RFC 7323 section 2), timestamps and PAWS (sections 3-5).

import Netstack
import Testing
import Wire

@Suite struct TCPOptionTests {
    static func scalingConfig() -> TCPConfig {
        var config = plainConfig()
        config.windowScaling = true
        config.receiveBufferSize = 256 * 1024
        return config
    }

    static func timestampConfig() -> TCPConfig {
        var config = plainConfig()
        config.timestamps = true
        return config
    }

    @Test func windowScaleShiftsPeerWindowAfterSyn() throws {
        let h = try TCPHarness.established(
            Self.scalingConfig(), peerOptions: options(mss: 1460, windowScale: 2), peerWindow: 1000)
        // "The window field in a SYN ... is never scaled."
        #expect(h.connection.peerWindow == 1000)
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 1000)
        #expect(h.connection.peerWindow == 4000)
    }

    @Test func largeScaledWindow() throws {
        let h = try TCPHarness.established(Self.scalingConfig(), peerOptions: options(mss: 1460, windowScale: 7))
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 65535)
        #expect(h.connection.peerWindow == 65535 << 7)
    }

    @Test func windowScaleAbove14IsClamped() throws {
        let h = try TCPHarness.established(Self.scalingConfig(), peerOptions: options(mss: 1460, windowScale: 15))
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 1)
        #expect(h.connection.peerWindow == 1 << 14)
    }

    @Test func windowScaleUnusedWhenPeerOmitsIt() throws {
        let h = try TCPHarness.active(Self.scalingConfig())
        #expect(h.take().first?.repr.options.windowScale == 3)
        let ack = h.segment(
            seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], window: 1000, options: options(mss: 1460))
        #expect(ack.first?.window == 65535)
        h.segment(seq: peerISS + 1, ack: ourISS + 1, window: 1000)
        #expect(h.connection.peerWindow == 1000)
    }

    @Test func advertisedWindowIsScaledDown() throws {
        let h = try TCPHarness.established(Self.scalingConfig(), peerOptions: options(mss: 1460, windowScale: 2))
        h.segment(seq: peerISS + 1, ack: ourISS + 1, payload: tcpBytes(100))
        let sent = h.advance(ms: 40)
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 101, flags: .ack)])
        #expect(sent.first?.window == UInt16((65535 - 100) >> 3))
    }

    @Test func timestampsNegotiatedAndEchoed() throws {
        let h = try TCPHarness.active(Self.timestampConfig())
        #expect(h.take().first?.repr.options.timestamp?.value == ourISS)
        let sent = h.segment(
            seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460, timestamp: (500, ourISS)))
        let ts = try #require(sent.first?.repr.options.timestamp)
        #expect(ts.value == ourISS)
        #expect(ts.echo == 500)
    }

    @Test func timestampsOffWhenPeerOmitsThem() throws {
        let h = try TCPHarness.active(Self.timestampConfig())
        _ = h.take()
        let sent = h.segment(seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460))
        #expect(sent.first?.repr.options.timestamp == nil)
    }

    static func timestampHarness() throws -> TCPHarness {
        try TCPHarness.established(Self.timestampConfig(), peerOptions: options(mss: 1460, timestamp: (500, ourISS)))
    }

    @Test func pawsRejectsOldTimestamp() throws {
        let h = try Self.timestampHarness()
        let sent = h.segment(
            seq: peerISS + 1, ack: ourISS + 1, options: options(timestamp: (400, ourISS)), payload: tcpBytes(10))
        #expect(sent.map(\.summary) == [Seg(seq: ourISS + 1, ack: peerISS + 1, flags: .ack)])
        #expect(h.read().isEmpty)
        #expect(h.connection.counters.pawsRejected == 1)
    }

    @Test func pawsAcceptsEqualTimestamp() throws {
        let h = try Self.timestampHarness()
        #expect(
            h.segment(
                seq: peerISS + 1, ack: ourISS + 1, options: options(timestamp: (500, ourISS)), payload: tcpBytes(10)
            ).isEmpty)
        #expect(h.read() == tcpBytes(10))
    }

    @Test func pawsAcceptsWrappedNewerTimestamp() throws {
        let h = try TCPHarness.established(
            Self.timestampConfig(), peerOptions: options(mss: 1460, timestamp: (0xFFFF_FFF0, ourISS)))
        #expect(
            h.segment(
                seq: peerISS + 1, ack: ourISS + 1, options: options(timestamp: (5, ourISS)), payload: tcpBytes(10)
            ).isEmpty)
        #expect(h.read() == tcpBytes(10))
    }

    @Test func pawsDoesNotBlockReset() throws {
        let h = try Self.timestampHarness()
        h.segment(seq: peerISS + 1, flags: .rst, options: options(timestamp: (1, 0)))
        #expect(h.connection.state == .closed)
    }

    @Test func tsRecentFollowsInOrderSegments() throws {
        let h = try Self.timestampHarness()
        h.segment(seq: peerISS + 1, ack: ourISS + 1, options: options(timestamp: (600, ourISS)), payload: tcpBytes(10))
        let sent = h.advance(ms: 40)
        let ts = try #require(sent.first?.repr.options.timestamp)
        #expect(ts.echo == 600)
        #expect(ts.value == ourISS + 40)
    }

    @Test func rttMeasuredFromTimestampEcho() throws {
        let h = try TCPHarness.active(Self.timestampConfig())
        _ = h.take()
        h.now = .milliseconds(50)
        h.segment(
            seq: peerISS, ack: ourISS + 1, flags: [.syn, .ack], options: options(mss: 1460, timestamp: (500, ourISS)))
        #expect(h.connection.smoothedRTT == .milliseconds(50))
        let data = try h.write(tcpBytes(10))
        let echo = try #require(data.first?.repr.options.timestamp?.value)
        h.now = h.now + .milliseconds(100)
        h.segment(seq: peerISS + 1, ack: ourISS + 11, options: options(timestamp: (510, echo)))
        // SRTT = 7/8 * 50 + 1/8 * 100.
        #expect(h.connection.smoothedRTT == .microseconds(56_250))
    }

    @Test func sackBlocksLimitedToThreeWithTimestamps() throws {
        var config = Self.timestampConfig()
        config.selectiveAcknowledgments = true
        let h = try TCPHarness.established(
            config, peerOptions: options(mss: 1460, sackPermitted: true, timestamp: (500, ourISS)))
        var last: [Sent] = []
        for i in 0..<5 {
            last = h.segment(
                seq: peerISS + 101 + UInt32(i) * 200, ack: ourISS + 1, options: options(timestamp: (500, ourISS)),
                payload: tcpBytes(100))
        }
        #expect(last.first?.repr.options.sackBlocks.count == 3)
        #expect(
            last.first?.repr.options.sackBlocks.first == SACKBlock(left: seq(peerISS + 901), right: seq(peerISS + 1001))
        )
    }

    @Test func fullSegmentLeavesRoomForTimestampOption() throws {
        let h = try Self.timestampHarness()
        let sent = try h.write(tcpBytes(3000))
        // RFC 6691: the MSS excludes options; 12 bytes of timestamps come out of each segment.
        #expect(sent.map(\.payload.count) == [1448, 1448, 104])
        #expect(sent.allSatisfy { $0.repr.headerLength + $0.payload.count <= 1460 + 20 })
    }
}
