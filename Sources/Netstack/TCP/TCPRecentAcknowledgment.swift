// RACK, the time-based half of RACK-TLP (RFC 8985 section 6): a segment is lost once a segment
// sent after it has been delivered and more than a round trip plus a reordering window has passed
// since it was sent. That needs what DupThresh counting never had: when each stretch of sequence
// space was last sent. This file keeps that transmission log (in sequence order, cut where SACKs
// and retransmissions need a boundary) and the RACK variables; TCPConnection+RACK.swift feeds it
// sends and ACKs and acts on what it finds.

import DequeModule
import Wire

/// A stretch of sequence space sent in one go: RFC 8985 6.1's per-segment variables, for one
/// segment or a TSO burst (cut later where a SACK or a retransmission needs a boundary).
struct TCPTransmission: Equatable {
    var left: SeqNumber
    var right: SeqNumber
    /// "Segment.xmit_ts": the latest transmission.
    var sentAt: Int64
    /// Where that transmission stands in the order of sends. RFC 8985 orders sends by time,
    /// then end sequence ("RACK_sent_after"); a counter orders them exactly, also when a
    /// retransmission shares its instant with the original of a later segment. The parts of one
    /// send share its number and are ordered by sequence, as the RFC does for one instant.
    var sendOrder: UInt64
    /// "Segment.retransmitted".
    var retransmitted: Bool
    /// Delivered by a SACK block.
    var sacked = false
    /// "Segment.lost": marked lost and not sent again since.
    var lost = false
    var length: Int { Int(right - left) }
}

struct TCPRecentAcknowledgment {
    /// Records cover [SND.UNA, SND.MAX) without gaps, in sequence order.
    private(set) var log: Deque<TCPTransmission> = []
    /// Most records kept; past it, sends fold into the last record and splits are skipped, so
    /// times get coarser (a record looks as recent as its latest part: RACK then errs late, and
    /// the RTO still backs it).
    var limit: Int
    /// Sends folded, or boundaries not cut, because the log was full.
    private(set) var overflows = 0
    /// Bytes of records marked lost and not resent: what RFC 6675's pipe leaves out as lost.
    private(set) var lostBytes = 0

    /// "RACK.xmit_ts": the most recently sent of the delivered segments, and its send order
    /// (which stands in for "RACK.end_seq").
    private(set) var deliveredSentAt: Int64?
    private var deliveredOrder: UInt64 = 0
    private var deliveredEnd = SeqNumber(rawValue: 0)
    private var nextSendOrder: UInt64 = 1
    /// "RACK.rtt": the round trip of that segment.
    private(set) var roundTrip: Int64 = 0
    /// "RACK.fack": the highest sequence delivered.
    private var highestDelivered: SeqNumber?
    /// "RACK.reordering_seen": a segment was delivered below one delivered before it.
    private(set) var reorderingSeen = false
    /// "RACK.reo_wnd_mult", "RACK.reo_wnd_persist", "RACK.dsack_round".
    private var reorderWindowMultiplier = 1
    private var reorderWindowPersist = 0
    private var duplicateRound: SeqNumber?

    init(limit: Int) { self.limit = max(limit, 2) }

    // MARK: Sends

    /// [left, right) went out at `now`: new data at the end, or a retransmission inside.
    mutating func sent(_ left: SeqNumber, _ right: SeqNumber, at now: Int64) {
        guard left < right else { return }
        let order = nextSendOrder
        nextSendOrder += 1
        let end = log.last?.right ?? left
        if left < end {
            split(at: left)
            split(at: right)
            var index = self.index(containing: left) ?? log.count
            while index < log.count, log[index].left < right {
                if log[index].lost { lostBytes -= log[index].length }
                log[index].lost = false
                log[index].retransmitted = true
                log[index].sentAt = now
                log[index].sendOrder = order
                index += 1
            }
        }
        let newLeft = max(left, end)
        guard newLeft < right else { return }
        if log.count >= limit {
            // Folded into the last record, which then stands for sends not delivered, not lost.
            overflows += 1
            if log[log.count - 1].lost { lostBytes -= log[log.count - 1].length }
            log[log.count - 1].lost = false
            log[log.count - 1].sacked = false
            log[log.count - 1].right = right
            log[log.count - 1].sentAt = now
            log[log.count - 1].sendOrder = order
        } else {
            log.append(
                TCPTransmission(left: newLeft, right: right, sentAt: now, sendOrder: order, retransmitted: false))
        }
    }

