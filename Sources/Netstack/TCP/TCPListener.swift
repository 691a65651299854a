// A listening socket (RFC 9293 LISTEN) with a bounded half-open table and SYN cookies once the
// table is full, so a SYN flood costs a fixed amount of memory and legitimate clients still get
// through. Completed handshakes become established `TCPConnection`s in a bounded accept queue.

import Wire

public struct TCPListenerCounters: Sendable, Hashable {
    public var synReceived = 0
    public var synAckRetransmitted = 0
    public var halfOpenExpired = 0
    public var cookiesSent = 0
    public var cookiesAccepted = 0
    public var cookiesRejected = 0
    public var acceptQueueOverflows = 0
    public var resetsSent = 0
    public var budgetRefusals = 0
    public init() {}
}

public final class TCPListener {
    public let config: TCPConfig
    public let synBacklog: Int
    public let acceptBacklog: Int
    public private(set) var counters = TCPListenerCounters()
    /// Called when a connection becomes acceptable.
    public var onAcceptable: ((TCPListener) -> Void)?

    struct HalfOpen {
        var iss: SeqNumber
        var irs: SeqNumber
        var peerOptions: TCPOptions
        var firstSentAt: Int64
        var deadline: Int64
        var retransmits: Int
        var rto: Int64
    }

    private var halfOpen: [TCPFlowID: HalfOpen]
    private var acceptQueue: [TCPConnection]
    private var acceptHead = 0
    private let key0: UInt64
    private let key1: UInt64
    private let cookies: TCPSynCookies
    private let budget: TCPMemoryBudget?

    /// `secret` keys ISNs (RFC 6528) and SYN cookies; give each listener fresh random bits.
    public init(
        config: TCPConfig = TCPConfig(), synBacklog: Int = 256, acceptBacklog: Int = 128,
        secret: (UInt64, UInt64), budget: TCPMemoryBudget? = nil
    ) {
        self.config = config
        self.synBacklog = max(synBacklog, 1)
        self.acceptBacklog = max(acceptBacklog, 1)
        key0 = secret.0
        key1 = secret.1
        cookies = TCPSynCookies(key0: secret.0, key1: secret.1)
        self.budget = budget
        halfOpen = Dictionary(minimumCapacity: self.synBacklog)
        acceptQueue = []
        acceptQueue.reserveCapacity(self.acceptBacklog)
    }

    public var halfOpenCount: Int { halfOpen.count }
    public var pendingAcceptCount: Int { acceptQueue.count - acceptHead }

    /// Takes the next established connection, if any.
    public func accept() -> TCPConnection? {
        guard acceptHead < acceptQueue.count else { return nil }
        let connection = acceptQueue[acceptHead]
        acceptHead += 1
        if acceptHead == acceptQueue.count {
            acceptQueue.removeAll(keepingCapacity: true)
            acceptHead = 0
        }
        return connection
    }

    /// Handles a segment for the listening port that matched no connection. Returns the new
    /// connection when this segment completed a handshake (it is also queued for `accept`).
    @discardableResult
    public func handle(
        _ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID,
        now: NetstackInstant, output: inout some TCPSegmentOutput
    ) -> TCPConnection? {
        let t = now.signedNanoseconds
        let flags = segment.flags
        if flags.contains(.rst) {
            // LISTEN: "An incoming RST segment could not be valid ... should be ignored"; for a
            // passive SYN-RECEIVED entry, "return to LISTEN" (drop it) if in window.
            if let entry = halfOpen[flow], segment.sequenceNumber == entry.irs &+ 1 {
                halfOpen[flow] = nil
            }
            return nil
        }
        if flags.contains(.ack), !flags.contains(.syn) {
            return completeHandshake(segment, payload: payload, flow: flow, now: t, output: &output)
        }
        if flags.contains(.ack) {
            // "Any acknowledgment is bad if it arrives on a connection still in the LISTEN
            // state. An acceptable reset segment should be formed ... <SEQ=SEG.ACK><CTL=RST>".
            sendReset(to: segment, flow: flow, output: &output)
            return nil
        }
        guard flags.contains(.syn) else { return nil }
        counters.synReceived += 1
        if var entry = halfOpen[flow] {
            // A retransmitted SYN: answer again with the same SYN-ACK.
            if entry.irs == segment.sequenceNumber {
                sendSynAck(entry: entry, flow: flow, cookie: false, now: t, output: &output)
                entry.retransmits += 1
                counters.synAckRetransmitted += 1
                halfOpen[flow] = entry
                return nil
            }
            halfOpen[flow] = nil
        }
        if halfOpen.count < synBacklog {
            // "Set RCV.NXT to SEG.SEQ+1, IRS is set to SEG.SEQ, ... ISS should be selected and a
            // SYN segment sent of the form <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>".
            let rto = config.initialRTO.nanosecondsSaturating
            let entry = HalfOpen(
                iss: initialSequenceNumber(flow: flow, now: t), irs: segment.sequenceNumber,
                peerOptions: segment.options, firstSentAt: t, deadline: t &+ rto,
                retransmits: 0, rto: rto)
            halfOpen[flow] = entry
            sendSynAck(entry: entry, flow: flow, cookie: false, now: t, output: &output)
        } else {
            // Table full: answer statelessly with a SYN cookie (RFC 4987 section 3.6).
            let iss = cookies.sequenceNumber(flow: flow, irs: segment.sequenceNumber, mss: segment.options.mss, now: t)
            let entry = HalfOpen(
                iss: iss, irs: segment.sequenceNumber, peerOptions: segment.options, firstSentAt: t,
                deadline: t, retransmits: 0, rto: 0)
            counters.cookiesSent += 1
            sendSynAck(entry: entry, flow: flow, cookie: true, now: t, output: &output)
        }
        return nil
    }

