// Segment arrival (RFC 9293 section 3.10.7 "SEGMENT ARRIVES"), with the RFC 5961 hardening
// (challenge ACKs) and RFC 7323 PAWS. Each branch quotes the sentence it implements.

import Wire

extension TCPConnection {
    /// Processes one inbound segment for this connection, then sends whatever is due.
    public func handle(
        _ segment: TCPRepr, payload: UnsafeRawBufferPointer, now: NetstackInstant,
        output: inout some TCPSegmentOutput
    ) {
        let t = now.signedNanoseconds
        counters.segmentsReceived += 1
        switch state {
        case .closed:
            return
        case .synSent:
            handleInSynSent(segment, now: t, output: &output)
        default:
            handleSynchronized(segment, payload: payload, now: t, output: &output)
        }
        guard state != .closed else { return }
        transmit(now: t, output: &output)
        notifyReadiness()
    }

    // MARK: SYN-SENT

    private func handleInSynSent(_ segment: TCPRepr, now: Int64, output: inout some TCPSegmentOutput) {
        let flags = segment.flags
        if flags.contains(.ack) {
            // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset (unless the RST bit is set,
            // if so drop the segment and return) <SEQ=SEG.ACK><CTL=RST>".
            if segment.acknowledgmentNumber <= iss || segment.acknowledgmentNumber > sndMax {
                if let reset = TCPConnection.resetReply(to: segment) {
                    output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
                    counters.segmentsSent += 1
                }
                return
            }
        }
        if flags.contains(.rst) {
            // "If the ACK was acceptable, then signal to the user 'error: connection reset',
            // drop the segment, enter CLOSED state ... Otherwise (no ACK), drop the segment".
            if flags.contains(.ack) { enterClosed(error: .connectionRefused) }
            return
        }
        guard flags.contains(.syn) else { return }
        negotiateOptions(fromSYN: segment.options, now: now)
        // "RCV.NXT is set to SEG.SEQ+1, IRS is set to SEG.SEQ."
        irs = segment.sequenceNumber
        rcvNxt = irs &+ 1
        lastAckSent = rcvNxt
        advertisedRightEdge = rcvNxt &+ synWindow
        // "The window field in a SYN (i.e., a <SYN> or <SYN,ACK>) segment itself is never
        // scaled" (RFC 7323 section 2.2).
        sndWnd = Int(segment.window)
        maxSndWnd = sndWnd
        sndWl1 = segment.sequenceNumber
        sndWl2 = segment.acknowledgmentNumber
        if flags.contains(.ack) {
            // "SND.UNA should be advanced to equal SEG.ACK ... If SND.UNA > ISS (our SYN has
            // been ACKed), change the connection state to ESTABLISHED, form an ACK segment".
            sndUna = segment.acknowledgmentNumber
            if let probe = rttProbe, sndUna > probe.sequence {
                rtt.sample(now - probe.sentAt, at: now)
            }
            rttProbe = nil
            retransmitCount = 0
            retransmitDeadline = nil
            state = .established
            ackNow = true
            restartKeepalive(now: now)
        } else {
            // "Otherwise, enter SYN-RECEIVED, form a SYN,ACK segment
            // <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK> and send it." (simultaneous open)
            state = .synReceived
            sndNxt = iss
        }
    }

    /// Applies the peer's SYN options (RFC 9293 3.7.1, RFC 7323, RFC 2018).
    func negotiateOptions(fromSYN options: TCPOptions, now: Int64) {
        if let mss = options.mss {
            // "the maximum size of a segment that TCP really sends, the 'effective send MSS,'
            // MUST be the smaller of the send MSS ... and the largest ... the interface" allows.
            sendMSS = max(min(Int(mss), localMSS), 64)
        }
        congestion.setMSS(sendMSS)
        // The log's bound in the segments this peer's MSS makes (a small MSS makes many).
        rack.limit = config.transmissionRecords(mss: sendMSS)
        peerOfferedWindowScale = options.windowScale != nil
        if config.windowScaling, let shift = options.windowScale {
            // "If a Window Scale option is received with a shift.cnt value larger than 14, the
            // TCP SHOULD log the error but MUST use 14 instead" (RFC 7323 section 2.3).
            sendShift = min(shift, 14)
            receiveShift = TCPConnection.windowShift(forBuffer: config.receiveBufferSize)
        } else {
            sendShift = 0
            receiveShift = 0
        }
        sackEnabled = config.selectiveAcknowledgments && options.sackPermitted
        if config.timestamps, let ts = options.timestamp {
            timestampsEnabled = true
            tsRecent = ts.value
            tsRecentTime = now
        } else {
            timestampsEnabled = false
        }
    }

