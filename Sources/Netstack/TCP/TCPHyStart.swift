// HyStart++ (RFC 9406) for CUBIC's slow start: when the round's minimum RTT rises by more than a
// threshold over the previous round's, the queue is building, so growth slows to a quarter
// (Conservative Slow Start) for a few rounds and then slow start ends, before the overshoot
// that would cost a burst of losses. An RTT that falls back below the baseline during those
// rounds means the rise was noise: slow start resumes.

import Wire

struct TCPHyStart {
    /// RFC 9406 section 4.3's constants.
    static let minRTTThreshold: Int64 = 4_000_000
    static let maxRTTThreshold: Int64 = 16_000_000
    static let minRTTDivisor: Int64 = 8
    static let samplesPerRound = 8
    static let growthDivisor = 4
    static let conservativeRounds = 5

    enum Phase: Equatable {
        /// Standard slow start: full growth.
        case slowStart
        /// Conservative Slow Start: growth divided by `growthDivisor`.
        case conservative
        /// CSS_ROUNDS rounds of CSS are over: "enter congestion avoidance by setting ssthresh
        /// to the current cwnd".
        case leaveSlowStart
    }

    /// SND.NXT when the round began ("windowEnd"); an ACK beyond it begins the next round (beyond,
    /// as Linux's HyStart tests after(ack, end_seq): an ACK of exactly the round's last byte
    /// still belongs to it). Nil before the first.
    private var windowEnd: SeqNumber?
    private var lastRoundMinRTT: Int64 = .max
    private var currentRoundMinRTT: Int64 = .max
    private var rttSampleCount = 0
    /// "cssBaselineMinRtt": set while in CSS.
    private var baselineMinRTT: Int64?
    private var conservativeRoundsDone = 0

    /// One ACK of new data in slow start, with its RTT sample if it gave one; `nextSequence` is
    /// SND.NXT (where the round that starts now will end).
    mutating func onAck(ack: SeqNumber, nextSequence: SeqNumber, rttSample: Int64?) -> Phase {
        if windowEnd.map({ ack > $0 }) ?? true {
            // "At the start of each round ... lastRoundMinRTT = currentRoundMinRTT,
            // currentRoundMinRTT = infinity, rttSampleCount = 0".
            windowEnd = nextSequence
            lastRoundMinRTT = currentRoundMinRTT
            currentRoundMinRTT = .max
            rttSampleCount = 0
            if baselineMinRTT != nil {
                conservativeRoundsDone += 1
                if conservativeRoundsDone >= Self.conservativeRounds { return .leaveSlowStart }
            }
        }
        if let rttSample {
            currentRoundMinRTT = min(currentRoundMinRTT, rttSample)
            rttSampleCount += 1
        }
        let enoughSamples = rttSampleCount >= Self.samplesPerRound && currentRoundMinRTT != .max
        if let baseline = baselineMinRTT {
            // "If currentRoundMinRTT < cssBaselineMinRtt ... resume slow start".
            if enoughSamples, currentRoundMinRTT < baseline {
                baselineMinRTT = nil
                return .slowStart
            }
            return .conservative
        }
        if enoughSamples, lastRoundMinRTT != .max {
            // "RttThresh = max(MIN_RTT_THRESH, min(lastRoundMinRTT / MIN_RTT_DIVISOR,
            // MAX_RTT_THRESH)); if (currentRoundMinRTT >= (lastRoundMinRTT + RttThresh))":
            // enter CSS with "cssBaselineMinRtt = currentRoundMinRTT".
            let threshold = max(Self.minRTTThreshold, min(lastRoundMinRTT / Self.minRTTDivisor, Self.maxRTTThreshold))
            if currentRoundMinRTT >= lastRoundMinRTT + threshold {
                baselineMinRTT = currentRoundMinRTT
                conservativeRoundsDone = 0
                return .conservative
            }
        }
        return .slowStart
    }
}
