// One TCP connection: its sequence-space variables (RFC 9293 section 3.3.1), buffers, timers and
// the user-facing API. The protocol logic is split by concern across extensions:
//   TCPConnection+Input.swift   segment arrival: acceptability, RST/SYN/ACK/data/FIN processing
//   TCPConnection+Send.swift    segment departure: data, Nagle, SWS, recovery retransmissions
//   TCPConnection+Timers.swift  RTO, delayed ACK, persist, keepalive, TIME-WAIT
//   TCPConnection+Bytes.swift   the user's reads and writes, copied or in place
//
// Sans-IO: every entry point that may send takes `now` and an output sink; nothing here reads a
// clock or makes a syscall. After the user reads or writes, call `poll(now:output:)` so window
// updates and new data go out.

import Wire

public final class TCPConnection {
    public let flow: TCPFlowID
    public let config: TCPConfig
    public internal(set) var state: TCPState
    /// Set when the connection ended abnormally.
    public internal(set) var error: TCPError?
    public internal(set) var counters = TCPConnectionCounters()
    /// Disables Nagle's algorithm when true (TCP_NODELAY).
    public var noDelay: Bool
    /// Called with the readiness bits that newly became true (edge-triggered).
    public var onReadiness: ((TCPConnection, TCPReadiness) -> Void)?

    private let budget: TCPMemoryBudget?
    /// What the rings hold against the budget; 0 once TIME-WAIT gave them back.
    private var reservedBytes: Int

    // MARK: Send sequence space
    let iss: SeqNumber
    var sndUna: SeqNumber
    var sndNxt: SeqNumber
    /// Highest sequence number sent plus one (SND.NXT before a go-back-N retransmission).
    var sndMax: SeqNumber
    var sndWnd = 0
    var maxSndWnd = 0
    var sndWl1: SeqNumber
    var sndWl2: SeqNumber
    /// Shift applied to windows the peer advertises (its Window Scale option).
    var sendShift: UInt8 = 0
    var sendMSS: Int
    /// The MSS we advertise (TCPConfig.localMSS(for:) of this connection's family).
    let localMSS: Int
    var sendBuffer: TCPByteRing
    /// One segment's worth of bytes, for payloads that wrap around the end of `sendBuffer`.
    let segmentScratch: UnsafeMutableRawBufferPointer
    /// Sequence number of the first byte held in `sendBuffer`.
    var sendBufferStart: SeqNumber
    /// The user shut down the write side; a FIN follows the last buffered byte.
    var finQueued = false
    /// End of the last sub-MSS segment sent (Nagle, Minshall's variant).
    var smallSegmentEnd: SeqNumber
    /// When data was last sent (new or retransmitted), for the restart after idle.
    var lastDataSentAt: Int64?

    // MARK: Receive sequence space
    var irs: SeqNumber
    var rcvNxt: SeqNumber
    var receiveBuffer: TCPByteRing
    var outOfOrder: TCPSequenceRanges
    /// Left edge of the most recent out-of-order arrival, reported first in SACK (RFC 2018).
    var latestOutOfOrder: SeqNumber?
    /// Duplicate data to report once, as the first SACK block of the next segment (D-SACK).
    var duplicateSACK: TCPSequenceRanges.Range?
    /// Sequence number of the peer's FIN once seen, even ahead of a hole.
    var peerFinSequence: SeqNumber?
    /// The peer's FIN has been consumed in order: reads end after the buffered bytes.
    var finReceived = false
    /// Shift applied to the windows we advertise.
    var receiveShift: UInt8 = 0
    /// RCV.NXT + RCV.WND as last advertised; never moves left (RFC 9293 3.8.6.2.2).
    var advertisedRightEdge: SeqNumber
    /// Receive-window auto-tuning: the window may not exceed this; it grows with the drain rate.
    var receiveWindowLimit: Int
    var autotuneEpochStart: Int64 = 0
    var autotuneBytes = 0
    /// In-order bytes received since we last sent an ACK (delayed-ACK accounting).
    var bytesSinceAck = 0
    /// The peer's segment size as we see it (Linux's icsk_ack.rcv_mss): the largest payload
    /// received, at most our MSS, from RFC 9293's default 536 (1220 for IPv6). ACK and window
    /// decisions key on it, not on our send MSS: a peer sending MSS - 12 with timestamps must
    /// still be ACKed every second segment (RFC 5681 4.2).
    var receiveMSS: Int
    /// Quick ACKs left (`TCPConfig.maximumQuickAcks`); nil until the first data segment.
    var quickAcksLeft: Int?