    /// The smallest shift letting the 16-bit field cover the whole buffer, at most 14.
    static func windowShift(forBuffer size: Int) -> UInt8 {
        var shift: UInt8 = 0
        while shift < 14, (size >> Int(shift)) > 65535 { shift += 1 }
        return shift
    }

    /// The window carried (unscaled) in our SYN or SYN-ACK.
    var synWindow: Int { min(receiveWindowLimit, 65535, receiveBuffer.capacity) }

    /// RFC 5961 section 7: challenge ACKs are rate limited ("the number of challenge ACKs
    /// sent per unit time SHOULD be limited").
    func challengeAck(now: Int64) {
        if now - challengeAckWindowStart >= 1_000_000_000 {
            challengeAckWindowStart = now
            challengeAcksInWindow = 0
        }
        guard challengeAcksInWindow < config.challengeAckLimitPerSecond else {
            counters.challengeAcksSuppressed += 1
            return
        }
        challengeAcksInWindow += 1
        counters.challengeAcksSent += 1
        ackNow = true
    }

    func restartKeepalive(now: Int64) {
        keepaliveProbesSent = 0
        if let keepalive = config.keepalive { keepaliveDeadline = now &+ keepalive.idle.nanosecondsSaturating }
    }

    /// Our FIN is queued, sent, and acknowledged.
    var ourFinAcknowledged: Bool {
        finQueued && sendBuffer.isEmpty && sndUna == sendBufferStart &+ 1
    }

    // MARK: ACK processing

    func processAcknowledgment(_ segment: TCPRepr, hasData: Bool, now: Int64, output: inout some TCPSegmentOutput) {
        let ack = segment.acknowledgmentNumber
        let seq = segment.sequenceNumber
        let window = Int(segment.window) << Int(sendShift)
        lastAckReceivedAt = now
        persistProbesUnanswered = 0
        // RFC 6937 "DeliveredData = (snd.una_new - snd.una_old) + (SACKd_new - SACKd_old)".
        let unacknowledgedBefore = sndUna
        let sackedBefore = scoreboard.totalBytes
        let wasRecovering = recovering

        let taken = sackEnabled ? takeSACKBlocks(segment.options.sackBlocks, ack: ack) : SACKBlocks()

        if ack > sndUna {
            // "If SND.UNA < SEG.ACK =< SND.NXT, then set SND.UNA <- SEG.ACK. Any segments on the
            // retransmission queue that are thereby entirely acknowledged are removed."
            let acked = Int(ack - sndUna)
            let ringWasFull = sendBuffer.free < sendMSS
            if ack > sendBufferStart {
                let bytes = min(Int(ack - sendBufferStart), sendBuffer.count)
                sendBuffer.drop(bytes)
                sendBufferStart = sendBufferStart &+ bytes
            }
            sndUna = ack
            if sndNxt < sndUna { sndNxt = sndUna }
            headAdvanced()
            acknowledgedForPathMTU(ack)
            scoreboard.removeBelow(sndUna)
            let rttSample = sampleRTT(segment, logged: rackAcknowledged(to: ack, now: now), now: now)
            retransmitCount = 0
            // RFC 6298 5.2: "When all outstanding data has been acknowledged, turn off the
            // retransmission timer." 5.3: "When an ACK is received that acknowledges new data,
            // restart the retransmission timer".
            retransmitDeadline = sndUna == sndMax ? nil : now &+ rtt.rto
            persistDeadline = nil
            if ringWasFull { growSendBufferIfLimiting() }

            if let recover = recoveryPoint {
                if ack >= recover {
                    // RFC 6582 3.2 step 3 "full acknowledgment": leave fast recovery.
                    recoveryPoint = nil
                    rateReduction = nil
                    duplicateAcks = 0
                    congestion.onRecoveryExit(flightSize: Int(sndMax - sndUna))
                } else if !sackEnabled {
                    // "partial acknowledgment": "retransmit the first unacknowledged segment ...
                    // deflate the congestion window by the amount of new data acknowledged ...
                    // then add back SMSS bytes".
                    retransmit(at: sndUna, limit: nil, now: now, output: &output)
                    congestion.deflate(by: acked)
                    congestion.inflate(by: sendMSS)
                } else if highRetransmitted < sndUna {
                    highRetransmitted = sndUna
                }
            } else {
                duplicateAcks = 0
                congestion.onAck(
                    ackedBytes: acked, now: now, smoothedRTT: rtt.smoothed, ack: ack, nextSequence: sndNxt,
                    rttSample: rttSample)
            }
        } else if ack == sndUna, !hasData, window == sndWnd, sndMax > sndUna {
            // RFC 5681 section 2 "DUPLICATE ACKNOWLEDGMENT": no data, same window, outstanding
            // data, ACK equal to the greatest seen.
            countDuplicateAck(now: now, output: &output)
        }
        if recoveryPoint != nil, rateReduction != nil {
            let delivered = Int(sndUna - unacknowledgedBefore) + scoreboard.totalBytes - sackedBefore
            reduceRate(delivered: max(delivered, 0))
        }
        if sndUna == unacknowledgedBefore { resendLostHeadRetransmission(now: now, output: &output) }
        rackProcessAcknowledgment(
            segment, taken: taken, advanced: sndUna > unacknowledgedBefore, hasData: hasData,
            wasRecovering: wasRecovering, now: now, output: &output)

        // "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set SND.WND <-
        // SEG.WND, set SND.WL1 <- SEG.SEQ, and set SND.WL2 <- SEG.ACK."
        if sndWl1 < seq || (sndWl1 == seq && sndWl2 <= ack) {
            sndWnd = window
            maxSndWnd = max(maxSndWnd, window)
            sndWl1 = seq
            sndWl2 = ack
            if window > 0 { persistDeadline = nil }
        }

        if ourFinAcknowledged { finAcknowledged(now: now) }
    }

