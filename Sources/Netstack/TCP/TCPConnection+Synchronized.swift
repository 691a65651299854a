// Segment arrival in the synchronized states and SYN-RECEIVED: RFC 9293 3.10.7.4 "Otherwise",
// step by step (first: sequence number; second: RST; fourth: SYN; fifth: ACK; seventh: text;
// eighth: FIN), with RFC 7323 PAWS and RFC 5961's challenge ACKs. Each phase quotes the
// sentence it implements and returns whether processing goes on.

import Wire

extension TCPConnection {
    func handleSynchronized(
        _ segment: TCPRepr, payload: UnsafeRawBufferPointer, now: Int64,
        output: inout some TCPSegmentOutput
    ) {
        var flags = segment.flags
        var seq = segment.sequenceNumber
        if state == .synReceived, flags.contains([.syn, .ack]), seq == irs {
            // Simultaneous open, RFC 9293 figure 8 line 6: the peer's SYN,ACK
            // "<SEQ=300><ACK=101><CTL=SYN,ACK>" moves SYN-RECEIVED to ESTABLISHED. Its SYN was
            // already consumed, so treat it as the ACK that follows the SYN.
            flags.remove(.syn)
            seq = seq &+ 1
        }
        var data = payload
        var fin = flags.contains(.fin)
        guard passesPAWS(segment, flags: flags, now: now),
            checkSequence(seq, flags: flags, data: &data, fin: &fin, now: now)
        else { return }
        if flags.contains(.rst) {
            handleReset(seq: seq, now: now)
            return
        }
        updateTSRecent(segment, seq: seq, now: now)
        restartKeepalive(now: now)
        // Fourth: the SYN bit. RFC 5961 4.2: "If the SYN bit is set, irrespective of the
        // sequence number, TCP MUST send an ACK (also referred to as challenge ACK) to the remote
        // peer ... After sending the acknowledgment, TCP MUST drop the unacceptable segment".
        if flags.contains(.syn) {
            challengeAck(now: now)
            return
        }
        // Fifth: the ACK field. "if the ACK bit is off, drop the segment and return".
        guard flags.contains(.ack), acceptsAcknowledgment(segment, seq: seq, now: now, output: &output) else { return }
        processAcknowledgment(segment, hasData: !data.isEmpty || fin, now: now, output: &output)
        guard state != .closed else { return }
        receiveText(seq: seq, data: data, fin: fin, now: now)
    }

    /// RFC 7323 5.3 R1: "If SEG.TSval < TS.Recent and the RST bit is off: If the connection
    /// has been idle more than 24 days, save SEG.TSval in variable TS.Recent, else the
    /// segment is not acceptable; follow the steps below for an unacceptable segment."
    private func passesPAWS(_ segment: TCPRepr, flags: TCPFlags, now: Int64) -> Bool {
        guard timestampsEnabled, !flags.contains(.rst), let ts = segment.options.timestamp,
            Int32(bitPattern: ts.value &- tsRecent) < 0
        else { return true }
        if now - tsRecentTime > 24 * 86_400 * 1_000_000_000 {
            tsRecent = ts.value
            return true
        }
        counters.pawsRejected += 1
        ackNow = true
        return false
    }

    /// First: the four-case acceptability test. False: drop the segment. A zero window still
    /// takes the segment's control bits (`data` and `fin` are cleared).
    private func checkSequence(
        _ seq: SeqNumber, flags: TCPFlags, data: inout UnsafeRawBufferPointer, fin: inout Bool,
        now: Int64
    ) -> Bool {
        let segmentLength = data.count + (flags.contains(.syn) ? 1 : 0) + (fin ? 1 : 0)
        let receiveWindow = max(Int(advertisedRightEdge - rcvNxt), 0)
        guard !isAcceptable(seq: seq, length: segmentLength, window: receiveWindow) else { return true }
        counters.unacceptableSegments += 1
        if !data.isEmpty, seq < rcvNxt, !flags.contains(.rst) {
            // A retransmission of data we hold (our ACK was lost or late): D-SACK it.
            reportDuplicate(seq, min(rcvNxt, seq &+ data.count))
        }
        // "If the RCV.WND is zero, no segments will be acceptable, but special allowance
        // should be made to accept valid ACKs, URGs, and RSTs."
        let zeroWindowAllowance = receiveWindow == 0 && seq == rcvNxt && !flags.contains(.rst)
        // "If an incoming segment is not acceptable, an acknowledgment should be sent in
        // reply (unless the RST bit is set, if so drop the segment and return)".
        if !flags.contains(.rst) { ackNow = true }
        // TIME-WAIT: "Acknowledge it, and restart the 2 MSL timeout."
        if state == .timeWait, fin { timeWaitDeadline = now &+ config.timeWaitDuration.nanosecondsSaturating }
        guard zeroWindowAllowance else { return false }
        // A bare FIN at RCV.NXT is taken even so, as Linux's tcp_data_queue takes it ("some
        // stacks are known to send bare FIN packets in a loop even if we send RWIN 0"): it needs
        // no buffer, and dropping it leaves a peer that closed waiting on our window forever.
        if !data.isEmpty { fin = false }
        data = UnsafeRawBufferPointer(start: nil, count: 0)
        return true
    }