    // MARK: Options
    var timestampsEnabled = false
    var tsRecent: UInt32 = 0
    var tsRecentTime: Int64 = 0
    var lastAckSent: SeqNumber
    /// Added to our millisecond clock in TSval, so timestamps do not expose the clock origin.
    let tsOffset: UInt32
    var sackEnabled = false
    /// What the peer's SYN offered (kept for the SYN-ACK of a simultaneous open).
    var peerOfferedWindowScale = false

    // MARK: Timers (nanoseconds on the caller's clock)
    var rtt: TCPRTTEstimator
    var retransmitDeadline: Int64? { didSet { timerArmed(retransmitDeadline) } }
    var retransmitCount = 0
    var rttProbe: (sequence: SeqNumber, sentAt: Int64)?
    var delayedAckDeadline: Int64? { didSet { timerArmed(delayedAckDeadline) } }
    var persistDeadline: Int64? { didSet { timerArmed(persistDeadline) } }
    var persistBackoff: Int64 = 0
    /// Zero-window probes sent since the peer last acknowledged anything (Linux's
    /// icsk_probes_out): the persist timer gives up past `retransmissionLimit` of them.
    var persistProbesUnanswered = 0
    /// When an acceptable ACK last arrived (Linux's rcv_tstamp): a peer holding a zero window
    /// while data is outstanding is given up only after `TCPConfig.maximumRTO` of silence.
    var lastAckReceivedAt: Int64
    /// The persist timer fired on a window too small for a segment: the next `sendData`
    /// sends what fits anyway (the SWS override).
    var windowProbeDue = false
    var keepaliveDeadline: Int64? { didSet { timerArmed(keepaliveDeadline) } }
    var keepaliveProbesSent = 0
    var timeWaitDeadline: Int64? { didSet { timerArmed(timeWaitDeadline) } }
    /// Set when the user closed fully and the connection reached FIN-WAIT-2 (`finWait2Timeout`).
    var finWait2Deadline: Int64? { didSet { timerArmed(finWait2Deadline) } }
    /// The user called `close`: nothing more will be read, so FIN-WAIT-2 is bounded.
    var closedByUser = false
    /// The demux that runs this connection's timers, and the earliest deadline its schedule
    /// holds for it (never later than `nextDeadline`; nil when nothing is scheduled).
    weak var timerScheduler: TCPDemux?
    var scheduledDeadline: Int64?
    var challengeAckWindowStart: Int64 = .min / 2
    var challengeAcksInWindow = 0

    // MARK: Congestion control and loss recovery
    var congestion: TCPCongestionControl
    var duplicateAcks = 0
    /// RFC 6582 "recover": set while in fast recovery.
    var recoveryPoint: SeqNumber?
    /// RFC 6582's "recover" as it outlives a recovery: one past the highest sequence sent when
    /// the last recovery or retransmission timeout began (SND.MAX then, like `recoveryPoint`). Duplicate ACKs that do not cover more than it
    /// (go-back-N's own echoes after a timeout) start no new fast retransmit (RFC 6582 3.2
    /// steps 1 and 6; RFC 6675 5.1). "initialized to the initial send sequence number".
    var recover: SeqNumber
    /// RFC 6675 HighRxt: highest sequence retransmitted in this recovery.
    var highRetransmitted: SeqNumber
    /// SACK scoreboard: what the peer reported holding above SND.UNA.
    var scoreboard: TCPSequenceRanges
    /// Proportional Rate Reduction state, during SACK recovery.
    var rateReduction: TCPProportionalRateReduction?
    /// RFC 6675 RescueRxt: the RecoveryPoint of the recovery that made its rescue retransmission.
    var rescueRetransmitted: SeqNumber?
    /// Where data sent after the last retransmission of the segment at SND.UNA begins, and the
    /// SACKed bytes above it then (lost-retransmission detection); nil once SND.UNA moves.
    var headRetransmission: (mark: SeqNumber, sackedAbove: Int)?
    /// Path MTU search after a black hole (`TCPConfig.pathMTUProbing`).
    var mtuSearch = TCPPathMTUSearch()

