// RACK-TLP (RFC 8985) in the connection: every data segment sent and every ACK feed the
// transmission log (TCPRecentAcknowledgment); the losses it marks start fast recovery, or resend a
// lost retransmission during the go-back-N after a timeout; the reordering timer waits out the
// reordering window; and the tail loss probe (section 7) makes a lost tail draw the SACKs that
// RACK needs, instead of a retransmission timeout.

import Wire

/// What `lossDetectionDeadline` stands for: one at a time, as Linux shares one timer between them.
enum TCPLossDetectionTimer {
    /// The RACK reordering timer (RFC 8985 6.2 step 5, "RACK_detect_loss_and_arm_timer").
    case reorder
    /// The tail loss probe's PTO (RFC 8985 7.2).
    case probe
}

extension TCPConnection {
    /// RACK-TLP runs on this connection: it is the configured detection, and SACK is on.
    var usesRACK: Bool { sackEnabled && config.lossDetection == .rack }

    /// In a recovery of either kind: fast recovery, or the go-back-N after a timeout.
    var recovering: Bool { recoveryPoint != nil || sndUna < recover }

    /// "WCDelAckT" (RFC 8985 7.2): a receiver may hold the ACK of a lone segment this long.
    private static let worstCaseDelayedAck: Int64 = 200_000_000
    /// Added to the PTO of a longer flight, as Linux adds TCP_TIMEOUT_MIN (two ticks: 8 ms at
    /// this machine's HZ=250, which also rounds 2*SRTT up to a tick): at a gateway's RTTs of
    /// tens of microseconds, 2*SRTT alone is below scheduling noise, and a probe that fires
    /// while the receiver's ACK waits for a busy CPU is a spurious retransmission.
    private static let probeTimeoutFloor: Int64 = 8_000_000

    /// [seq, end) went out at `now` (from `emit`).
    func rackSent(_ seq: SeqNumber, _ end: SeqNumber, now: Int64) {
        guard usesRACK else { return }
        rack.sent(seq, end, at: now)
        counters.transmissionLogOverflows = rack.overflows
    }

    /// The cumulative ACK moved to `ack`: the log lets go of what it covers. Returns the RTT
    /// sample it gives, if any (`TCPRecentAcknowledgment.acknowledged`).
    func rackAcknowledged(to ack: SeqNumber, now: Int64) -> Int64? {
        guard usesRACK else { return nil }
        return rack.acknowledged(to: ack, minimumRTT: rtt.minimumSample ?? 0, now: now)
    }

    /// RFC 8985 6.2 "Upon receiving an ACK", after the scoreboard and SND.UNA took it; `taken`:
    /// the SACK blocks the scoreboard took, in sequence order.
    func rackProcessAcknowledgment(
        _ segment: TCPRepr, taken: SACKBlocks, advanced: Bool, hasData: Bool, wasRecovering: Bool, now: Int64,
        output: inout some TCPSegmentOutput
    ) {
        guard usesRACK else { return }
        let ack = segment.acknowledgmentNumber
        let minimumRTT = rtt.minimumSample ?? 0
        let blocks = segment.options.sackBlocks
        for block in taken {
            rack.selectivelyAcknowledged(block.left, block.right, minimumRTT: minimumRTT, now: now)
        }
        counters.transmissionLogOverflows = rack.overflows
        // RFC 2883 section 4: a D-SACK block is first, below the ACK or inside the second block.
        var duplicate: SACKBlock?
        if let first = blocks.first {
            let second = blocks.count > 1 ? blocks[1] : nil
            if first.right <= ack || second.map({ $0.left <= first.left && first.right <= $0.right }) == true {
                duplicate = first
            }
        }
        rack.updateReorderWindow(
            sawDuplicateSACK: duplicate != nil, exitedRecovery: wasRecovering && !recovering, una: sndUna, nxt: sndNxt)
        processLossProbeAcknowledgment(
            ack: ack, duplicate: duplicate, pureDuplicate: !advanced && !hasData && blocks.isEmpty)
        if !scoreboard.isEmpty || recovering || rack.lostBytes > 0 {
            detectLoss(now: now, output: &output)
        } else if lossDetectionTimer == .reorder {
            // Nothing SACKed is left to wait on: a pending reordering verdict is moot.
            lossDetectionDeadline = nil
        }
        resendLostRetransmissionAfterTimeout(now: now, output: &output)
        if sndUna == sndMax {
            lossDetectionDeadline = nil
        } else if advanced {
            // RFC 8985 7.2: "upon receiving an ACK that cumulatively acknowledges new data".
            armLossProbe(now: now)
        }
    }

    /// RACK_detect_loss_and_arm_timer(): marks what is lost, arms the reordering timer for what
    /// may still be, and starts fast recovery for lost segments outside a recovery.
    private func detectLoss(now: Int64, output: inout some TCPSegmentOutput) {
        let sackedSegments = (scoreboard.totalBytes + sendMSS - 1) / sendMSS
        let window = rack.reorderWindow(
            recovering: recovering, sackedSegments: sackedSegments, minimumRTT: rtt.minimumSample ?? 0,
            smoothedRTT: rtt.smoothed ?? 0)
        let found = rack.detectLoss(now: now, reorderWindow: window)
        counters.lostRetransmissions += found.retransmissions
        if let timeout = found.timeout {
            lossDetectionTimer = .reorder
            lossDetectionDeadline = now &+ timeout
        } else if lossDetectionTimer == .reorder {
            lossDetectionDeadline = nil
        }
        // Also segments marked while a recovery ran that it did not repair (sent during it, above
        // its RecoveryPoint): a new recovery takes them, as Linux's tcp_time_to_recover does.
        if rack.lostBytes > 0, !recovering { enterFastRecovery(now: now, output: &output) }
    }

