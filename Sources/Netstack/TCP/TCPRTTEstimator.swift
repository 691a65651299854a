// Retransmission timeout per RFC 6298, in nanoseconds.

struct TCPRTTEstimator {
    private(set) var smoothed: Int64? // SRTT
    private(set) var variance: Int64 = 0 // RTTVAR
    private(set) var rto: Int64
    let minimum: Int64
    let maximum: Int64
    /// Clock granularity G; our clock is the caller's, so 1 ms is a safe floor.
    private let granularity: Int64 = 1_000_000

    init(initial: Int64, minimum: Int64, maximum: Int64) {
        self.minimum = minimum
        self.maximum = maximum
        rto = initial
    }

    mutating func sample(_ measured: Int64) {
        let r = max(measured, 0)
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
