// Path MTU discovery (RFC 1191 for IPv4, RFC 8201 for IPv6): an ICMP "fragmentation needed" or
// "packet too big" about one of our segments lowers the segment size, once the report passes the
// checks RFC 5927 asks for against forged ICMP, and what was in flight goes again in the new
// size. The estimate lives with the connection; a new connection starts from the route MTU.

import Wire

extension TCPConnection {
    /// The lowest path MTU a report may bring us to. IPv6: RFC 8201 section 4, "A node MUST NOT
    /// reduce its estimate of the Path MTU below the IPv6 minimum link MTU" (1280). IPv4: Linux's
    /// min_pmtu (552) rather than RFC 791's 68, so a forged report cannot shrink segments to a
    /// few bytes (RFC 5927 section 7, the blind performance-degrading attack).
    static func minimumPathMTU(isIPv6: Bool) -> Int { isIPv6 ? 1280 : 552 }

    /// RFC 1191 section 7's plateaus, for a router that sends no next-hop MTU (RFC 792's old
    /// message): "the host should use the largest plateau value that is less than the returned
    /// Total Length field".
    static let mtuPlateaus = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68]

    /// Takes a "too big" report quoting our segment `quotedSequence`, of `quotedLength` bytes as
    /// sent, with next-hop MTU `reportedMTU` (0: none given). Returns whether it lowered the MSS.
    @discardableResult
    public func handlePathMTU(
        reportedMTU: Int, quotedSequence: SeqNumber, quotedLength: Int, now: NetstackInstant,
        output: inout some TCPSegmentOutput
    ) -> Bool {
        guard let mss = loweredMSS(reportedMTU: reportedMTU, quotedSequence: quotedSequence, quotedLength: quotedLength)
        else {
            counters.pathMTUMessagesIgnored += 1
            return false
        }
        counters.pathMTUReductions += 1
        mtuSearch.reported(mtu: mss + ipAndTCPHeaders)
        lowerSendMSS(to: mss)
        // The segments in flight were too big for the path and are lost.
        resendFlightWithoutCongestionResponse(now: now.signedNanoseconds, output: &output)
        notifyReadiness()
        return true
    }

    /// A smaller segment size for what is sent from now on; the windows keep their segments.
    private func lowerSendMSS(to mss: Int) {
        sendMSS = mss
        receiveMSS = min(receiveMSS, mss)
        congestion.reduceMSS(to: mss)
    }

    /// Everything in flight goes again at once in the current size, with no congestion response
    /// (a path's MTU dropped it, not congestion), as Linux's tcp_simple_retransmit does. Like a
    /// timeout's go-back-N it moves `recover` (Linux sets high_seq = snd_nxt): the duplicate
    /// ACKs this resend draws are its own echoes, not a loss to recover from.
    private func resendFlightWithoutCongestionResponse(now: Int64, output: inout some TCPSegmentOutput) {
        recover = sndMax
        sndNxt = sndUna
        highRetransmitted = sndUna
        rttProbe = nil
        transmit(now: now, output: &output)
    }

    /// The probe in flight did not pass.
    private func mtuProbeLost() {
        mtuSearch.probeFailed()
        counters.pathMTUProbesLost += 1
    }

    /// The MSS a report asks for, or nil when it must be ignored.
    private func loweredMSS(reportedMTU: Int, quotedSequence: SeqNumber, quotedLength: Int) -> Int? {
        // RFC 5927 section 4.1: "TCP SHOULD check that the TCP sequence number contained in the
        // payload of the ICMP error message is within the range SND.UNA =< SEG.SEQ < SND.NXT"
        // (SND.NXT before any go-back-N: the highest we sent).
        guard state.isSynchronized, state != .timeWait, sndUna <= quotedSequence, quotedSequence < sndMax else {
            return nil
        }
        let headers = ipAndTCPHeaders
        var mtu = reportedMTU
        if mtu == 0, !flow.isIPv6 {
            mtu = Self.mtuPlateaus.first { $0 < quotedLength } ?? 68
        }
        // RFC 1191 section 3: "A host MUST never increase its estimate of the Path MTU in
        // response to the contents of a Datagram Too Big message"; and a router dropped the
        // datagram for being larger than the MTU it reports, so a report not below the quoted
        // datagram's own length is no such drop (RFC 5927 section 7.3's check of the quote).
        guard mtu < quotedLength, mtu < sendMSS + headers else { return nil }
        let mss = max(mtu, Self.minimumPathMTU(isIPv6: flow.isIPv6)) - headers
        return mss < sendMSS ? mss : nil
    }

    /// IP and TCP fixed headers: MTU = MSS + this.
    var ipAndTCPHeaders: Int { (flow.isIPv6 ? 40 : 20) + 20 }

    // MARK: Black holes and probes (RFC 4821)

    /// A retransmission timeout of one segment for the `TCPPathMTUSearch.blackHoleTimeouts`th
    /// time or more (RFC 4821 7.7: "a full-stop timeout ... be taken as an indication of an
    /// MTU black hole"; Linux's tcp_mtu_probing after tcp_retries1): fall back to a smaller
    /// segment size, which the go-back-N then sends.
    func retransmissionTimedOutForPathMTU() {
        // A timeout with the probe outstanding: it did not pass.
        if mtuSearch.probe != nil { mtuProbeLost() }
        guard config.pathMTUProbing, state.isSynchronized, retransmitCount >= TCPPathMTUSearch.blackHoleTimeouts
        else { return }
        let headers = ipAndTCPHeaders
        let mtu = mtuSearch.blackHole(
            current: sendMSS + headers, routeMTU: localMSS + headers, headers: headers,
            floor: Self.minimumPathMTU(isIPv6: flow.isIPv6))
        guard mtu - headers < sendMSS else { return }
        counters.pathMTUBlackHoles += 1
        lowerSendMSS(to: mtu - headers)
    }

    /// The probe to send now in place of the next new segment, if one is due (RFC 4821 7.5/7.6,
    /// with Linux's tcp_mtu_probe conditions): a search runs, nothing is being recovered (all
    /// that was in flight at the last loss is acknowledged: Linux's TCP_CA_Open), the congestion
    /// window holds at least 11 segments, and there is data and window for the probe and a
    /// segment behind it (whose ACK tells a lost probe from a late one).
    func mtuProbe(available: Int, peerRoom: Int, now: Int64) -> (length: Int, mtu: Int)? {
        guard mtuSearch.isActive, recoveryPoint == nil, retransmitCount == 0, sndNxt == sndMax, sndUna >= recover,
            outOfOrder.isEmpty, duplicateSACK == nil,
            congestion.cwnd >= TCPPathMTUSearch.minimumWindowSegments * sendMSS,
            let mtu = mtuSearch.nextProbeMTU(now: now, routeMTU: localMSS + ipAndTCPHeaders)
        else { return nil }
        let length = mtu - ipAndTCPHeaders - (sendMSS - effectiveMSS)
        guard length > effectiveMSS, available >= length + sendMSS, peerRoom >= length + sendMSS,
            congestion.cwnd - pipe >= length
        else { return nil }
        counters.pathMTUProbesSent += 1
        return (length, mtu)
    }

    /// Any retransmission over the probe's bytes: whatever the ACK later says, the probe itself
    /// proved nothing (its bytes may have arrived in smaller segments), so count it lost.
    func retransmittingForPathMTU(from start: SeqNumber, to end: SeqNumber) {
        guard let probe = mtuSearch.probe, start < probe.end, probe.start < end else { return }
        mtuProbeLost()
    }

    /// ACK processing: the probe was acknowledged, so its size passes the path.
    func acknowledgedForPathMTU(_ ack: SeqNumber) {
        guard let probe = mtuSearch.probe, ack >= probe.end, let mtu = mtuSearch.probeSucceeded() else { return }
        sendMSS = max(sendMSS, mtu - ipAndTCPHeaders)
        congestion.raiseMSS(to: sendMSS)
    }

    /// Duplicate ACKs with the probe the first segment unacknowledged: the probe was lost, not
    /// the path congested. Like Linux's tcp_mtup_probe_failed and tcp_simple_retransmit, resend
    /// in the old size with no congestion response; `recover` keeps the echoes of this resend
    /// from starting a fast retransmit (RFC 6582 3.2 step 1). Returns whether it was the probe.
    func lostProbeInsteadOfCongestion(now: Int64, output: inout some TCPSegmentOutput) -> Bool {
        guard let probe = mtuSearch.probe, sndUna == probe.start else { return false }
        mtuProbeLost()
        duplicateAcks = 0
        resendFlightWithoutCongestionResponse(now: now, output: &output)
        return true
    }
}
