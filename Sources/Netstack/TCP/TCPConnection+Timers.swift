// Timers: retransmission (RFC 6298), delayed ACK, persist (zero-window probing), keepalive,
// TIME-WAIT, FIN-WAIT-2, and receive-window auto-tuning (RACK's reordering timer and the tail
// loss probe are TCPConnection+RACK.swift's). All driven by `poll(now:output:)`; the owner
// calls it when `nextDeadline` passes and after user reads/writes.

import Wire

extension TCPConnection {
    /// Runs expired timers and sends whatever is due.
    public func poll(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        let t = now.signedNanoseconds
        guard state != .closed else { return }
        if let deadline = timeWaitDeadline, t >= deadline {
            // "When the time-wait timeout expires ... delete the TCB, enter the CLOSED state".
            enterClosed(error: nil)
            return
        }
        if let deadline = finWait2Deadline, t >= deadline {
            // The peer never sent its FIN to a connection the user closed (`finWait2Timeout`).
            counters.finWait2Timeouts += 1
            enterClosed(error: .timedOut)
            return
        }
        // A PTO clipped to the RTO fires first: the probe goes instead, and re-arms the RTO.
        if let deadline = lossDetectionDeadline, t >= deadline {
            lossDetectionTimerFired(now: t, output: &output)
        }
        if let deadline = retransmitDeadline, t >= deadline {
            retransmissionTimeout(now: t, output: &output)
            if state == .closed { return }
        }
        if let deadline = persistDeadline, t >= deadline {
            sendZeroWindowProbe(now: t, output: &output)
            if state == .closed { return }
        }
        if let deadline = keepaliveDeadline, t >= deadline {
            keepaliveTimeout(now: t, output: &output)
            if state == .closed { return }
        }
        if let deadline = delayedAckDeadline, t >= deadline {
            ackNow = true
        }
        autotuneReceiveWindow(now: t)
        transmit(now: t, output: &output)
        windowProbeDue = false
        notifyReadiness()
    }

    /// RFC 6298 section 5.4-5.6 on expiry: retransmit the earliest unacknowledged segment,
    /// back off, restart the timer. Congestion response per RFC 5681 section 3.1.
    private func retransmissionTimeout(now: Int64, output: inout some TCPSegmentOutput) {
        retransmitCount += 1
        // A peer that closed its window while our data was in flight (it shrank the window, or
        // its ACK of the rest carried a zero window) is alive as long as it answers: the
        // retransmissions below become zero-window probes, and, as RFC 9293 3.8.6.1 requires
        // ("as long as the receiving TCP continues to send acknowledgments in response to the
        // probe segments, the sending TCP MUST allow the connection to stay open"), the count
        // does not end the connection; silence for the longest RTO does (Linux's
        // tcp_retransmit_timer; orphans are counted as usual).
        let windowClosed = state.isSynchronized && sndWnd == 0
        if windowClosed, !closedByUser {
            guard now - lastAckReceivedAt <= rtt.maximum else {
                counters.zeroWindowTimeouts += 1
                enterClosed(error: .timedOut)
                return
            }
        } else if retransmitCount > retransmissionLimit {
            enterClosed(error: .timedOut)
            return
        }
        counters.retransmissionTimeouts += 1
        if !windowClosed { retransmissionTimedOutForPathMTU() }
        // "The host MUST set RTO <- RTO * 2 ("back off the timer")."
        rtt.backOff()
        if state.isSynchronized {
            // RFC 5681 3.1: "when a TCP sender detects segment loss using the retransmission
            // timer and the given segment has already been retransmitted by way of the
            // retransmission timer at least once, the value of ssthresh is held constant."
            congestion.onRetransmissionTimeout(flightSize: Int(sndMax - sndUna), holdingThreshold: retransmitCount > 1)
        }
        // RFC 6582 3.2 step 6: "After a retransmit timeout, record the highest sequence number
        // transmitted in the variable recover, and exit the fast recovery procedure".
        recover = sndMax
        recoveryPoint = nil
        rateReduction = nil
        headRetransmission = nil
        lossProbeEnd = nil
        lossDetectionDeadline = nil
        duplicateAcks = 0
        // Keep SACK information for one timeout (RFC 6675 5.1 lets the sender skip SACKed data);
        // a second consecutive timeout forgets it in case the receiver reneged (RFC 2018 s. 8).
        if retransmitCount > 1 {
            scoreboard.removeAll()
            rack.forgetSelectiveAcknowledgments()
        }
        highRetransmitted = sndUna
        // Go back N: resend from the earliest unacknowledged byte.
        sndNxt = sndUna
        rttProbe = nil
        // "Start the retransmission timer, such that it expires after RTO seconds".
        retransmitDeadline = now &+ rtt.rto
        // The closed window lets nothing out of `transmit`; the head segment goes anyway, as
        // the probe (RFC 9293 3.8.6.1: probes "MAY ... contain data").
        if windowClosed {
            counters.zeroWindowProbesSent += 1
            retransmit(at: sndUna, limit: nil, now: now, output: &output)
        }
    }

