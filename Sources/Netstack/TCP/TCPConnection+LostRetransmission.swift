// Lost retransmission of the first hole, seen from SACKs (before RACK, Linux's
// tcp_mark_lost_retrans did the same): when the segment at SND.UNA was retransmitted with SND.MAX
// at M, and the peer then SACKs more than DupThresh - 1 segments' worth sent after M while SND.UNA
// stays, that retransmission was lost too. RFC 6675 alone leaves it to the retransmission timer,
// which on a lossy path is where most of the time goes.

import Wire

extension TCPConnection {
    /// Remembers SND.MAX as the segment at SND.UNA goes again during SACK recovery.
    func markHeadRetransmission(at seq: SeqNumber) {
        guard seq == sndUna, recoveryPoint != nil, sackEnabled else { return }
        headRetransmittedAt = sndMax
    }

    /// On an ACK of a SACK recovery that left SND.UNA where it was: resend the head if data sent
    /// after its last retransmission has been SACKed beyond reordering's allowance.
    func resendLostHeadRetransmission(now: Int64, output: inout some TCPSegmentOutput) {
        guard let mark = headRetransmittedAt, recoveryPoint != nil, sackEnabled,
            scoreboard.bytes(above: mark) > 2 * sendMSS
        else { return }
        counters.lostRetransmissions += 1
        retransmit(at: sndUna, limit: scoreboard.ranges.first?.left, now: now, output: &output)
    }
}