    /// SYN-ACK retransmission (RFC 6298 5.7 backoff for the SYN-ACK) and expiry.
    public func poll(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        let t = now.signedNanoseconds
        for (flow, var entry) in halfOpen where entry.deadline <= t {
            if entry.retransmits >= config.maximumSynRetransmissions {
                halfOpen[flow] = nil
                counters.halfOpenExpired += 1
                continue
            }
            entry.retransmits += 1
            entry.rto = min(entry.rto * 2, config.maximumRTO.nanosecondsSaturating)
            entry.deadline = t &+ entry.rto
            counters.synAckRetransmitted += 1
            halfOpen[flow] = entry
            sendSynAck(entry: entry, flow: flow, cookie: false, now: t, output: &output)
        }
    }

    public var nextDeadline: NetstackInstant? {
        var earliest: Int64?
        for entry in halfOpen.values { earliest = min(earliest ?? entry.deadline, entry.deadline) }
        return earliest.map(NetstackInstant.init(signedNanoseconds:))
    }

    // MARK: Handshake completion

    private func completeHandshake(
        _ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID,
        now: Int64, output: inout some TCPSegmentOutput
    ) -> TCPConnection? {
        var entry: HalfOpen
        var fromCookie = false
        if let stored = halfOpen[flow] {
            // SYN-RECEIVED, first the sequence number: any segment in the window we offered is
            // acceptable (the handshake's ACK may have been lost with the first data, so a
            // later segment completes it, as in Linux's tcp_check_req); "If an incoming
            // segment is not acceptable, an acknowledgment should be sent in reply".
            guard Self.isInOfferedWindow(segment.sequenceNumber, irs: stored.irs, config: config) else {
                sendAck(entry: stored, flow: flow, output: &output)
                return nil
            }
            // Then the ACK: "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED"; else
            // "form a reset segment <SEQ=SEG.ACK><CTL=RST>".
            guard segment.acknowledgmentNumber == stored.iss &+ 1 else {
                sendReset(to: segment, flow: flow, output: &output)
                return nil
            }
            entry = stored
        } else if let (iss, options) = cookies.validate(segment, flow: flow, now: now, timestampsOn: config.timestamps)
        {
            entry = HalfOpen(
                iss: iss, irs: segment.sequenceNumber &+ (-1), peerOptions: options, firstSentAt: now,
                deadline: now, retransmits: 0, rto: 0)
            fromCookie = true
        } else {
            counters.cookiesRejected += 1
            sendReset(to: segment, flow: flow, output: &output)
            return nil
        }
        guard pendingAcceptCount < acceptBacklog else {
            // Like Linux with tcp_abort_on_overflow off: drop the ACK, the client retransmits.
            counters.acceptQueueOverflows += 1
            return nil
        }
        let connection: TCPConnection
        do {
            connection = try TCPConnection(
                flow: flow, config: config, iss: entry.iss, state: .established,
                now: now, budget: budget)
        } catch {
            counters.budgetRefusals += 1
            halfOpen[flow] = nil
            sendReset(to: segment, flow: flow, output: &output)
            return nil
        }
        halfOpen[flow] = nil
        if fromCookie { counters.cookiesAccepted += 1 }
        connection.completePassiveOpen(
            irs: entry.irs, peerOptions: entry.peerOptions, ack: segment,
            synAckSentAt: entry.retransmits == 0 && !fromCookie ? entry.firstSentAt : nil,
            now: now)
        acceptQueue.append(connection)
        connection.handle(segment, payload: payload, now: NetstackInstant(signedNanoseconds: now), output: &output)
        onAcceptable?(self)
        return connection
    }

