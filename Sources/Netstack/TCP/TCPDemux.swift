// Routes inbound TCP segments to connections and listeners, answers strays with RST, and drives
// every connection's timers. The stack's IP layer calls `deliver` with a parsed header and the
// flow seen from our side (local = the packet's destination).
//
// Timers: the connections report timers that move earlier (TCPConnection.timerArmed) into a
// heap (TCPTimerHeap), so `nextDeadline` and `pollDue` cost O(log n) per due connection, not a
// scan of every connection: under connection churn most connections sit in TIME-WAIT.

import Wire

public struct TCPDemuxCounters: Sendable, Hashable {
    public var segmentsDelivered = 0
    public var segmentsToListeners = 0
    public var resetsForStrays = 0
    public var connectionsAccepted = 0
    public var connectionsRemoved = 0
    /// Summed over every connection the demux holds or held: retransmission timeouts that
    /// fired (RFC 6298 5.4-5.6) and segments sent again for any reason. On a clean link the
    /// first stays 0: a loss the ACK clock cannot repair costs a whole RTO (200 ms at least).
    public var retransmissionTimeouts = 0
    public var retransmittedSegments = 0
    public init() {}
}

public final class TCPDemux {
    public private(set) var connections: [TCPFlowID: TCPConnection] = [:]
    private var listeners: [TCPSocketAddress: TCPListener] = [:]
    private var portListeners: [UInt16: TCPListener] = [:]
    private var anyListener: TCPListener?
    /// The counters, with the per-connection sums taken now (O(connections): for snapshots).
    public var counters: TCPDemuxCounters {
        var sum = tally
        for connection in connections.values { Self.add(connection.counters, to: &sum) }
        return sum
    }
    /// Counted as it happens, and the sums of connections no longer held.
    private var tally = TCPDemuxCounters()
    private var timers = TCPTimerHeap()
    /// While `pollDue` runs: its `now`. A timer a connection sets at or before it waits for the
    /// next call (each call polls a connection at most once, so it always ends).
    private var pollingNow: Int64?

    public init() {}

    /// Listens on one local address and port.
    public func listen(_ listener: TCPListener, on address: TCPSocketAddress) { listeners[address] = listener }
    /// Listens on a port, any local address.
    public func listen(_ listener: TCPListener, port: UInt16) { portListeners[port] = listener }
    /// Receives every SYN no other listener took, whatever its destination (transparent
    /// gateway: "accept for any destination").
    public func listenAny(_ listener: TCPListener) { anyListener = listener }
    /// Whether a listener of its own (not the any-destination one) takes SYNs to `local`.
    public func hasListener(for local: TCPSocketAddress) -> Bool {
        listeners[local] != nil || portListeners[local.port] != nil
    }
    public var anyDestinationListener: TCPListener? { anyListener }
    public func stopListening(on address: TCPSocketAddress) { listeners[address] = nil }
    public func stopListening(port: UInt16) { portListeners[port] = nil }
    public func stopListeningAny() { anyListener = nil }

    /// Tracks a connection made with `TCPConnection.connect`.
    public func register(_ connection: TCPConnection) {
        if let previous = connections[connection.flow], previous !== connection { forget(previous) }
        connections[connection.flow] = connection
        adopt(connection)
    }

    public func remove(_ flow: TCPFlowID) {
        if let connection = connections.removeValue(forKey: flow) { forget(connection) }
    }

    public func deliver(
        _ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID,
        now: NetstackInstant, output: inout some TCPSegmentOutput
    ) {
        if let connection = connections[flow], connection.state != .closed {
            tally.segmentsDelivered += 1
            connection.handle(segment, payload: payload, now: now, output: &output)
            if connection.isFinished { removeFinished(flow) }
            return
        }
        if let listener = listeners[flow.local] ?? portListeners[flow.local.port] ?? anyListener {
            tally.segmentsToListeners += 1
            if let connection = listener.handle(segment, payload: payload, flow: flow, now: now, output: &output) {
                tally.connectionsAccepted += 1
                // A CLOSED connection still held under this four-tuple goes (its sums kept).
                if let previous = connections[flow] { forget(previous) }
                connections[flow] = connection
                adopt(connection)
            }
            return
        }
        // RFC 9293 3.10.7.1, CLOSED: "all data in the incoming segment is discarded. An
        // incoming segment containing a RST is discarded. An incoming segment not containing a
        // RST causes a RST to be sent in response."
        if let reset = TCPConnection.resetReply(to: segment) {
            tally.resetsForStrays += 1
            output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
        }
    }

