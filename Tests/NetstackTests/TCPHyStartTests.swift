// HyStart++ (RFC 9406) in CUBIC's slow start, driven by exact RTT samples: the peer echoes our
// timestamps as if each ACK took the round-trip time the test chooses (RFC 7323 RTTM).

import Netstack
import Testing
import Wire

@Suite struct TCPHyStartTests {
    static func established(_ algorithm: TCPCongestionControlAlgorithm = .cubic) throws -> TCPHarness {
        var config = plainConfig()
        config.timestamps = true
        config.windowScaling = true
        config.congestionControl = algorithm
        config.sendBufferSize = 1 << 20
        return try TCPHarness.established(
            config, peerOptions: options(mss: 1460, windowScale: 7, timestamp: (1, 0)))
    }

    /// The window's growth at one ACK, and the bytes that ACK acknowledged.
    struct Step: Equatable {
        var growth: Int
        var acked: Int
        var isSlowStart: Bool { growth == acked }
        var isConservative: Bool { growth == acked / 4 }
    }

    /// One round: send a window's worth, then acknowledge each segment as if it took `rtt` ms.
    static func round(_ h: TCPHarness, rttMs: UInt32) throws -> [Step] {
        h.advance(ms: 1)
        let sent = try h.write(tcpBytes(min(h.connection.writableSpace, h.connection.congestionWindow)))
        let nowMs = UInt32(h.now.nanoseconds / 1_000_000)
        var steps: [Step] = []
        for segment in sent where !segment.payload.isEmpty {
            let before = h.connection.congestionWindow
            // Our TSval is the millisecond clock plus the ISS (RFC 7323 5.4's offset).
            let echo = nowMs &- rttMs &+ ourISS
            h.segment(
                seq: peerISS + 1, ack: segment.seq + UInt32(segment.payload.count),
                options: options(timestamp: (nowMs, echo)))
            steps.append(Step(growth: h.connection.congestionWindow - before, acked: segment.payload.count))
        }
        return steps
    }

    /// RFC 9406 4.2: the round's minimum RTT rose by at least RttThresh (max(4 ms, min(10 / 8,
    /// 16) ms) = 4 ms here) over the last round's: after N_RTT_SAMPLE (8) samples, growth drops to
    /// a quarter (Conservative Slow Start); CSS_ROUNDS (5) rounds later slow start ends with
    /// ssthresh = cwnd.
    @Test func risingRTTLeavesSlowStartThroughConservativeSlowStart() throws {
        let h = try Self.established()
        for _ in 0..<3 {
            let steps = try Self.round(h, rttMs: 10)
            #expect(steps.allSatisfy { $0.isSlowStart })
        }
        let rising = try Self.round(h, rttMs: 20)
        #expect(rising.prefix(7).allSatisfy { $0.isSlowStart }, "slow start until 8 samples")
        #expect(rising.count > 8 && rising.dropFirst(7).allSatisfy { $0.isConservative }, "then a quarter")
        for _ in 0..<4 {
            let steps = try Self.round(h, rttMs: 20)
            #expect(steps.allSatisfy { $0.isConservative })
            #expect(h.connection.slowStartThreshold == .max)
        }
        // The fifth round boundary in CSS: congestion avoidance from the current window.
        let cwnd = h.connection.congestionWindow
        _ = try Self.round(h, rttMs: 20)
        #expect(h.connection.slowStartThreshold == cwnd)
    }

    /// "If currentRoundMinRTT < cssBaselineMinRtt" during CSS the rise was noise: slow start
    /// resumes at full growth after the round's 8 samples.
    @Test func rttFallingBackDuringConservativeSlowStartResumesSlowStart() throws {
        let h = try Self.established()
        for _ in 0..<3 { _ = try Self.round(h, rttMs: 10) }
        _ = try Self.round(h, rttMs: 20)
        let falling = try Self.round(h, rttMs: 12)
        #expect(falling.prefix(7).allSatisfy { $0.isConservative })
        #expect(falling.count > 8 && falling.dropFirst(7).allSatisfy { $0.isSlowStart })
        #expect(h.connection.slowStartThreshold == .max)
    }

    /// HyStart++ is CUBIC's here: NewReno's slow start grows fully whatever the RTT does.
    @Test func newRenoSlowStartIgnoresTheRTT() throws {
        let h = try Self.established(.newReno)
        for _ in 0..<3 { _ = try Self.round(h, rttMs: 10) }
        let steps = try Self.round(h, rttMs: 30)
        #expect(steps.allSatisfy { $0.isSlowStart })
    }
}