    // MARK: Segments

    private func sendSynAck(
        entry: HalfOpen, flow: TCPFlowID, cookie: Bool, now: Int64,
        output: inout some TCPSegmentOutput
    ) {
        var options = TCPOptions()
        let peer = entry.peerOptions
        options.mss = UInt16(clamping: cookie ? TCPSynCookies.mss(for: peer.mss) : config.localMSS(for: flow))
        let timestamp = config.timestamps ? peer.timestamp : nil
        // A cookie remembers WS and SACK-permitted only in the TSval it sends: without
        // timestamps it offers the MSS alone (the other options would be forgotten).
        if !cookie || timestamp != nil {
            var offered = TCPOptions()
            if config.windowScaling, peer.windowScale != nil {
                options.windowScale = TCPConnection.windowShift(forBuffer: config.receiveBufferSize)
                offered.windowScale = peer.windowScale
            }
            if config.selectiveAcknowledgments, peer.sackPermitted {
                options.sackPermitted = true
                offered.sackPermitted = true
            }
            if let ts = timestamp {
                let value = UInt32(truncatingIfNeeded: now / 1_000_000) &+ entry.iss.rawValue
                options.timestamp = (cookie ? TCPSynCookies.timestamp(value, encoding: offered) : value, ts.value)
            }
        }
        let window = Self.offeredWindow(config)
        let segment = TCPRepr(
            sourcePort: flow.local.port, destinationPort: flow.remote.port,
            sequenceNumber: entry.iss, acknowledgmentNumber: entry.irs &+ 1, flags: [.syn, .ack],
            window: UInt16(window), urgentPointer: 0, options: options, payloadLength: 0)
        output.send(segment, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
    }

    /// The window the SYN-ACK offered (unscaled: scaling starts after the handshake).
    private static func offeredWindow(_ config: TCPConfig) -> Int {
        min(config.initialReceiveWindow, config.receiveBufferSize, 65535)
    }

    /// RFC 9293 3.10.7.4's acceptability test in SYN-RECEIVED: RCV.NXT = IRS+1, RCV.WND the
    /// window the SYN-ACK offered.
    private static func isInOfferedWindow(_ seq: SeqNumber, irs: SeqNumber, config: TCPConfig) -> Bool {
        let next = irs &+ 1
        return next <= seq && seq < next &+ offeredWindow(config)
    }

    /// <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> from SYN-RECEIVED, for an unacceptable segment.
    private func sendAck(entry: HalfOpen, flow: TCPFlowID, output: inout some TCPSegmentOutput) {
        let ack = TCPRepr(
            sourcePort: flow.local.port, destinationPort: flow.remote.port,
            sequenceNumber: entry.iss &+ 1, acknowledgmentNumber: entry.irs &+ 1, flags: .ack,
            window: UInt16(Self.offeredWindow(config)), urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
        output.send(ack, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
    }

    private func sendReset(to segment: TCPRepr, flow: TCPFlowID, output: inout some TCPSegmentOutput) {
        guard let reset = TCPConnection.resetReply(to: segment) else { return }
        counters.resetsSent += 1
        output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
    }

    // MARK: ISN

    /// RFC 6528 section 3: "ISN = M + F(localip, localport, remoteip, remoteport, secretkey)",
    /// M "a 4 microsecond timer", F a keyed hash (SipHash here) of the four-tuple. Connections
    /// the owner opens itself (`TCPConnection.connect`) take theirs from here too.
    public func initialSequenceNumber(for flow: TCPFlowID, now: NetstackInstant) -> SeqNumber {
        initialSequenceNumber(flow: flow, now: now.signedNanoseconds)
    }

    private func initialSequenceNumber(flow: TCPFlowID, now: Int64) -> SeqNumber {
        var hash = TCPSipHash(key0: key0, key1: key1)
        hash.combine(flow)
        let f = UInt32(truncatingIfNeeded: hash.finalize())
        return SeqNumber(rawValue: f &+ UInt32(truncatingIfNeeded: now / 4_000))
    }
}