    // MARK: Deliveries

    /// The cumulative ACK reached `ack`: what it covers is delivered and forgotten. Returns the
    /// round trip of the oldest of those sends, an RTT sample Karn's rule allows only when none
    /// of them was retransmitted (Linux's FLAG_RETRANS_DATA_ACKED): the ACK may have waited for
    /// a retransmission.
    mutating func acknowledged(to ack: SeqNumber, minimumRTT: Int64, now: Int64) -> Int64? {
        var sample: Int64?
        var retransmissionAcknowledged = false
        while let first = log.first, first.left < ack {
            let covered = min(first.right, ack)
            if !first.sacked {
                delivered(first, end: covered, minimumRTT: minimumRTT, now: now)
                if sample == nil { sample = now - first.sentAt }
                if first.retransmitted { retransmissionAcknowledged = true }
            }
            if first.lost { lostBytes -= Int(covered - first.left) }
            if first.right <= ack {
                log.removeFirst()
            } else {
                log[0].left = ack
            }
        }
        return retransmissionAcknowledged ? nil : sample
    }

    /// A SACK block the scoreboard took: the records inside it are delivered.
    mutating func selectivelyAcknowledged(
        _ left: SeqNumber, _ right: SeqNumber, minimumRTT: Int64, now: Int64
    ) {
        split(at: left)
        split(at: right)
        guard var index = index(containing: left) else { return }
        while index < log.count, log[index].left < right {
            let record = log[index]
            if !record.sacked, record.right <= right, record.left >= left {
                log[index].sacked = true
                if record.lost {
                    lostBytes -= record.length
                    log[index].lost = false
                }
                delivered(record, end: record.right, minimumRTT: minimumRTT, now: now)
            }
            index += 1
        }
    }

    /// The receiver may have reneged (RFC 2018 section 8): SACKed records count as outstanding.
    mutating func forgetSelectiveAcknowledgments() {
        for index in log.indices { log[index].sacked = false }
    }

    /// RFC 8985 6.2 steps 2 and 3, RACK_update() and RACK_detect_reordering().
    private mutating func delivered(
        _ record: TCPTransmission, end: SeqNumber, minimumRTT: Int64, now: Int64
    ) {
        if let highest = highestDelivered, end <= highest {
            // "if Segment.end_seq < RACK.fack and Segment.retransmitted is FALSE:
            //  RACK.reordering_seen = TRUE"
            if end < highest, !record.retransmitted { reorderingSeen = true }
        } else {
            highestDelivered = end
        }
        let sample = now - record.sentAt
        if record.retransmitted {
            // "If rtt < RACK.min_RTT: return": the delivery may be the first send's. RFC 8985's
            // other test, an echo_reply older than the retransmission, is left out as Linux's
            // tcp_rack_advance leaves it out: a receiver keeps TS.Recent for segments above a
            // hole (RFC 7323 4.3), so the SACK of every retransmission there would fail it. A
            // zero round trip cannot be the retransmission's (it went in this very instant).
            if sample < max(minimumRTT, 1) { return }
        }
        // "RACK.rtt = rtt" for the segment that becomes RACK.xmit_ts ("in ascending order of
        // Segment.xmit_ts", the last one processed).
        if deliveredSentAt != nil, !sentAfterDelivered(record.sendOrder, end) { return }
        roundTrip = sample
        deliveredSentAt = record.sentAt
        deliveredOrder = record.sendOrder
        deliveredEnd = end
    }

    // MARK: Loss detection