    // MARK: RACK-TLP (RFC 8985)
    var rack: TCPRecentAcknowledgment
    /// The RACK reordering timer or the tail loss probe's PTO (`lossDetectionTimer` says which).
    var lossDetectionDeadline: Int64? { didSet { timerArmed(lossDetectionDeadline) } }
    var lossDetectionTimer = TCPLossDetectionTimer.probe
    /// "TLP.end_seq" (SND.NXT after the probe) while a probe episode is open; "TLP.is_retrans".
    var lossProbeEnd: SeqNumber?
    var lossProbeRetransmitted = false
    /// The PTO fired with new data to send: the next segment goes whatever the congestion window.
    var lossProbeDue = false

    // MARK: Pending output
    var ackNow = false
    var lastReadiness: TCPReadiness = []

    init(
        flow: TCPFlowID, config: TCPConfig, iss: SeqNumber, state: TCPState, now: Int64,
        budget: TCPMemoryBudget?
    ) throws(TCPError) {
        let localMSS = config.localMSS(for: flow)
        let sendCapacity = config.initialSendBufferSize(mss: localMSS)
        let bytes = sendCapacity + config.initialReceiveBufferSize
        if let budget, !budget.reserve(bytes) { throw .noBufferSpace }
        self.budget = budget
        reservedBytes = bytes
        self.flow = flow
        self.config = config
        self.state = state
        noDelay = config.noDelay
        self.iss = iss
        recover = iss
        sndUna = iss
        sndNxt = iss
        sndMax = iss
        sndWl1 = iss
        sndWl2 = iss
        sendBufferStart = iss &+ 1
        smallSegmentEnd = iss
        // RFC 9293 3.7.1: without an MSS option "the default ... 536" (IPv4), 1220 (IPv6).
        self.localMSS = localMSS
        sendMSS = min(flow.isIPv6 ? 1220 : 536, localMSS)
        receiveMSS = sendMSS
        sendBuffer = TCPByteRing(capacity: sendCapacity)
        segmentScratch = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(localMSS, config.segmentationOffloadSize, 1),
            alignment: 16)
        irs = SeqNumber(rawValue: 0)
        rcvNxt = SeqNumber(rawValue: 0)
        receiveBuffer = TCPByteRing(capacity: config.initialReceiveBufferSize)
        outOfOrder = TCPSequenceRanges(limit: config.maximumOutOfOrderRanges)
        advertisedRightEdge = SeqNumber(rawValue: 0)
        receiveWindowLimit = min(config.initialReceiveWindow, config.receiveBufferSize)
        lastAckSent = SeqNumber(rawValue: 0)
        tsOffset = iss.rawValue
        rtt = TCPRTTEstimator(
            initial: config.initialRTO.nanosecondsSaturating,
            minimum: config.minimumRTO.nanosecondsSaturating,
            maximum: config.maximumRTO.nanosecondsSaturating)
        congestion = TCPCongestionControl(algorithm: config.congestionControl, mss: sendMSS)
        highRetransmitted = iss
        scoreboard = TCPSequenceRanges(limit: config.maximumScoreboardRanges)
        rack = TCPRecentAcknowledgment(limit: config.transmissionRecords(mss: localMSS))
        autotuneEpochStart = now
        lastAckReceivedAt = now
    }

    deinit {
        segmentScratch.deallocate()
        budget?.release(reservedBytes)
    }

    /// Active open (RFC 9293 OPEN call): sends the SYN and enters SYN-SENT.
    /// `iss` is the caller's choice (RFC 6528: a keyed hash of the four-tuple plus a clock).
    public static func connect(
        flow: TCPFlowID, config: TCPConfig = TCPConfig(), iss: SeqNumber,
        now: NetstackInstant, budget: TCPMemoryBudget? = nil,
        output: inout some TCPSegmentOutput
    ) throws(TCPError) -> TCPConnection {
        let connection = try TCPConnection(
            flow: flow, config: config, iss: iss, state: .synSent,
            now: now.signedNanoseconds, budget: budget)
        connection.transmit(now: now.signedNanoseconds, output: &output)
        return connection
    }

    // MARK: User API

    /// Bytes waiting to be read.
    public var availableToRead: Int { receiveBuffer.count }
    /// Room in the send buffer.
    public var writableSpace: Int { canWrite ? sendBuffer.free : 0 }
    /// Bytes written but not yet acknowledged by the peer.
    public var unacknowledgedBytes: Int { sendBuffer.count }
    /// The peer sent FIN and every byte before it has been read: reads return 0 from now on.
    public var isReadClosed: Bool { (finReceived && receiveBuffer.isEmpty) || state == .closed }
    /// Nothing more will happen on this connection; the owner may drop it.
    public var isFinished: Bool { state == .closed }
    /// The MSS we send with (after negotiation).
    public var maximumSegmentSize: Int { sendMSS }
    public var congestionWindow: Int { congestion.cwnd }
    public var slowStartThreshold: Int { congestion.ssthresh }
    /// Current RTO (RFC 6298), after backoff.
    public var retransmissionTimeout: Duration { .nanoseconds(rtt.rto) }
    public var smoothedRTT: Duration? { rtt.smoothed.map { .nanoseconds($0) } }
    /// The window the peer allows us, scaled.
    public var peerWindow: Int { sndWnd }
    /// The shift the peer's Window Scale option asked for (RFC 7323 2.2); 0 without one.
    public var peerWindowScale: UInt8 { sendShift }

    /// Half-close (RFC 9293 CLOSE in ESTABLISHED/CLOSE-WAIT): a FIN follows the queued data.
    /// "Queue this until all preceding SENDs have been segmentized, then form a FIN segment and
    /// send it. In any case, enter FIN-WAIT-1 state." Call `poll` to send it.
    public func shutdownWrite() {
        switch state {
        case .established, .synReceived:
            finQueued = true
            state = .finWait1
        case .closeWait:
            finQueued = true
            state = .lastAck
        case .synSent:
            // "Delete the TCB and return 'error: closing' responses to any queued SENDs".
            enterClosed(error: nil)
        default:
            break
        }
    }

    /// Full close. With unread data the connection is reset, as RFC 2525 section 2.17 and Linux
    /// do ("a TCP SHOULD send a RST if data is received ... after a close"); else a half-close.
    public func close(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        if !receiveBuffer.isEmpty, state.isSynchronized {
            abort(now: now, output: &output)
            return
        }
        closedByUser = true
        shutdownWrite()
        transmit(now: now.signedNanoseconds, output: &output)
    }

    /// Whether `syn` may reopen this connection's four-tuple while it sits in TIME-WAIT: only
    /// when it cannot be an old duplicate of this incarnation. RFC 6191 section 2: with
    /// timestamps, "the timestamp of the SYN is larger than the last timestamp seen in the
    /// previous incarnation"; without, RFC 1122 4.2.2.13: "its sequence number is larger than
    /// the largest sequence number used in the previous incarnation". The owner then drops
    /// this connection and treats the SYN as new (Linux does the same), instead of answering
    /// it with an ACK the peer must reset and retry after.
    public func acceptsNewIncarnation(_ syn: TCPRepr) -> Bool {
        guard state == .timeWait, syn.flags.contains(.syn), syn.flags.isDisjoint(with: [.ack, .rst]) else {
            return false
        }
        if timestampsEnabled {
            guard let timestamp = syn.options.timestamp else { return false }
            return Int32(bitPattern: timestamp.value &- tsRecent) > 0
        }
        return syn.sequenceNumber > rcvNxt
    }

    /// ABORT (RFC 9293 3.10.5): "Send a reset segment: <SEQ=SND.NXT><CTL=RST>" and forget.
    public func abort(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        switch state {
        case .synReceived, .established, .finWait1, .finWait2, .closeWait:
            var options = TCPOptions()
            if timestampsEnabled { options.timestamp = (timestampValue(now.signedNanoseconds), tsRecent) }
            let reset = TCPRepr(
                sourcePort: flow.local.port, destinationPort: flow.remote.port,
                sequenceNumber: sndMax, acknowledgmentNumber: rcvNxt, flags: [.rst, .ack],
                window: 0, urgentPointer: 0, options: options, payloadLength: 0)
            output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
            counters.segmentsSent += 1
        default:
            break
        }
        enterClosed(error: .aborted)
    }

    /// The earliest instant `poll` has work to do, or nil when no timer runs.
    public var nextDeadline: NetstackInstant? {
        var earliest: Int64?
        func consider(_ deadline: Int64?) {
            if let deadline { earliest = min(earliest ?? deadline, deadline) }
        }
        consider(retransmitDeadline)
        consider(lossDetectionDeadline)
        consider(delayedAckDeadline)
        consider(persistDeadline)
        consider(keepaliveDeadline)
        consider(timeWaitDeadline)
        consider(finWait2Deadline)
        return earliest.map(NetstackInstant.init(signedNanoseconds:))
    }

    // MARK: Shared helpers

    /// A timer was set: tell the demux only when it fires before what is scheduled already
    /// (a timer moved later needs nothing: the earlier entry wakes the connection, which then
    /// schedules its real next deadline).
    @inline(__always)
    func timerArmed(_ deadline: Int64?) {
        guard let deadline else { return }
        if let scheduledDeadline, scheduledDeadline <= deadline { return }
        timerScheduler?.schedule(self, at: deadline)
    }

    func enterClosed(error: TCPError?) {
        if self.error == nil { self.error = error }
        state = .closed
        retransmitDeadline = nil
        lossDetectionDeadline = nil
        delayedAckDeadline = nil
        persistDeadline = nil
        keepaliveDeadline = nil
        timeWaitDeadline = nil
        finWait2Deadline = nil
        // Due at once: the demux's next `pollDue` drops the closed connection (it may have
        // closed outside the demux, by `abort` or a user call).
        timerArmed(.min)
        notifyReadiness()
    }

    func enterTimeWait(now: Int64) {
        state = .timeWait
        finWait2Deadline = nil
        retransmitDeadline = nil
        lossDetectionDeadline = nil
        persistDeadline = nil
        keepaliveDeadline = nil
        timeWaitDeadline = now &+ config.timeWaitDuration.nanosecondsSaturating
        releaseBuffersInTimeWait()
        notifyReadiness()
    }

    /// Grows a ring toward `capacity` bytes, as far as the memory budget allows; returns the
    /// capacity it has now.
    @discardableResult
    func growBuffer(send: Bool, to capacity: Int) -> Int {
        let current = send ? sendBuffer.capacity : receiveBuffer.capacity
        guard capacity > current, reservedBytes > 0 else { return current }
        if let budget, !budget.reserve(capacity - current) { return current }
        reservedBytes += capacity - current
        if send { sendBuffer.grow(to: capacity) } else { receiveBuffer.grow(to: capacity) }
        counters.bufferGrowths += 1
        return capacity
    }

    /// TIME-WAIT keeps sequence state only (RFC 9293 3.6.1: it exists to re-ACK a lost final
    /// ACK and absorb old duplicates), as Linux keeps a small tcp_timewait_sock: every byte we
    /// sent was acknowledged, so the rings go back to the budget, the receive ring once the
    /// user has read it all.
    func releaseBuffersInTimeWait() {
        guard state == .timeWait, reservedBytes > 0, receiveBuffer.isEmpty else { return }
        sendBuffer = TCPByteRing(capacity: 0)
        receiveBuffer = TCPByteRing(capacity: 0)
        budget?.release(reservedBytes)
        reservedBytes = 0
    }

    /// Our TSval: a millisecond clock plus a per-connection offset (RFC 7323 section 5.4).
    func timestampValue(_ now: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: now / 1_000_000) &+ tsOffset
    }

    var currentReadiness: TCPReadiness {
        var r: TCPReadiness = []
        if !receiveBuffer.isEmpty || finReceived || state == .closed { r.insert(.readable) }
        if canWrite, state.isSynchronized, sendBuffer.free >= min(sendMSS, sendBuffer.capacity) { r.insert(.writable) }
        if state.isSynchronized { r.insert(.connected) }
        if state == .closed { r.insert(.closed) }
        return r
    }

    func notifyReadiness() {
        let now = currentReadiness
        let fresh = now.subtracting(lastReadiness)
        lastReadiness = now
        if !fresh.isEmpty, let onReadiness { onReadiness(self, fresh) }
    }

    /// The segment answering one that reached no connection (RFC 9293 3.10.7.1): "If the ACK bit
    /// is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. If the
    /// ACK bit is on, <SEQ=SEG.ACK><CTL=RST>". Nil for an incoming RST ("discarded").
    public static func resetReply(to segment: TCPRepr) -> TCPRepr? {
        guard !segment.flags.contains(.rst) else { return nil }
        if segment.flags.contains(.ack) {
            return TCPRepr(
                sourcePort: segment.destinationPort, destinationPort: segment.sourcePort,
                sequenceNumber: segment.acknowledgmentNumber, acknowledgmentNumber: SeqNumber(rawValue: 0),
                flags: [.rst], window: 0, urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
        }
        var length = segment.payloadLength
        if segment.flags.contains(.syn) { length += 1 }
        if segment.flags.contains(.fin) { length += 1 }
        return TCPRepr(
            sourcePort: segment.destinationPort, destinationPort: segment.sourcePort,
            sequenceNumber: SeqNumber(rawValue: 0), acknowledgmentNumber: segment.sequenceNumber &+ length,
            flags: [.rst, .ack], window: 0, urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
    }
}
