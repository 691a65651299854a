// Routes inbound TCP segments to connections and listeners, answers strays with RST, and drives
// every connection's timers. The stack's IP layer calls `deliver` with a parsed header and the
// flow seen from our side (local = the packet's destination).

import Wire

public struct TCPDemuxCounters: Sendable, Hashable {
    public var segmentsDelivered = 0
    public var segmentsToListeners = 0
    public var resetsForStrays = 0
    public var connectionsAccepted = 0
    public var connectionsRemoved = 0
    public init() {}
}

public final class TCPDemux {
    public private(set) var connections: [TCPFlowID: TCPConnection] = [:]
    private var listeners: [TCPSocketAddress: TCPListener] = [:]
    private var portListeners: [UInt16: TCPListener] = [:]
    private var anyListener: TCPListener?
    public private(set) var counters = TCPDemuxCounters()

    public init() {}

    /// Listens on one local address and port.
    public func listen(_ listener: TCPListener, on address: TCPSocketAddress) { listeners[address] = listener }
    /// Listens on a port, any local address.
    public func listen(_ listener: TCPListener, port: UInt16) { portListeners[port] = listener }
    /// Receives every SYN no other listener took, whatever its destination (transparent
    /// gateway: "accept for any destination").
    public func listenAny(_ listener: TCPListener) { anyListener = listener }
    public func stopListening(on address: TCPSocketAddress) { listeners[address] = nil }
    public func stopListening(port: UInt16) { portListeners[port] = nil }
    public func stopListeningAny() { anyListener = nil }

    /// Tracks a connection made with `TCPConnection.connect`.
    public func register(_ connection: TCPConnection) { connections[connection.flow] = connection }
    public func remove(_ flow: TCPFlowID) { connections[flow] = nil }

    public func deliver(_ segment: TCPRepr, payload: UnsafeRawBufferPointer, flow: TCPFlowID,
                        now: TCPInstant, output: inout some TCPSegmentOutput) {
        if let connection = connections[flow], connection.state != .closed {
            counters.segmentsDelivered += 1
            connection.handle(segment, payload: payload, now: now, output: &output)
            if connection.isFinished { removeFinished(flow) }
            return
        }
        if let listener = listeners[flow.local] ?? portListeners[flow.local.port] ?? anyListener {
            counters.segmentsToListeners += 1
            if let connection = listener.handle(segment, payload: payload, flow: flow, now: now, output: &output) {
                counters.connectionsAccepted += 1
                connections[flow] = connection
            }
            return
        }
        // RFC 9293 3.10.7.1, CLOSED: "all data in the incoming segment is discarded. An
        // incoming segment containing a RST is discarded. An incoming segment not containing a
        // RST causes a RST to be sent in response."
        if let reset = TCPConnection.resetReply(to: segment) {
            counters.resetsForStrays += 1
            output.send(reset, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow)
        }
    }

    /// Runs every due timer. O(connections); call when `nextDeadline` passes and after a batch
    /// of user reads/writes.
    public func poll(now: TCPInstant, output: inout some TCPSegmentOutput) {
        for (flow, connection) in connections {
            connection.poll(now: now, output: &output)
            if connection.isFinished { removeFinished(flow) }
        }
        for listener in listeners.values { listener.poll(now: now, output: &output) }
        for listener in portListeners.values { listener.poll(now: now, output: &output) }
        anyListener?.poll(now: now, output: &output)
    }

    public var nextDeadline: TCPInstant? {
        var earliest: TCPInstant?
        func consider(_ d: TCPInstant?) { if let d { earliest = min(earliest ?? d, d) } }
        for connection in connections.values { consider(connection.nextDeadline) }
        for listener in listeners.values { consider(listener.nextDeadline) }
        for listener in portListeners.values { consider(listener.nextDeadline) }
        consider(anyListener?.nextDeadline)
        return earliest
    }

    private func removeFinished(_ flow: TCPFlowID) {
        connections[flow] = nil
        counters.connectionsRemoved += 1
    }
}