    /// RFC 8985 6.2 step 4, RACK_update_reo_wnd(), the D-SACK adaptation: a round with a D-SACK
    /// (a spurious retransmission) widens the window by a quarter of the minimum RTT; sixteen
    /// recoveries without one set it back. A D-SACK also counts as reordering seen, as Linux's
    /// tcp_check_sack_reordering counts it: a segment that was only late got marked lost and
    /// resent before it arrived, so step 3 never saw it delivered unretransmitted, and a window
    /// of 0 in recovery would keep resending every late segment.
    mutating func updateReorderWindow(sawDuplicateSACK: Bool, exitedRecovery: Bool, una: SeqNumber, nxt: SeqNumber) {
        if sawDuplicateSACK { reorderingSeen = true }
        if let round = duplicateRound, una >= round { duplicateRound = nil }
        if duplicateRound == nil, sawDuplicateSACK {
            duplicateRound = nxt
            reorderWindowMultiplier += 1
            reorderWindowPersist = 16
        } else if exitedRecovery {
            reorderWindowPersist -= 1
            if reorderWindowPersist <= 0 { reorderWindowMultiplier = 1 }
        }
    }

    /// RACK.reo_wnd: "If RACK.reordering_seen is FALSE: If in loss recovery: return 0. Else if
    /// RACK.segs_sacked >= DupThresh: return 0"; else "min(RACK.reo_wnd_mult * RACK.min_RTT /
    /// 4, SRTT)".
    func reorderWindow(recovering: Bool, sackedSegments: Int, minimumRTT: Int64, smoothedRTT: Int64) -> Int64 {
        if !reorderingSeen, recovering || sackedSegments >= 3 { return 0 }
        return min(Int64(reorderWindowMultiplier) * minimumRTT / 4, smoothedRTT)
    }

    /// RFC 8985 6.2 step 5, RACK_detect_loss(): every undelivered record sent before the most
    /// recently delivered one is lost once "Segment.xmit_ts + RACK.rtt + RACK.reo_wnd" has
    /// passed. Returns how many records became lost, how many of those were retransmissions,
    /// and when the next verdict falls due (the RACK reordering timer), if one is pending.
    mutating func detectLoss(now: Int64, reorderWindow: Int64) -> (lost: Int, retransmissions: Int, timeout: Int64?) {
        guard deliveredSentAt != nil else { return (0, 0, nil) }
        var lost = 0
        var retransmissions = 0
        var timeout: Int64?
        for index in log.indices where !log[index].sacked && !log[index].lost {
            let record = log[index]
            guard !sentAfterDelivered(record.sendOrder, record.right), record.right != deliveredEnd else { continue }
            let remaining = record.sentAt + roundTrip + reorderWindow - now
            if remaining <= 0 {
                log[index].lost = true
                lostBytes += record.length
                lost += 1
                if record.retransmitted { retransmissions += 1 }
            } else {
                timeout = max(timeout ?? 0, remaining)
            }
        }
        return (lost, retransmissions, timeout)
    }

    /// The lowest record marked lost, not resent since.
    var firstLost: TCPTransmission? { lostBytes > 0 ? log.first { $0.lost } : nil }

    // MARK: Helpers

    /// "RACK_sent_after(Segment, RACK)": a later send, or a later part of the same send.
    private func sentAfterDelivered(_ order: UInt64, _ end: SeqNumber) -> Bool {
        order > deliveredOrder || (order == deliveredOrder && end > deliveredEnd)
    }

    /// The index of the record holding `sequence` (binary search: records are sorted).
    private func index(containing sequence: SeqNumber) -> Int? {
        var low = 0
        var high = log.count
        while low < high {
            let middle = (low + high) / 2
            if log[middle].right <= sequence {
                low = middle + 1
            } else {
                high = middle
            }
        }
        return low < log.count && log[low].left <= sequence ? low : nil
    }

    /// Cuts the record holding `sequence` so a record starts there (unless the log is full).
    private mutating func split(at sequence: SeqNumber) {
        guard let index = index(containing: sequence), log[index].left < sequence else { return }
        guard log.count < limit else {
            overflows += 1
            return
        }
        var upper = log[index]
        upper.left = sequence
        log[index].right = sequence
        log.insert(upper, at: index + 1)
    }
}