    /// Polls every connection (O(connections)): for owners that read or wrote on many
    /// connections and want window updates and new data sent. Timers alone need `pollDue`.
    public func poll(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        var finished: [TCPFlowID] = []
        for (flow, connection) in connections {
            connection.poll(now: now, output: &output)
            if connection.isFinished { finished.append(flow) }
        }
        for flow in finished { removeFinished(flow) }
        // Every connection ran: the entries now due were served, so they move to each
        // connection's real next deadline (else `nextDeadline` would keep naming the past).
        runDueTimers(now: now, output: &output, polling: false)
        pollListeners(now: now, output: &output)
    }

    /// Runs the timers that are due: only the connections whose schedule says so (and the
    /// listeners' SYN-ACK retransmissions). Call it when `nextDeadline` passes.
    public func pollDue(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        runDueTimers(now: now, output: &output, polling: true)
        pollListeners(now: now, output: &output)
    }

    /// Takes the due entries off the schedule; `polling`: polls their connections first.
    private func runDueTimers(now: NetstackInstant, output: inout some TCPSegmentOutput, polling: Bool) {
        let t = now.signedNanoseconds
        pollingNow = t
        defer { pollingNow = nil }
        while let top = timers.first, top.deadline <= t {
            timers.removeFirst()
            guard let connection = connections[top.flow], connection.scheduledDeadline == top.deadline else { continue }
            connection.scheduledDeadline = nil
            // An entry for a timer that has since moved later (the loss probe moves on every
            // ACK) wakes nothing: the connection is only rescheduled.
            if polling, let due = connection.nextDeadline, due.signedNanoseconds <= t {
                connection.poll(now: now, output: &output)
            }
            if connection.isFinished {
                removeFinished(top.flow)
            } else if connection.scheduledDeadline == nil, let next = connection.nextDeadline {
                schedule(connection, at: next.signedNanoseconds)
            }
        }
    }

    private func pollListeners(now: NetstackInstant, output: inout some TCPSegmentOutput) {
        for listener in listeners.values { listener.poll(now: now, output: &output) }
        for listener in portListeners.values { listener.poll(now: now, output: &output) }
        anyListener?.poll(now: now, output: &output)
    }

    public var nextDeadline: NetstackInstant? {
        var earliest: NetstackInstant?
        func consider(_ d: NetstackInstant?) { if let d { earliest = min(earliest ?? d, d) } }
        consider(nextConnectionDeadline().map(NetstackInstant.init(signedNanoseconds:)))
        for listener in listeners.values { consider(listener.nextDeadline) }
        for listener in portListeners.values { consider(listener.nextDeadline) }
        consider(anyListener?.nextDeadline)
        return earliest
    }

    /// The earliest live entry of the schedule, dropping stale ones on the way.
    private func nextConnectionDeadline() -> Int64? {
        while let top = timers.first {
            if let connection = connections[top.flow], connection.scheduledDeadline == top.deadline {
                return top.deadline
            }
            timers.removeFirst()
        }
        return nil
    }

    // MARK: Timer schedule

    /// Called by a connection whose timer moved before its scheduled deadline.
    func schedule(_ connection: TCPConnection, at deadline: Int64) {
        var deadline = deadline
        if let pollingNow, deadline <= pollingNow { deadline = pollingNow &+ 1 }
        connection.scheduledDeadline = deadline
        timers.insert(.init(deadline: deadline, flow: connection.flow))
        // Stale entries surface and go in time; rebuild when they outnumber the live ones, so
        // timers that keep moving earlier cannot grow the heap without bound.
        if timers.count > 64, timers.count > 2 * connections.count {
            var live: [TCPTimerHeap.Entry] = []
            live.reserveCapacity(connections.count)
            for (flow, connection) in connections {
                if let scheduled = connection.scheduledDeadline { live.append(.init(deadline: scheduled, flow: flow)) }
            }
            timers.rebuild(live)
        }
    }

    private func adopt(_ connection: TCPConnection) {
        connection.timerScheduler = self
        connection.scheduledDeadline = nil
        if connection.isFinished {
            schedule(connection, at: .min)
        } else if let next = connection.nextDeadline {
            schedule(connection, at: next.signedNanoseconds)
        }
    }

    /// Lets go of a connection leaving `connections`; its sums stay in the counters.
    private func forget(_ connection: TCPConnection) {
        connection.timerScheduler = nil
        connection.scheduledDeadline = nil
        Self.add(connection.counters, to: &tally)
    }

    private static func add(_ connection: TCPConnectionCounters, to sum: inout TCPDemuxCounters) {
        sum.retransmissionTimeouts += connection.retransmissionTimeouts
        sum.retransmittedSegments += connection.retransmittedSegments
    }

    private func removeFinished(_ flow: TCPFlowID) {
        if let connection = connections.removeValue(forKey: flow) { forget(connection) }
        tally.connectionsRemoved += 1
    }
}
