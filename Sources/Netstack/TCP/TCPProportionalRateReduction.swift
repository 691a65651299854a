// Proportional Rate Reduction (RFC 6937) for SACK loss recovery: instead of halting until the
// flight drains to the new window and then bursting, each ACK during recovery lets out data in
// proportion to what it delivered, so the flight reaches ssthresh smoothly by the end of
// recovery; below ssthresh, slow start rebuilds it at most one MSS ahead of the ACKs (PRR-SSRB).

struct TCPProportionalRateReduction {
    /// "RecoverFS = snd.nxt - snd.una": the flight when recovery began.
    private let recoverFS: Int
    /// "prr_delivered": bytes the receiver got (cumulatively or by SACK) since recovery began.
    private var delivered = 0
    /// "prr_out": bytes sent since recovery began.
    private(set) var sent = 0

    init(flightSize: Int) { recoverFS = max(flightSize, 1) }

    /// "On any data transmission or retransmission: prr_out += (data sent)".
    mutating func didSend(_ bytes: Int) { sent += bytes }

    /// RFC 6937 section 3.1, "On every ACK during recovery": the congestion window after an ACK
    /// that delivered `deliveredNow` bytes, with `pipe` in flight.
    mutating func window(deliveredNow: Int, pipe: Int, ssthresh: Int, mss: Int) -> Int {
        delivered += deliveredNow
        let sendCount: Int
        if pipe > ssthresh {
            // "sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out"
            sendCount = (delivered * ssthresh + recoverFS - 1) / recoverFS - sent
        } else {
            // Slow Start Reduction Bound: "limit = MAX(prr_delivered - prr_out, DeliveredData) +
            // MSS; sndcnt = MIN(ssthresh - pipe, limit)".
            let limit = max(delivered - sent, deliveredNow) + mss
            sendCount = min(ssthresh - pipe, limit)
        }
        return pipe + max(sendCount, 0)
    }
}
