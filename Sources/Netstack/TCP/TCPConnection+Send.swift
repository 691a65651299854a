// Segment departure: SYN / SYN-ACK, new data under the peer's window and the congestion window
// (Nagle, sender-side SWS avoidance), FIN, loss-recovery retransmissions (RFC 6582 NewReno,
// RFC 6675 SACK), pure ACKs and window updates.

import Wire

extension TCPConnection {
    /// Sends everything that is due now.
    func transmit(now: Int64, output: inout some TCPSegmentOutput) {
        switch state {
        case .closed:
            return
        case .synSent, .synReceived:
            if sndNxt == iss { sendSYN(now: now, output: &output) }
            if ackNow, state == .synReceived { sendAck(now: now, output: &output) }
            return
        case .timeWait, .finWait2:
            break
        case .established, .closeWait, .finWait1, .closing, .lastAck:
            if recoveryPoint != nil, sackEnabled {
                if usesRACK {
                    sendRACKLostRetransmissions(now: now, output: &output)
                } else {
                    sendSACKRecoveryRetransmissions(now: now, output: &output)
                }
            }
            sendData(now: now, output: &output)
            // Rules (3) and (4) resend what RACK holds within its reordering window, or a tail
            // the probe already covers: Linux runs neither with RACK, nor do we.
            if recoveryPoint != nil, sackEnabled, !usesRACK {
                sendSACKLastResortRetransmission(now: now, output: &output)
            }
        }
        if !ackNow, windowUpdateDue { ackNow = true }
        if ackNow { sendAck(now: now, output: &output) }
    }

    // MARK: Handshake