    /// RFC 9293 3.10.7.4, the four cases of "Segment Length / Receive Window / Test".
    func isAcceptable(seq: SeqNumber, length: Int, window: Int) -> Bool {
        let windowEnd = rcvNxt &+ window
        func inWindow(_ s: SeqNumber) -> Bool { rcvNxt <= s && s < windowEnd }
        switch (length, window) {
        case (0, 0): return seq == rcvNxt
        case (0, _): return inWindow(seq)
        case (_, 0): return false
        default: return inWindow(seq) || inWindow(seq &+ (length - 1))
        }
    }

    /// Second: the RST bit (RFC 5961 section 3.2).
    private func handleReset(seq: SeqNumber, now: Int64) {
        guard seq == rcvNxt else {
            // "If the RST bit is set and the sequence number does not exactly match ...
            // but is within the current receive window, TCP MUST send an ACK (challenge ACK)".
            challengeAck(now: now)
            return
        }
        // "If the RST bit is set and the sequence number exactly matches the next expected
        // sequence number (RCV.NXT), then TCP MUST reset the connection."
        switch state {
        case .synReceived:
            // "If this connection was initiated with an active OPEN (i.e., came from SYN-SENT
            // state), then the connection was refused".
            enterClosed(error: .connectionRefused)
        case .established, .finWait1, .finWait2, .closeWait:
            enterClosed(error: .connectionReset)
        default:
            // CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB".
            enterClosed(error: nil)
        }
    }

    /// RFC 7323 5.3 R3: "If SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent then SEG.TSval
    /// is copied to TS.Recent".
    private func updateTSRecent(_ segment: TCPRepr, seq: SeqNumber, now: Int64) {
        guard timestampsEnabled, let ts = segment.options.timestamp,
            Int32(bitPattern: ts.value &- tsRecent) >= 0, seq <= lastAckSent
        else { return }
        tsRecent = ts.value
        tsRecentTime = now
    }

    /// Fifth, the acceptability of SEG.ACK, and SYN-RECEIVED's move to ESTABLISHED. False:
    /// the segment is dropped (a challenge ACK or a RST has been arranged).
    private func acceptsAcknowledgment(
        _ segment: TCPRepr, seq: SeqNumber, now: Int64,
        output: inout some TCPSegmentOutput
    ) -> Bool {
        let ack = segment.acknowledgmentNumber
        // RFC 5961 5.2: acceptable only if "(SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT"; "If
        // the ACK acknowledges something not yet sent (SEG.ACK > SND.NXT) then send an ACK, drop
        // the segment, and return"; below the range, "send an ACK, drop the segment".
        if ack > sndMax || ack < sndUna &+ (-maxSndWnd) {
            challengeAck(now: now)
            return false
        }
        guard state == .synReceived else { return true }
        // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state and continue
        // processing ... If the segment acknowledgment is not acceptable, form a reset
        // segment <SEQ=SEG.ACK><CTL=RST>".
        guard sndUna < ack else {
            if let reset = TCPConnection.resetReply(to: segment) {
                output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
                counters.segmentsSent += 1
            }
            return false
        }
        state = finQueued ? .finWait1 : .established
        sndWnd = Int(segment.window) << Int(sendShift)
        maxSndWnd = max(maxSndWnd, sndWnd)
        sndWl1 = seq
        sndWl2 = ack
        return true
    }

    /// Seventh: the segment text, in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 only ("this should
    /// not occur since a FIN has been received" in the others: ignore). Sixth (URG) is
    /// tolerated: urgent bytes are delivered inline like SO_OOBINLINE. Eighth: the FIN bit,
    /// possibly ahead of a hole (held until the hole fills).
    private func receiveText(seq: SeqNumber, data: UnsafeRawBufferPointer, fin: Bool, now: Int64) {
        if !data.isEmpty {
            switch state {
            case .established, .finWait1, .finWait2:
                receiveData(seq: seq, data: data, now: now)
            default:
                break
            }
        }
        if fin, state != .timeWait, peerFinSequence == nil {
            let finSequence = seq &+ data.count
            if finSequence <= advertisedRightEdge { peerFinSequence = finSequence }
        }
        consumeFinIfReached(now: now)
    }
}