    /// Puts the ACK's SACK blocks on the scoreboard: RFC 2018 blocks above SND.UNA; D-SACK blocks
    /// (RFC 2883, at or below the ACK) and blocks beyond what we sent are ignored. Returns those
    /// the scoreboard took, in sequence order (the receiver lists the newest first; RACK takes
    /// them lowest first, as Linux sorts them, or a higher one first would look like reordering).
    private func takeSACKBlocks(_ blocks: SACKBlocks, ack: SeqNumber) -> SACKBlocks {
        var taken = SACKBlocks()
        for block in blocks where block.left < block.right && block.left >= ack && block.right <= sndMax {
            guard scoreboard.insert(block.left, block.right) else { continue }
            taken.append(block)
            var position = taken.count - 1
            while position > 0, taken[position - 1].left > taken[position].left {
                (taken[position - 1], taken[position]) = (taken[position], taken[position - 1])
                position -= 1
            }
        }
        return taken
    }

    private func countDuplicateAck(now: Int64, output: inout some TCPSegmentOutput) {
        counters.duplicateAcksReceived += 1
        duplicateAcks += 1
        if recoveryPoint != nil {
            // RFC 6582 3.2 step 4: "For each additional duplicate ACK received ... increment
            // cwnd by SMSS."
            if !sackEnabled { congestion.inflate(by: sendMSS) }
        } else if !usesRACK, duplicateAcks >= 3 || (sackEnabled && scoreboard.bytes(above: sndUna) > 2 * sendMSS) {
            // RFC 6582 3.2 step 1: only "If the Cumulative Acknowledgment field covers more than
            // recover" (`recover` holds one past the RFC's highest byte sent, so: at least it);
            // else these are the echoes of a go-back-N after a timeout.
            if sndUna >= recover { enterFastRecovery(now: now, output: &output) }
        }
    }

