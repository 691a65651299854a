// RFC 6191 / RFC 1122 4.2.2.13: a SYN may reopen a four-tuple in TIME-WAIT only when it cannot
// be an old duplicate (`TCPConnection.acceptsNewIncarnation`).

import Netstack
import Testing
import Wire

@Suite struct TCPTimeWaitReuseTests {
    /// A connection that closed actively and sits in TIME-WAIT; the peer's FIN was at
    /// peerISS + 1, so RCV.NXT is peerISS + 2.
    static func timeWait(
        _ config: TCPConfig = plainConfig(), peerOptions: TCPOptions = options(mss: 1460),
        finOptions: TCPOptions = TCPOptions()
    ) throws -> TCPHarness {
        let h = try TCPHarness.established(config, peerOptions: peerOptions)
        h.connection.shutdownWrite()
        _ = h.advance(ms: 0)
        h.segment(seq: peerISS + 1, ack: ourISS + 2, flags: [.ack, .fin], options: finOptions)
        #expect(h.connection.state == .timeWait)
        return h
    }

    static func syn(seq s: UInt32, options o: TCPOptions = TCPOptions()) -> TCPRepr {
        TCPRepr(
            sourcePort: peerAddress.port, destinationPort: ourAddress.port, sequenceNumber: seq(s),
            acknowledgmentNumber: seq(0), flags: .syn, window: 65535, urgentPointer: 0, options: o, payloadLength: 0)
    }

    @Test func withoutTimestampsOnlyASequenceBeyondTheOldOneReopens() throws {
        let h = try Self.timeWait()
        #expect(h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS + 100_000)))
        #expect(!h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS + 2)))
        #expect(!h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS - 100)))
        var synAck = Self.syn(seq: peerISS + 100_000)
        synAck.flags = [.syn, .ack]
        #expect(!h.connection.acceptsNewIncarnation(synAck))
    }

    @Test func withTimestampsOnlyANewerTimestampReopens() throws {
        var config = plainConfig()
        config.timestamps = true
        let h = try Self.timeWait(
            config, peerOptions: options(mss: 1460, timestamp: (700, 0)),
            finOptions: options(timestamp: (800, 0)))
        // Newer TSval: a new incarnation, even with a sequence number below the old one.
        #expect(h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS - 100, options: options(timestamp: (900, 0)))))
        // Not newer, or no timestamp at all: possibly an old duplicate.
        #expect(
            !h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS + 100_000, options: options(timestamp: (800, 0))))
        )
        #expect(!h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS + 100_000)))
    }

    @Test func onlyTimeWaitIsReopened() throws {
        let h = try TCPHarness.established()
        #expect(!h.connection.acceptsNewIncarnation(Self.syn(seq: peerISS + 100_000)))
    }
}