    /// During the go-back-N after a timeout (RFC 6675 5.1 allows no fast recovery below
    /// `recover`), a segment this pass already resent and RACK found lost again goes once more,
    /// one per ACK: the ACK clock, as Linux's loss state retransmits marked segments.
    private func resendLostRetransmissionAfterTimeout(now: Int64, output: inout some TCPSegmentOutput) {
        guard recoveryPoint == nil, sndUna < recover, let lost = rack.firstLost, lost.left < sndNxt else { return }
        retransmit(at: lost.left, limit: min(lost.right, sndNxt), now: now, output: &output)
    }

    /// NextSeg rule (1) with RACK's verdict for IsLost (RFC 8985 section 9.1): the lost records,
    /// lowest first, while the window allows.
    func sendRACKLostRetransmissions(now: Int64, output: inout some TCPSegmentOutput) {
        var remaining = rack.log.count + 1
        while remaining > 0, recoveryMaySend, let lost = rack.firstLost {
            remaining -= 1
            if retransmit(at: lost.left, limit: lost.right, now: now, output: &output) == 0 { return }
        }
    }

    // MARK: Timers

    /// The reordering timer or the PTO expired.
    func lossDetectionTimerFired(now: Int64, output: inout some TCPSegmentOutput) {
        lossDetectionDeadline = nil
        guard usesRACK, state.isSynchronized, sndMax > sndUna else { return }
        switch lossDetectionTimer {
        case .reorder:
            counters.reorderTimeouts += 1
            detectLoss(now: now, output: &output)
            resendLostRetransmissionAfterTimeout(now: now, output: &output)
            // Nothing found lost: the tail is watched by a probe again.
            if lossDetectionDeadline == nil { armLossProbe(now: now) }
        case .probe:
            sendTailLossProbe(now: now, output: &output)
        }
    }

    /// RFC 8985 7.2: "start or restart a loss probe PTO timer after transmitting new data ... or
    /// upon receiving an ACK that cumulatively acknowledges new data, unless it is already in
    /// fast recovery, RTO recovery, or the sender has already sent a loss probe". "PTO =
    /// 2*SRTT", plus WCDelAckT for a flight of one segment; never past the RTO.
    func armLossProbe(now: Int64) {
        guard usesRACK, lossProbeEnd == nil, !recovering, sndMax > sndUna, state.isSynchronized,
            lossDetectionDeadline == nil || lossDetectionTimer == .probe
        else { return }
        var timeout = rtt.smoothed.map { 2 * $0 } ?? 1_000_000_000
        timeout += Int(sndMax - sndUna) <= sendMSS ? Self.worstCaseDelayedAck : Self.probeTimeoutFloor
        if let retransmitDeadline { timeout = min(timeout, retransmitDeadline - now) }
        lossDetectionTimer = .probe
        lossDetectionDeadline = now &+ max(timeout, 0)
    }

    /// RFC 8985 7.3, TLP_send_probe(): "If an unsent segment exists AND the receive window allows
    /// new data to be sent: Transmit the lowest-sequence unsent segment of up to SMSS ... Else:
    /// Retransmit the highest-sequence segment sent so far"; then "TLP.end_seq = SND.NXT", and
    /// "re-arm the RTO timer, not the PTO timer".
    private func sendTailLossProbe(now: Int64, output: inout some TCPSegmentOutput) {
        guard lossProbeEnd == nil, !recovering else { return }
        counters.tailLossProbes += 1
        let unsent = sendBuffer.count - Int(sndMax - sendBufferStart)
        let highestBefore = sndMax
        if unsent > 0, sndNxt == sndMax, Int(sndUna &+ sndWnd - sndMax) > 0 {
            lossProbeDue = true
            transmit(now: now, output: &output)
        }
        lossProbeDue = false
        lossProbeRetransmitted = sndMax == highestBefore
        if lossProbeRetransmitted {
            let dataEnd = finQueued && sndMax > finSequence ? finSequence : sndMax
            let start = max(sndUna, dataEnd &+ (-effectiveMSS))
            retransmit(at: start, limit: dataEnd, now: now, output: &output)
        }
        lossProbeEnd = sndMax
        lossDetectionDeadline = nil
        retransmitDeadline = now &+ rtt.rto
    }

    /// RFC 8985 7.4, TLP_process_ack(), as Linux's tcp_process_tlp_ack: a D-SACK of the probe,
    /// or a pure duplicate ACK at its end, says the original arrived; an ACK beyond it says the
    /// probe repaired a loss, which calls for the congestion response fast recovery would have
    /// made.
    private func processLossProbeAcknowledgment(ack: SeqNumber, duplicate: SACKBlock?, pureDuplicate: Bool) {
        guard let end = lossProbeEnd, ack >= end else { return }
        if !lossProbeRetransmitted || duplicate.map({ $0.right >= end &+ (-1) }) == true {
            lossProbeEnd = nil
        } else if ack > end {
            lossProbeEnd = nil
            counters.tailLossProbeRepairs += 1
            // The window the probe's flight had, not what is left after this ACK.
            congestion.onLossRepairedByProbe(flightSize: congestion.cwnd)
        } else if pureDuplicate {
            lossProbeEnd = nil
        }
    }
}
