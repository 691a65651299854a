// Congestion window management: NewReno (RFC 5681, RFC 6582) and CUBIC (RFC 9438).
// The window is kept in bytes; CUBIC's curve is computed in segments as the RFC writes it.
// Which segments to (re)send during recovery is the sender's job (TCPConnection+Send); this
// file only answers "how big may the window be".

import Wire

/// Selectable congestion control.
public enum TCPCongestionControlAlgorithm: Sendable, Hashable {
    case newReno
    case cubic
}

struct TCPCongestionControl {
    let algorithm: TCPCongestionControlAlgorithm
    private(set) var mss: Int
    private(set) var cwnd: Int
    private(set) var ssthresh: Int = .max
    /// Bytes acknowledged toward the next +1 MSS in congestion avoidance (RFC 5681 byte counting).
    private var bytesAckedInAvoidance = 0
    /// CUBIC's initial slow start ends by HyStart++ (RFC 9406); nil once slow start ended or a
    /// loss was seen (it "is used only in the initial slow start").
    private var hystart: TCPHyStart?

    // CUBIC state (RFC 9438 section 4), in segments and seconds.
    private static let beta = 0.7
    private static let c = 0.4
    private var wMax = 0.0
    private var k = 0.0
    private var epochStart: Int64?
    private var cwndEpoch = 0.0
    private var wEst = 0.0

    init(algorithm: TCPCongestionControlAlgorithm, mss: Int) {
        self.algorithm = algorithm
        self.mss = max(mss, 1)
        cwnd = Self.initialWindow(mss: self.mss)
        if algorithm == .cubic { hystart = TCPHyStart() }
    }

    /// RFC 6928: "IW = min (10*MSS, max (2*MSS, 14600))".
    static func initialWindow(mss: Int) -> Int { min(10 * mss, max(2 * mss, 14600)) }

    mutating func setMSS(_ newMSS: Int) {
        mss = max(newMSS, 1)
        cwnd = Self.initialWindow(mss: mss)
    }

    /// A smaller segment size mid-connection (path MTU discovery): the windows keep their size in
    /// segments, as Linux's packet-counted cwnd does, so the path sees no more packets than before.
    mutating func reduceMSS(to newMSS: Int) {
        let newMSS = max(newMSS, 1)
        guard newMSS < mss else { return }
        cwnd = max(cwnd / mss * newMSS, 2 * newMSS)
        if ssthresh != .max { ssthresh = max(ssthresh / mss * newMSS, 2 * newMSS) }
        mss = newMSS
    }

    /// A larger segment size after a path MTU probe passed: the windows keep their bytes.
    mutating func raiseMSS(to newMSS: Int) {
        guard newMSS > mss else { return }
        mss = newMSS
        cwnd = max(cwnd, 2 * newMSS)
    }

    var inSlowStart: Bool { cwnd < ssthresh }

    /// Far above any window the 30-bit scaled window field can express; keeps an
    /// application-limited connection's cwnd from growing without bound.
    static let maximumWindow = 1 << 30

    /// New data was acknowledged outside loss recovery, by `ack` with SND.NXT at `nextSequence`;
    /// `rttSample` is the RTT this ACK measured, if it measured one.
    mutating func onAck(
        ackedBytes: Int, now: Int64, smoothedRTT: Int64?, ack: SeqNumber, nextSequence: SeqNumber,
        rttSample: Int64?
    ) {
        guard ackedBytes > 0, cwnd < Self.maximumWindow else { return }
        if inSlowStart {
            // RFC 5681 + RFC 3465 (L = 2): "cwnd += min (N, SMSS)", allowing two segments.
            var growth = min(ackedBytes, 2 * mss)
            switch hystart?.onAck(ack: ack, nextSequence: nextSequence, rttSample: rttSample) {
            case .conservative:
                // RFC 9406 4.2: "cwnd = cwnd + (min(N, L * SMSS) / CSS_GROWTH_DIVISOR)".
                growth /= TCPHyStart.growthDivisor
            case .leaveSlowStart:
                ssthresh = cwnd
                hystart = nil
                return
            case .slowStart, nil:
                break
            }
            cwnd += growth
            return
        }
        switch algorithm {
        case .newReno:
            // "cwnd += SMSS*SMSS/cwnd" per ACK, done as byte counting: +1 SMSS per cwnd acked.
            bytesAckedInAvoidance += ackedBytes
            if bytesAckedInAvoidance >= cwnd {
                bytesAckedInAvoidance -= cwnd
                cwnd += mss
            }
        case .cubic:
            cubicAvoidance(ackedBytes: ackedBytes, now: now, rtt: smoothedRTT ?? 100_000_000)
        }
    }

