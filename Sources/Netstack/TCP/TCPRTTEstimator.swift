// Retransmission timeout per RFC 6298, in nanoseconds.

struct TCPRTTEstimator {
    private(set) var smoothed: Int64? // SRTT
    private(set) var variance: Int64 = 0 // RTTVAR
    private(set) var rto: Int64
    /// The least RTT sampled over the last `minimumWindow` (RFC 8985 "RACK.min_RTT"; Linux's
    /// windowed tcp_min_rtt): RACK's reordering window is a quarter of it.
    private(set) var minimumSample: Int64?
    private var minimumSampledAt: Int64 = 0
    /// Linux's tcp_min_rtt_wlen, 300 s: a path that got slower is believed after five minutes.
    private let minimumWindow: Int64 = 300_000_000_000
    let minimum: Int64
    let maximum: Int64
    /// Clock granularity G; our clock is the caller's, so 1 ms is a safe floor.
    private let granularity: Int64 = 1_000_000

    init(initial: Int64, minimum: Int64, maximum: Int64) {
        self.minimum = minimum
        self.maximum = maximum
        rto = initial
    }

    mutating func sample(_ measured: Int64, at now: Int64) {
        let r = max(measured, 0)
        // A zero reading means the ACK came within one tick of the caller's clock (one pass of
        // its event loop): it says nothing of the path, and a zero minimum would close RACK's
        // reordering window.
        if r > 0, r <= minimumSample ?? .max || now - minimumSampledAt > minimumWindow {
            minimumSample = r
            minimumSampledAt = now
        }
        if let srtt = smoothed {
            // "RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'|; SRTT <- (1 - alpha) * SRTT + alpha * R'"
            variance = (3 * variance + abs(srtt - r)) / 4
            smoothed = (7 * srtt + r) / 8
        } else {
            // "SRTT <- R, RTTVAR <- R/2"
            smoothed = r
            variance = r / 2
        }
        // "RTO <- SRTT + max (G, K*RTTVAR)", "rounded up to 1 second" is relaxed to `minimum`
        // as every deployed stack does (RFC 6298 section 2.4 allows a smaller minimum).
        let srtt = smoothed ?? r
        rto = clamp(srtt + max(granularity, 4 * variance))
    }

    /// "The host MUST set RTO <- RTO * 2 ("back off the timer")."
    mutating func backOff() {
        rto = clamp(rto > maximum / 2 ? maximum : rto * 2)
    }

    private func clamp(_ value: Int64) -> Int64 { min(max(value, minimum), maximum) }
}