    /// Retransmissions (and unanswered persist probes) of one segment before the connection
    /// is given up.
    private var retransmissionLimit: Int {
        guard state.isSynchronized else { return config.maximumSynRetransmissions }
        return closedByUser ? config.maximumOrphanRetransmissions : config.maximumRetransmissions
    }

    /// Zero-window probe. Like Linux (tcp_xmit_probe_skb) we send an out-of-window ACK
    /// (SEQ = SND.UNA - 1), which every receiver must answer with its current window (RFC 9293
    /// 3.10.7.4 "an acknowledgment should be sent in reply"), without consuming sequence space.
    ///
    /// A window that is open but smaller than a segment (sender SWS avoidance holds the data
    /// back) is probed with the data that fits instead (`windowProbeDue`; `transmit` follows).
    private func sendZeroWindowProbe(now: Int64, output: inout some TCPSegmentOutput) {
        guard sndMax == sndUna else {
            persistDeadline = nil
            return
        }
        // RFC 9293 3.8.6.1 keeps the connection open only while the probes are answered;
        // Linux's tcp_probe_timer gives up after tcp_retries2 unanswered ones.
        guard persistProbesUnanswered < retransmissionLimit else {
            counters.zeroWindowTimeouts += 1
            enterClosed(error: .timedOut)
            return
        }
        persistProbesUnanswered += 1
        counters.zeroWindowProbesSent += 1
        if sndWnd > 0 {
            windowProbeDue = true
        } else {
            emit(
                seq: sndUna &+ (-1), flags: [.ack], payload: UnsafeRawBufferPointer(start: nil, count: 0), now: now,
                output: &output)
        }
        // RFC 9293 3.8.6.1: "the transmitting host SHOULD send the first zero-window probe when
        // a zero window has existed for the retransmission timeout period ... and SHOULD
        // increase exponentially the interval between successive probes."
        persistBackoff = min(persistBackoff * 2, rtt.maximum)
        persistDeadline = now &+ persistBackoff
    }

    /// RFC 9293 3.8.4: keepalive probes carry "SEG.SEQ = SND.NXT-1" and no data; a connection
    /// whose probes go unanswered is dropped.
    private func keepaliveTimeout(now: Int64, output: inout some TCPSegmentOutput) {
        guard let keepalive = config.keepalive,
            state == .established || state == .closeWait || state == .finWait2
        else {
            keepaliveDeadline = nil
            return
        }
        guard sndMax == sndUna, Int(sndNxt - sendBufferStart) >= sendBuffer.count else {
            // Data in flight: the retransmission timer watches the peer instead.
            keepaliveDeadline = now &+ keepalive.idle.nanosecondsSaturating
            return
        }
        if keepaliveProbesSent >= keepalive.probes {
            abort(now: NetstackInstant(signedNanoseconds: now), output: &output)
            error = .timedOut
            return
        }
        keepaliveProbesSent += 1
        counters.keepaliveProbesSent += 1
        emit(
            seq: sndUna &+ (-1), flags: [.ack], payload: UnsafeRawBufferPointer(start: nil, count: 0), now: now,
            output: &output)
        keepaliveDeadline = now &+ keepalive.interval.nanosecondsSaturating
    }

    /// Receive-window auto-tuning (in the spirit of Linux's tcp_rcv_space_adjust): once per
    /// RTT, if the application drained at least half the current limit, double the limit, up to
    /// `receiveBufferSize`, growing the ring with it (as far as the memory budget allows).
    func autotuneReceiveWindow(now: Int64) {
        let period = rtt.smoothed ?? 100_000_000
        guard now - autotuneEpochStart >= period else { return }
        if autotuneBytes >= receiveWindowLimit / 2 {
            let wanted = min(config.receiveBufferSize, max(receiveWindowLimit * 2, autotuneBytes * 2))
            receiveWindowLimit = min(wanted, growBuffer(send: false, to: wanted))
        }
        autotuneBytes = 0
        autotuneEpochStart = now
    }
}
