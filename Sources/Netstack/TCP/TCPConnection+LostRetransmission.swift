// Lost retransmission of the first hole under the DupThresh rule (`TCPLossDetection.duplicateThreshold`;
// RACK finds every lost retransmission itself), seen from SACKs as Linux's tcp_mark_lost_retrans
// did before RACK: when the segment at SND.UNA went again, and the peer then
// SACKs more than DupThresh - 1 segments' worth of data sent after it while SND.UNA stays, that
// retransmission was lost too. It applies in fast recovery and in the go-back-N after a timeout
// (SND.UNA below `recover`), where RFC 6675 5.1 allows no new recovery and only another timeout
// would otherwise repair it: on a lossy path that is where most of the time goes.

import Wire

extension TCPConnection {
    /// The segment at SND.UNA goes again, and whatever is sent next starts at `nextSend` (SND.NXT
    /// after this send). SACKs already held above that point do not count toward the verdict.
    func markHeadRetransmission(at seq: SeqNumber, nextSend: SeqNumber) {
        guard seq == sndUna, sackEnabled, !usesRACK, recovering else { return }
        headRetransmission = (nextSend, scoreboard.bytes(above: nextSend))
    }

    /// SND.UNA moved. In a go-back-N the new head was already resent in this pass when it lies
    /// below SND.NXT, and what the pass sent after it starts past its end; otherwise nothing is
    /// known until it goes again.
    func headAdvanced() {
        headRetransmission = nil
        guard sackEnabled, !usesRACK, recoveryPoint == nil, sndUna < recover, sndUna < sndNxt else { return }
        let mark = sndUna &+ min(effectiveMSS, Int(sndNxt - sndUna))
        headRetransmission = (mark, scoreboard.bytes(above: mark))
    }

    /// On an ACK that left SND.UNA where it was: resend the head if data sent after its last
    /// retransmission has since been SACKed beyond reordering's allowance.
    func resendLostHeadRetransmission(now: Int64, output: inout some TCPSegmentOutput) {
        guard let (mark, sackedThen) = headRetransmission, sackEnabled, !usesRACK, recovering,
            scoreboard.bytes(above: mark) - sackedThen > 2 * sendMSS
        else { return }
        counters.lostRetransmissions += 1
        retransmit(at: sndUna, limit: scoreboard.ranges.first?.left, now: now, output: &output)
    }
}