    private func sendSYN(now: Int64, output: inout some TCPSegmentOutput) {
        var options = TCPOptions()
        options.mss = UInt16(clamping: localMSS)
        let isSynAck = state == .synReceived
        // RFC 7323 1.3: "A TCP MAY send the WS option in a <SYN,ACK> segment only if it has
        // received a WS option in the corresponding <SYN>"; likewise SACK-permitted and TS.
        if config.windowScaling, !isSynAck || peerOfferedWindowScale {
            options.windowScale = TCPConnection.windowShift(forBuffer: config.receiveBufferSize)
        }
        if config.selectiveAcknowledgments, !isSynAck || sackEnabled { options.sackPermitted = true }
        if config.timestamps, !isSynAck || timestampsEnabled {
            options.timestamp = (timestampValue(now), isSynAck ? tsRecent : 0)
        }
        let flags: TCPFlags = isSynAck ? [.syn, .ack] : [.syn]
        let segment = TCPRepr(
            sourcePort: flow.local.port, destinationPort: flow.remote.port,
            sequenceNumber: iss, acknowledgmentNumber: isSynAck ? rcvNxt : SeqNumber(rawValue: 0),
            flags: flags, window: UInt16(synWindow), urgentPointer: 0, options: options,
            payloadLength: 0)
        output.send(segment, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
        counters.segmentsSent += 1
        if sndMax == iss {
            rttProbe = (iss, now)
        } else {
            counters.retransmittedSegments += 1
            rttProbe = nil
        }
        sndNxt = iss &+ 1
        if sndMax < sndNxt { sndMax = sndNxt }
        if isSynAck {
            ackNow = false
            lastAckSent = rcvNxt
        }
        if retransmitDeadline == nil { retransmitDeadline = now &+ rtt.rto }
    }

    // MARK: Data

    /// Payload bytes per segment: the MSS "excluding TCP options" (RFC 6691), so the options
    /// this segment carries (timestamps, SACK blocks) come out of it, as Linux's
    /// tcp_current_mss does; otherwise a full segment would exceed the route MTU.
    var effectiveMSS: Int {
        var options = timestampsEnabled ? 12 : 0
        let blocks = outOfOrder.count + (duplicateSACK == nil ? 0 : 1)
        if sackEnabled, blocks > 0 {
            options += 4 + 8 * min(blocks, timestampsEnabled ? 3 : 4)
        }
        return max(sendMSS - options, 1)
    }

    /// Sequence number of our FIN (valid once `finQueued`).
    var finSequence: SeqNumber { sendBufferStart &+ sendBuffer.count }

    /// Bytes in flight for window accounting: RFC 6675 "pipe" during SACK recovery, else
    /// SND.NXT - SND.UNA.
    var pipe: Int {
        guard recoveryPoint != nil, sackEnabled else { return Int(sndNxt - sndUna) }
        if usesRACK {
            // Outstanding, less what was SACKed and what RACK marked lost and not yet resent
            // (with nothing SACKed too: a partial ACK can empty the scoreboard while RACK holds
            // the rest lost).
            return max(Int(sndMax - sndUna) - scoreboard.totalBytes - rack.lostBytes, 0)
        }
        guard let highestSacked = scoreboard.highestRight else { return Int(sndNxt - sndUna) }
        // Unsacked bytes above the highest SACK are still in flight; holes below it count only
        // once retransmitted (they are presumed lost).
        var inFlight = max(Int(sndMax - highestSacked), 0)
        var cursor = sndUna
        for range in scoreboard.ranges {
            let holeEnd = range.left
            if cursor < holeEnd, cursor < highRetransmitted {
                inFlight += Int(min(holeEnd, highRetransmitted) - cursor)
            }
            cursor = range.right
        }
        return inFlight
    }

    private func sendData(now: Int64, output: inout some TCPSegmentOutput) {
        restartAfterIdleIfDue(now: now)
        let highestBefore = sndMax
        defer { if sndMax > highestBefore, !lossProbeDue, lossProbeEnd == nil { armLossProbe(now: now) } }
        while true {
            // After an RTO, skip what the peer already SACKed (RFC 6675 section 5.1).
            if sndNxt < sndMax, let sacked = scoreboard.range(containing: sndNxt) {
                sndNxt = min(sacked.right, sndMax)
                continue
            }
            let offset = Int(sndNxt - sendBufferStart)
            let available = sendBuffer.count - offset
            let finPending = finQueued && sndNxt <= finSequence
            guard available > 0 || finPending else { break }
            let isRetransmission = sndNxt < sndMax

            let peerRoom = Int(sndUna &+ sndWnd - sndNxt)
            let segmentSize = effectiveMSS
            // A tail loss probe of new data goes whatever the window (RFC 8985 7.3).
            let congestionRoom =
                lossProbeDue && !isRetransmission
                ? segmentSize : congestion.cwnd + limitedTransmitRoom - pipe
            var length = min(max(available, 0), segmentSize, max(peerRoom, 0), max(congestionRoom, 0))
            let probe = isRetransmission ? nil : mtuProbe(available: available, peerRoom: peerRoom, now: now)
            if let probe {
                length = probe.length
            } else if !isRetransmission, !lossProbeDue, length == segmentSize,
                config.segmentationOffloadSize > segmentSize
            {
                // Segmentation offload: as many whole segments as windows and data allow in one
                // go, as with TSO on Linux; a remainder below one MSS waits for the next
                // round, under Nagle and SWS avoidance like any short segment.
                let burst = min(
                    max(available, 0), config.segmentationOffloadSize, max(peerRoom, 0), max(congestionRoom, 0))
                length = burst - burst % segmentSize
            }
            let fin = finPending && offset + length == sendBuffer.count

            if length == 0, !fin {
                // Peer window closed with nothing in flight: start the persist timer
                // (RFC 9293 3.8.6.1 zero-window probing).
                if peerRoom <= 0, sndMax == sndUna, persistDeadline == nil, available > 0 {
                    startPersistTimer(now: now)
                }
                break
            }
            if fin, length == 0, peerRoom < 0 { break }
            if !isRetransmission, length < segmentSize, !fin,
                holdsBackShortSegment(length: length, available: available, peerRoom: peerRoom, now: now)
            {
                break
            }
            windowProbeDue = false
            if !isRetransmission { lossProbeDue = false }
            var flags: TCPFlags = [.ack]
            if fin { flags.insert(.fin) }
            if length > 0, offset + length == sendBuffer.count { flags.insert(.psh) }
            let payload = sendBuffer.view(at: offset, length: length, scratch: segmentScratch)
            // A path MTU probe goes whole: it is the size being tested.
            emit(
                seq: sndNxt, flags: flags, payload: payload, now: now, output: &output,
                segmentSize: length > segmentSize && probe == nil ? segmentSize : nil)
            if isRetransmission {
                counters.retransmittedSegments += 1
                retransmittingForPathMTU(from: sndNxt, to: sndNxt &+ length)
                markHeadRetransmission(at: sndNxt, nextSend: sndNxt &+ length)
            } else {
                if length < segmentSize { smallSegmentEnd = sndNxt &+ length }
                counters.bytesSent += length
                if rttProbe == nil, !timestampsEnabled { rttProbe = (sndNxt, now) }
            }
            if let probe { mtuSearch.probe = (sndNxt, sndNxt &+ length, probe.mtu) }
            sndNxt = sndNxt &+ (length + (fin ? 1 : 0))
            if sndMax < sndNxt { sndMax = sndNxt }
            // RFC 6298 5.1: "Every time a packet containing data is sent (including a
            // retransmission), if the timer is not running, start it running".
            if retransmitDeadline == nil { retransmitDeadline = now &+ rtt.rto }
            persistDeadline = nil
            if fin { break }
        }
    }

    /// Sender SWS avoidance and Nagle for a segment shorter than the MSS: true holds it back.
    private func holdsBackShortSegment(length: Int, available: Int, peerRoom: Int, now: Int64) -> Bool {
        // Sender SWS avoidance (RFC 9293 3.8.6.2.1): send only "(1) a maximum-sized segment ...,
        // (2) ... all data queued ... when no unacked data, or (3) at least a fraction Fs of the
        // maximum window".
        let everything = length == available
        let nothingInFlight = sndMax == sndUna
        // Nagle (RFC 9293 3.7.4): "If there is unacknowledged data ... then the sending TCP
        // buffers all user data ... until the outstanding data has been acknowledged or until
        // the TCP can send a full-sized segment". Minshall's variant, as Linux: only an
        // unacknowledged *small* segment holds the next small one back.
        let nagleAllows = noDelay || nothingInFlight || smallSegmentEnd <= sndUna
        let sws = (everything && nagleAllows) || (maxSndWnd > 0 && length >= maxSndWnd / 2 && nagleAllows)
        guard !sws, !windowProbeDue, !lossProbeDue else { return false }
        // Held back by a window smaller than a segment with nothing in flight: no ACK will come
        // to reopen it, so the persist timer must (RFC 9293 3.8.6.2.1: "the sender ... SHOULD
        // ... send a segment ... when the override timeout occurs"; Linux's tcp_write_wakeup).
        if nothingInFlight, peerRoom < available, persistDeadline == nil { startPersistTimer(now: now) }
        return true
    }

    private func startPersistTimer(now: Int64) {
        persistBackoff = rtt.rto
        persistDeadline = now &+ persistBackoff
    }

    /// Limited Transmit (RFC 3042): "a TCP sender SHOULD send a previously unsent data segment
    /// upon receipt of each of the first two duplicate ACKs ... [if] the total FlightSize would
    /// remain less than or equal to cwnd plus 2*SMSS", so a small window still draws the third
    /// duplicate ACK (or the SACKs) that fast retransmit needs, instead of a timeout. cwnd is
    /// not changed ("the sender MUST NOT change cwnd").
    private var limitedTransmitRoom: Int {
        guard recoveryPoint == nil, (1...2).contains(duplicateAcks), sndNxt == sndMax else { return 0 }
        return duplicateAcks * sendMSS
    }

    /// Restart after idle (RFC 5681 4.1, as Linux's tcp_cwnd_restart with the default
    /// tcp_slow_start_after_idle = 1): nothing in flight, data to send, and none sent for longer
    /// than the RTO.
    private func restartAfterIdleIfDue(now: Int64) {
        guard sndMax == sndUna, let last = lastDataSentAt, now - last > rtt.rto,
            Int(sndNxt - sendBufferStart) < sendBuffer.count
        else { return }
        congestion.restartAfterIdle()
    }

    /// Retransmits one segment starting at `seq` (at most up to `limit`), regardless of the
    /// congestion window (fast retransmit and partial ACKs need exactly this). A rescue
    /// retransmission leaves HighRxt where it was (RFC 6675 NextSeg rule 4).
    @discardableResult
    func retransmit(
        at seq: SeqNumber, limit: SeqNumber?, now: Int64, output: inout some TCPSegmentOutput,
        advancingHighRetransmitted: Bool = true
    ) -> Int {
        let offset = Int(seq - sendBufferStart)
        guard offset >= 0 else { return 0 }
        // Never past SND.MAX: unsent bytes go as new data, through `sendData`.
        var length = min(max(sendBuffer.count - offset, 0), effectiveMSS, max(Int(sndMax - seq), 0))
        if let limit { length = min(length, max(Int(limit - seq), 0)) }
        let payload = sendBuffer.view(at: offset, length: length, scratch: segmentScratch)
        let fin = finQueued && seq &+ payload.count == finSequence && sndMax > finSequence
        guard !payload.isEmpty || fin else { return 0 }
        var flags: TCPFlags = [.ack]
        if fin { flags.insert(.fin) }
        emit(seq: seq, flags: flags, payload: payload, now: now, output: &output)
        counters.retransmittedSegments += 1
        retransmittingForPathMTU(from: seq, to: seq &+ payload.count)
        markHeadRetransmission(at: seq, nextSend: sndNxt)
        // Karn: "RTT samples MUST NOT be made using segments that were retransmitted".
        rttProbe = nil
        let end = seq &+ (payload.count + (fin ? 1 : 0))
        if advancingHighRetransmitted, highRetransmitted < end { highRetransmitted = end }
        if retransmitDeadline == nil { retransmitDeadline = now &+ rtt.rto }
        return payload.count + (fin ? 1 : 0)
    }

    /// RFC 6675 section 5 steps 4.1-4.3: fast retransmit on entering loss recovery.
    func enterFastRecovery(now: Int64, output: inout some TCPSegmentOutput) {
        if lostProbeInsteadOfCongestion(now: now, output: &output) { return }
        counters.fastRetransmits += 1
        // "RecoveryPoint = HighData"; "ssthresh = cwnd = (FlightSize / 2)" (per the CC).
        recoveryPoint = sndMax
        recover = sndMax
        // A probe episode ends in the recovery it led to (Linux's tcp_init_cwnd_reduction):
        // its verdict would cut the window a second time for the same loss.
        lossProbeEnd = nil
        congestion.onFastRetransmit(flightSize: Int(sndMax - sndUna))
        if sackEnabled { rateReduction = TCPProportionalRateReduction(flightSize: Int(sndMax - sndUna)) }
        highRetransmitted = sndUna
        // "Retransmit the first data segment presumed dropped" (with RACK, the first it marked).
        if usesRACK, let lost = rack.firstLost {
            retransmit(at: lost.left, limit: lost.right, now: now, output: &output)
        } else {
            retransmit(at: sndUna, limit: scoreboard.ranges.first?.left, now: now, output: &output)
        }
        if !sackEnabled {
            // RFC 6582 3.2 step 2: "set cwnd to ssthresh plus 3*SMSS".
            congestion.inflate(by: 3 * sendMSS)
        }
    }

    /// RFC 6675 5 (C): "If cwnd - pipe >= 1 SMSS, the sender SHOULD transmit one or more
    /// segments".
    var recoveryMaySend: Bool { congestion.cwnd - pipe >= effectiveMSS }

    /// RFC 6675 NextSeg rule (1): retransmit holes presumed lost ("IsLost (S2)": more than
    /// (DupThresh - 1) * SMSS bytes SACKed above them) while the window allows.
    private func sendSACKRecoveryRetransmissions(now: Int64, output: inout some TCPSegmentOutput) {
        var guardCount = scoreboard.count * 64 + 64
        while recoveryMaySend, guardCount > 0 {
            guardCount -= 1
            var candidate = max(highRetransmitted, sndUna)
            if let sacked = scoreboard.range(containing: candidate) { candidate = sacked.right }
            guard let holeEnd = scoreboard.ranges.first(where: { $0.left > candidate })?.left,
                scoreboard.bytes(above: candidate) > 2 * sendMSS
            else { return }
            if retransmit(at: candidate, limit: holeEnd, now: now, output: &output) == 0 { return }
        }
    }

    /// RFC 6675 NextSeg rules (3) and (4), when holes presumed lost (1) and new data (2) gave
    /// nothing while pipe < cwnd. (3): "an unSACKed sequence number S3" above HighRxt and below
    /// the highest SACKed byte, lost or not yet; else (4): "a single 'rescue' retransmission
    /// per entry into loss recovery ... of up to SMSS octets that MUST include the highest
    /// outstanding unSACKed sequence number ... and RescueRxt set to RecoveryPoint. HighRxt
    /// MUST NOT be updated", which saves a lost tail from waiting on the RTO.
    private func sendSACKLastResortRetransmission(now: Int64, output: inout some TCPSegmentOutput) {
        // Rule (2) holds while unsent data and the peer's window remain: it waits for the window.
        let unsent = sendBuffer.count - Int(sndMax - sendBufferStart)
        guard recoveryMaySend, sndNxt == sndMax, unsent <= 0 || Int(sndUna &+ sndWnd - sndMax) <= 0,
            let recoveryPoint
        else { return }
        var candidate = max(highRetransmitted, sndUna)
        if let sacked = scoreboard.range(containing: candidate) { candidate = sacked.right }
        if let holeEnd = scoreboard.ranges.first(where: { $0.left > candidate })?.left {
            retransmit(at: candidate, limit: holeEnd, now: now, output: &output)
            return
        }
        guard rescueRetransmitted.map({ sndUna > $0 }) ?? true else { return }
        // The highest unSACKed byte: below SND.MAX, or below the last SACKed range reaching it.
        var highest = sndMax
        if let last = scoreboard.ranges.last, last.right >= sndMax { highest = last.left }
        guard highest > sndUna, highest > highRetransmitted else { return }
        let start = max(sndUna, highest &+ (-effectiveMSS), highRetransmitted)
        if retransmit(at: start, limit: highest, now: now, output: &output, advancingHighRetransmitted: false) > 0 {
            rescueRetransmitted = recoveryPoint
        }
    }

    /// RFC 6937 on each ACK of a SACK recovery: the window becomes what is in flight plus the
    /// share of what this ACK delivered.
    func reduceRate(delivered: Int) {
        guard var reduction = rateReduction else { return }
        let window = reduction.window(
            deliveredNow: delivered, pipe: pipe, ssthresh: congestion.ssthresh, mss: sendMSS)
        rateReduction = reduction
        congestion.setRecoveryWindow(window)
    }

    // MARK: ACKs and windows

    /// A pure ACK carries SND.MAX, not a SND.NXT that go-back-N moved back: RFC 9293 3.10.7.4
    /// finds a zero-length segment acceptable at any in-window sequence number, and Linux's
    /// tcp_acceptable_seq sends its never-rewound snd_nxt, or the peer's window edge when that
    /// is lower (so the ACK stays acceptable to a peer that shrank its window).
    private func sendAck(now: Int64, output: inout some TCPSegmentOutput) {
        let windowEnd = sndUna &+ sndWnd
        let seq = sndMax <= windowEnd ? sndMax : max(windowEnd, sndNxt)
        emit(seq: seq, flags: [.ack], payload: UnsafeRawBufferPointer(start: nil, count: 0), now: now, output: &output)
    }

    /// The receive window we could offer now, rounded down to our scale.
    private var offerableWindow: Int {
        let space = min(receiveBuffer.free, max(receiveWindowLimit - receiveBuffer.count, 0))
        let capped = min(space, 65535 << Int(receiveShift))
        return (capped >> Int(receiveShift)) << Int(receiveShift)
    }

    /// Receiver SWS avoidance (RFC 9293 3.8.6.2.2): move the right edge only when "the
    /// increase ... is at least min(Fr*RCV.BUFF, Eff.snd.MSS)"; and send a window update when
    /// the window at least doubled (as Linux does) after the application read.
    private var windowUpdateDue: Bool {
        guard state == .established || state == .finWait1 || state == .finWait2 else { return false }
        let current = max(Int(advertisedRightEdge - rcvNxt), 0)
        let offer = offerableWindow
        return offer - current >= windowMoveThreshold && offer >= 2 * current
    }

    /// The least the right edge moves by: "min(Fr*RCV.BUFF, Eff.snd.MSS)" with Fr = 1/2 and the
    /// peer's segment size as received.
    private var windowMoveThreshold: Int { min(receiveBuffer.capacity / 2, receiveMSS) }

    /// The window field for a non-SYN segment; moves the advertised right edge (never left).
    private func advertiseWindow() -> UInt16 {
        let offer = offerableWindow
        let current = max(Int(advertisedRightEdge - rcvNxt), 0)
        if offer > current, offer - current >= windowMoveThreshold {
            advertisedRightEdge = rcvNxt &+ offer
        }
        let window = max(Int(advertisedRightEdge - rcvNxt), 0)
        return UInt16(clamping: window >> Int(receiveShift))
    }

    /// RFC 2883 section 4: a D-SACK block first, then "the (possibly larger) block of data in
    /// the receiver's data queue above the cumulative acknowledgement" that holds it; RFC 2018
    /// section 4: "The first SACK block (i.e., the one immediately following the kind and length
    /// fields in the option) MUST specify the contiguous block of data containing the segment
    /// which triggered this ACK"; then the others, as many as fit.
    private func sackBlocks(room: Int) -> SACKBlocks {
        var blocks = SACKBlocks()
        var containing: TCPSequenceRanges.Range?
        if let duplicate = duplicateSACK {
            blocks.append(SACKBlock(left: duplicate.left, right: duplicate.right))
            containing = outOfOrder.ranges.first { $0.left <= duplicate.left && duplicate.right <= $0.right }
            if let containing { blocks.append(SACKBlock(left: containing.left, right: containing.right)) }
        }
        let latest = latestOutOfOrder.flatMap { outOfOrder.range(containing: $0) }
        if let latest, latest != containing, blocks.count < room {
            blocks.append(SACKBlock(left: latest.left, right: latest.right))
        }
        for range in outOfOrder.ranges where blocks.count < room && range != latest && range != containing {
            blocks.append(SACKBlock(left: range.left, right: range.right))
        }
        return blocks
    }

    /// Builds and sends one non-SYN segment carrying the current ACK, window and options.
    /// `segmentSize`: the payload is larger, for the link to cut (segmentation offload).
    func emit(
        seq: SeqNumber, flags: TCPFlags, payload: UnsafeRawBufferPointer, now: Int64,
        output: inout some TCPSegmentOutput, segmentSize: Int? = nil
    ) {
        var options = TCPOptions()
        var sackRoom = 4
        if timestampsEnabled {
            options.timestamp = (timestampValue(now), tsRecent)
            sackRoom = 3
        }
        if sackEnabled, !outOfOrder.isEmpty || duplicateSACK != nil {
            options.sackBlocks = sackBlocks(room: sackRoom)
            duplicateSACK = nil
        }
        let segment = TCPRepr(
            sourcePort: flow.local.port, destinationPort: flow.remote.port,
            sequenceNumber: seq, acknowledgmentNumber: rcvNxt, flags: flags,
            window: advertiseWindow(), urgentPointer: 0, options: options,
            payloadLength: payload.count)
        if let segmentSize {
            output.send(segment, payload: payload, flow: flow, segmentSize: segmentSize)
        } else {
            output.send(segment, payload: payload, flow: flow)
        }
        counters.segmentsSent += 1
        if !payload.isEmpty {
            lastDataSentAt = now
            rateReduction?.didSend(payload.count)
        }
        if !payload.isEmpty || flags.contains(.fin) {
            rackSent(seq, seq &+ (payload.count + (flags.contains(.fin) ? 1 : 0)), now: now)
        }
        lastAckSent = rcvNxt
        ackNow = false
        delayedAckDeadline = nil
        bytesSinceAck = 0
    }
}