    /// Our FIN is acknowledged: FIN-WAIT-1, CLOSING and LAST-ACK move on.
    private func finAcknowledged(now: Int64) {
        switch state {
        case .finWait1:
            // "if the FIN segment is now acknowledged, then enter FIN-WAIT-2".
            state = .finWait2
            if closedByUser { finWait2Deadline = now &+ config.finWait2Timeout.nanosecondsSaturating }
        case .closing:
            // "if the ACK acknowledges our FIN, then enter the TIME-WAIT state".
            enterTimeWait(now: now)
        case .lastAck:
            // "If our FIN is now acknowledged, delete the TCB, enter the CLOSED state".
            enterClosed(error: nil)
        default:
            break
        }
    }

    /// Send-buffer auto-tuning, as Linux's tcp_sndbuf_expand on ACKs: the application keeps the
    /// ring full and it holds less than twice the congestion window (one window in flight, one
    /// being written), so double it, up to `sendBufferSize`.
    private func growSendBufferIfLimiting() {
        let capacity = sendBuffer.capacity
        guard capacity < config.sendBufferSize, 2 * congestion.cwnd > capacity else { return }
        growBuffer(send: true, to: min(config.sendBufferSize, 2 * capacity))
    }

    /// Takes the RTT sample this ACK gives, if any; returns it. `logged`: RACK's, from the send
    /// time of the oldest segment it acknowledged that was never retransmitted (Karn's rule), to
    /// the nanosecond; as Linux's tcp_ack_update_rtt, it is preferred to the echoed timestamp,
    /// whose millisecond ticks read 0 on a path of microseconds.
    private func sampleRTT(_ segment: TCPRepr, logged: Int64?, now: Int64) -> Int64? {
        var sample: Int64?
        if let logged {
            sample = logged
            rttProbe = nil
        } else if timestampsEnabled, let ts = segment.options.timestamp, ts.echo != 0 {
            // RFC 7323 section 4.2: RTT from the echoed timestamp of an ACK advancing SND.UNA. A
            // tick of 0 means "under a millisecond": 1 ms, as Linux's tcp_rtt_tsopt_us reads it
            // (a 0 would make RACK's minimum RTT, and its reordering window, 0).
            let ms = Int64(timestampValue(now) &- ts.echo)
            if ms >= 0, ms < 600_000 { sample = max(ms, 1) * 1_000_000 }
            rttProbe = nil
        } else if let probe = rttProbe, sndUna > probe.sequence {
            sample = now - probe.sentAt
            rttProbe = nil
        }
        if let sample { rtt.sample(sample, at: now) }
        return sample
    }

    // MARK: Data and FIN

    func receiveData(seq originalSeq: SeqNumber, data originalData: UnsafeRawBufferPointer, now: Int64) {
        var seq = originalSeq
        var data = originalData
        if seq < rcvNxt {
            let skip = Int(rcvNxt - seq)
            reportDuplicate(seq, min(rcvNxt, seq &+ data.count))
            guard skip < data.count else {
                ackNow = true
                return
            }
            data = UnsafeRawBufferPointer(rebasing: data[skip...])
            seq = rcvNxt
        }
        // Trim to the advertised window ("segments with higher beginning sequence numbers
        // may be held"; text beyond the window is dropped).
        let room = Int(advertisedRightEdge - seq)
        guard room > 0 else {
            ackNow = true
            return
        }
        if data.count > room { data = UnsafeRawBufferPointer(rebasing: data[..<room]) }

        if seq == rcvNxt {
            let n = receiveBuffer.write(data, at: receiveBuffer.count)
            receiveBuffer.commit(n)
            rcvNxt = rcvNxt &+ n
            counters.bytesReceived += n
            let filledHole = !outOfOrder.isEmpty
            if let held = outOfOrder.ranges.first, held.left < rcvNxt {
                // The segment ran on into data already held past the hole.
                reportDuplicate(held.left, min(held.right, rcvNxt))
            }
            while let right = outOfOrder.popContiguous(from: rcvNxt) {
                let extra = Int(right - rcvNxt)
                receiveBuffer.commit(extra)
                counters.bytesReceived += extra
                rcvNxt = right
            }
            if filledHole {
                // RFC 5681 4.2: "an immediate ACK SHOULD be generated when a segment
                // fills in all or part of a gap in the sequence space".
                ackNow = true
            } else {
                scheduleAck(afterInOrder: n, now: now)
            }
        } else {
            // Out of order: held in the ring past the in-order bytes, tracked in a bounded table.
            let n = receiveBuffer.write(data, at: receiveBuffer.count + Int(seq - rcvNxt))
            if let held = outOfOrder.ranges.first(where: { $0.left < seq &+ n && seq < $0.right }) {
                reportDuplicate(max(held.left, seq), min(held.right, seq &+ n))
            }
            if n > 0, outOfOrder.insert(seq, seq &+ n) {
                latestOutOfOrder = seq
            } else {
                counters.outOfOrderDropped += 1
            }
            // RFC 5681 4.2: "A TCP receiver SHOULD send an immediate duplicate ACK when an
            // out-of-order segment arrives."
            ackNow = true
        }
    }