    private mutating func cubicAvoidance(ackedBytes: Int, now: Int64, rtt: Int64) {
        let segments = Double(cwnd) / Double(mss)
        if epochStart == nil {
            // Section 4.2: a new congestion-avoidance epoch starts.
            epochStart = now
            cwndEpoch = segments
            wEst = segments
            if wMax < segments { wMax = segments }
            k = wMax > cwndEpoch ? cbrt((wMax - cwndEpoch) / Self.c) : 0
        }
        let t = Double(now - (epochStart ?? now)) / 1e9
        let rttSeconds = Double(rtt) / 1e9
        let acked = Double(ackedBytes) / Double(mss)
        // Section 4.3: "W_est = W_est + alpha_cubic * segments_acked / cwnd".
        let alpha = 3 * (1 - Self.beta) / (1 + Self.beta)
        wEst += alpha * acked / segments
        let cubicNow = Self.c * pow3(t - k) + wMax
        var next: Double
        if cubicNow < wEst {
            // Section 4.3: "CUBIC is in the Reno-friendly region and cwnd SHOULD be set to W_est".
            next = wEst
        } else {
            // Section 4.4: "target = W_cubic(t + RTT)", clamped to [cwnd, 1.5 * cwnd];
            // "cwnd MUST be incremented by (target - cwnd) / cwnd" per acknowledged segment.
            let target = min(max(Self.c * pow3(t + rttSeconds - k) + wMax, segments), 1.5 * segments)
            next = segments + (target - segments) / segments * acked
        }
        next = min(max(next, segments), Double(Self.maximumWindow / mss))
        if next.isFinite { cwnd = max(Int(next * Double(mss)), cwnd) }
    }

    private func pow3(_ x: Double) -> Double { x * x * x }

    private func cbrt(_ x: Double) -> Double {
        guard x > 0 else { return 0 }
        // Newton's method; libm's cbrt is not reachable without Foundation/Glibc here.
        var y = x > 1 ? x / 3 : 1
        for _ in 0..<40 { y -= (y * y * y - x) / (3 * y * y) }
        return y
    }

    /// Fast retransmit: returns the new ssthresh and sets cwnd to it (RFC 6675 section 5 step 4
    /// and RFC 9438 section 4.6).
    mutating func onFastRetransmit(flightSize: Int) {
        reduce(flightSize: flightSize)
        cwnd = ssthresh
    }

    /// A tail loss probe repaired a loss (RFC 8985 7.4): "invoke a congestion control response
    /// equivalent to fast recovery", entered and left at once (Linux's CWR state).
    mutating func onLossRepairedByProbe(flightSize: Int) {
        reduce(flightSize: flightSize)
        cwnd = ssthresh
    }

    /// Retransmission timeout: "cwnd ... MUST be set to no more than the loss window, LW, which
    /// equals 1 full-sized segment" (RFC 5681 section 3.1). `holdingThreshold`: a repeated
    /// timeout of the same segment, which leaves ssthresh as the first one set it.
    mutating func onRetransmissionTimeout(flightSize: Int, holdingThreshold: Bool) {
        if !holdingThreshold { reduce(flightSize: flightSize) }
        cwnd = mss
    }

    /// RFC 5681 4.1: "if the TCP has not sent data in an interval exceeding the retransmission
    /// timeout", "cwnd = min(RW, cwnd)" with RW the initial window: a window learned before the
    /// pause no longer describes the path. ssthresh is kept, so slow start climbs back.
    mutating func restartAfterIdle() {
        cwnd = min(cwnd, Self.initialWindow(mss: mss))
        bytesAckedInAvoidance = 0
        epochStart = nil
    }

    /// RFC 6582: on leaving recovery "Set cwnd to either (1) min (ssthresh, max(FlightSize, SMSS)
    /// + SMSS) or (2) ssthresh".
    mutating func onRecoveryExit(flightSize: Int) {
        cwnd = min(ssthresh, max(flightSize, mss) + mss)
        epochStart = nil
    }

    /// Proportional Rate Reduction sets the window on each ACK of a SACK recovery (RFC 6937).
    mutating func setRecoveryWindow(_ bytes: Int) { cwnd = max(bytes, mss) }

    /// NewReno window inflation during recovery without SACK ("cwnd = ssthresh + 3*SMSS", then
    /// "+ SMSS" for each additional duplicate ACK, RFC 6582 section 3.2).
    mutating func inflate(by bytes: Int) { cwnd += bytes }
    mutating func deflate(by bytes: Int) { cwnd = max(cwnd - bytes, mss) }

    private mutating func reduce(flightSize: Int) {
        bytesAckedInAvoidance = 0
        hystart = nil
        switch algorithm {
        case .newReno:
            // "ssthresh = max (FlightSize / 2, 2*SMSS)" (RFC 5681 equation 4).
            ssthresh = max(flightSize / 2, 2 * mss)
        case .cubic:
            let segments = Double(cwnd) / Double(mss)
            // Section 4.7 fast convergence: "if cwnd < W_max ... W_max = cwnd * (1 + beta_cubic) / 2".
            wMax = segments < wMax ? segments * (1 + Self.beta) / 2 : segments
            // "ssthresh = cwnd * beta_cubic", at least 2 segments.
            ssthresh = max(Int(Double(cwnd) * Self.beta), 2 * mss)
            epochStart = nil
        }
    }
}