    /// RFC 2883 section 4: "If the data receiver receives a duplicate segment ... the first SACK
    /// block ... should specify the sequence numbers of the duplicate segment" (a D-SACK block),
    /// once: "each duplicate contiguous sequence of data received is reported in at most one
    /// D-SACK block". The latest duplicate wins, as with Linux's tcp_dsack_set.
    func reportDuplicate(_ left: SeqNumber, _ right: SeqNumber) {
        guard left < right else { return }
        counters.duplicateSegmentsReceived += 1
        if sackEnabled { duplicateSACK = TCPSequenceRanges.Range(left: left, right: right) }
    }

    /// The ACK decision for `n` new in-order bytes. RFC 5681 4.2: "an ACK SHOULD be generated
    /// for at least every second full-sized segment" -- full-sized as received (`receiveMSS`);
    /// like Linux's __tcp_ack_snd_check, once more than one such segment is unacknowledged.
    /// Before that, the first segments of a connection are ACKed each (quick ACKs); otherwise
    /// the ACK is delayed, at most `delayedAckTimeout`.
    private func scheduleAck(afterInOrder n: Int, now: Int64) {
        if n > receiveMSS { receiveMSS = min(n, localMSS) }
        bytesSinceAck += n
        if quickAcksLeft == nil {
            let windowSegments = (Int(advertisedRightEdge - rcvNxt) + n) / (2 * receiveMSS)
            quickAcksLeft = min(config.maximumQuickAcks, max(windowSegments, 2))
        }
        if let left = quickAcksLeft, left > 0 {
            quickAcksLeft = left - 1
            ackNow = true
        } else if bytesSinceAck > receiveMSS {
            ackNow = true
        } else if delayedAckDeadline == nil {
            delayedAckDeadline = now &+ config.delayedAckTimeout.nanosecondsSaturating
        }
    }

    func consumeFinIfReached(now: Int64) {
        guard !finReceived, let finSequence = peerFinSequence, finSequence == rcvNxt else { return }
        // "advance RCV.NXT over the FIN, and send an acknowledgment for the FIN".
        rcvNxt = rcvNxt &+ 1
        finReceived = true
        ackNow = true
        switch state {
        case .synReceived, .established:
            // "Enter the CLOSE-WAIT state."
            state = .closeWait
        case .finWait1:
            // "If our FIN has been ACKed ... then enter TIME-WAIT ... otherwise, enter the
            // CLOSING state."
            if ourFinAcknowledged { enterTimeWait(now: now) } else { state = .closing }
        case .finWait2:
            // "Enter the TIME-WAIT state. Start the time-wait timer".
            enterTimeWait(now: now)
        default:
            break
        }
    }
}

extension TCPConnection {
    /// Fills in a connection made by a listener whose handshake `ack` just completed
    /// (passive SYN-RECEIVED -> ESTABLISHED).
    func completePassiveOpen(irs: SeqNumber, peerOptions: TCPOptions, ack: TCPRepr, synAckSentAt: Int64?, now: Int64) {
        negotiateOptions(fromSYN: peerOptions, now: now)
        self.irs = irs
        rcvNxt = irs &+ 1
        lastAckSent = rcvNxt
        advertisedRightEdge = rcvNxt &+ synWindow
        sndUna = iss &+ 1
        sndNxt = sndUna
        sndMax = sndUna
        sndWnd = Int(ack.window) << Int(sendShift)
        maxSndWnd = sndWnd
        sndWl1 = ack.sequenceNumber
        sndWl2 = ack.acknowledgmentNumber
        if let sentAt = synAckSentAt, !timestampsEnabled { rtt.sample(now - sentAt, at: now) }
        restartKeepalive(now: now)
    }
}
