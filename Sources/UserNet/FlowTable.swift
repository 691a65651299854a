// The gateway's flows, keyed by 5-tuple, with the limits that keep a hostile app from
// exhausting the host: a maximum number of flows, a buffer budget per flow and in total, and
// idle timeouts per protocol. At a limit a new flow is refused (and counted); flows that
// already exist are never disturbed by it. Keys are the stack's FlowKey (the app's view of
// the flow: its address and port, and what it addressed).

import Netstack
import Wire

public struct FlowLimits: Sendable, Equatable {
    public var maxFlows = 65_536
    /// Bytes one flow may hold in gateway buffers (what its host socket has not taken yet).
    public var perFlowBufferBytes = 4 << 20
    public var totalBufferBytes = 256 << 20
    /// RFC 4787 REQ-5 asks at least 2 minutes for UDP mappings; slirp-style gateways use
    /// shorter ones because the app re-creates them by sending. 60 s, configurable.
    public var udpIdleNanoseconds: UInt64 = 60_000_000_000
    /// RFC 5382 REQ-5: established TCP mappings must last at least 2 h 4 min idle.
    public var tcpIdleNanoseconds: UInt64 = 7_440_000_000_000
    public var icmpIdleNanoseconds: UInt64 = 30_000_000_000

    public init() {}

    public func idleTimeout(_ protocolNumber: IPProtocol) -> UInt64 {
        switch protocolNumber {
        case .tcp: tcpIdleNanoseconds
        case .icmp: icmpIdleNanoseconds
        default: udpIdleNanoseconds
        }
    }
}

public enum FlowRefusal: Error, Sendable, Equatable {
    case tooManyFlows
    case alreadyExists
}

public struct FlowTableCounters: Sendable, Equatable {
    public var created: UInt64 = 0
    public var removed: UInt64 = 0
    public var expired: UInt64 = 0
    public var refusedTooManyFlows: UInt64 = 0
    /// Buffer reservations refused by the per-flow budget.
    public var refusedFlowBudget: UInt64 = 0
    /// Buffer reservations refused by the total budget.
    public var refusedTotalBudget: UInt64 = 0
    public var peakFlows: Int = 0
}

public struct FlowTable<Value> {
    public typealias Counters = FlowTableCounters

    struct Entry {
        var value: Value
        var lastActivity: UInt64
        var bufferedBytes: Int
    }

    public let limits: FlowLimits
    public private(set) var counters = Counters()
    public private(set) var bufferedBytes = 0
    private var entries: [FlowKey: Entry] = [:]

    public init(limits: FlowLimits = FlowLimits()) {
        self.limits = limits
    }

    public var count: Int { entries.count }

    public subscript(key: FlowKey) -> Value? {
        get { entries[key]?.value }
    }

    /// Adds a new flow, or refuses it (counted) at the flow limit.
    public mutating func insert(_ key: FlowKey, _ value: Value, now: UInt64) throws(FlowRefusal) {
        guard entries[key] == nil else { throw .alreadyExists }
        guard entries.count < limits.maxFlows else {
            counters.refusedTooManyFlows &+= 1
            throw .tooManyFlows
        }
        entries[key] = Entry(value: value, lastActivity: now, bufferedBytes: 0)
        counters.created &+= 1
        counters.peakFlows = max(counters.peakFlows, entries.count)
    }

    /// Notes traffic on a flow (resets its idle clock); false if unknown.
    @discardableResult
    public mutating func touch(_ key: FlowKey, now: UInt64) -> Bool {
        guard entries[key] != nil else { return false }
        entries[key]?.lastActivity = now
        return true
    }

    /// Removes a flow, releasing its buffer bytes.
    @discardableResult
    public mutating func remove(_ key: FlowKey) -> Value? {
        guard let entry = entries.removeValue(forKey: key) else { return nil }
        bufferedBytes -= entry.bufferedBytes
        counters.removed &+= 1
        return entry.value
    }

    /// Removes and returns every flow (at shutdown).
    public mutating func removeAll() -> [(FlowKey, Value)] {
        let all = entries.map { ($0.key, $0.value.value) }
        entries.removeAll()
        bufferedBytes = 0
        counters.removed &+= UInt64(all.count)
        return all
    }

    /// Claims `bytes` of buffer for a flow; false (counted) if its own or the total budget
    /// would be exceeded. The caller then stops reading (closes the window) instead.
    public mutating func reserveBuffer(_ key: FlowKey, bytes: Int) -> Bool {
        guard bytes >= 0, let entry = entries[key] else { return false }
        guard entry.bufferedBytes + bytes <= limits.perFlowBufferBytes else {
            counters.refusedFlowBudget &+= 1
            return false
        }
        guard bufferedBytes + bytes <= limits.totalBufferBytes else {
            counters.refusedTotalBudget &+= 1
            return false
        }
        entries[key]?.bufferedBytes += bytes
        bufferedBytes += bytes
        return true
    }

    /// Returns buffer bytes a flow no longer holds.
    public mutating func releaseBuffer(_ key: FlowKey, bytes: Int) {
        guard let entry = entries[key] else { return }
        let released = min(max(bytes, 0), entry.bufferedBytes)
        entries[key]?.bufferedBytes -= released
        bufferedBytes -= released
    }

    public func bufferedBytes(of key: FlowKey) -> Int { entries[key]?.bufferedBytes ?? 0 }

    /// Removes and returns flows idle past their protocol's timeout (the caller closes their
    /// host sockets). Call it from a periodic timer.
    public mutating func expireIdle(now: UInt64) -> [(FlowKey, Value)] {
        var expired: [(FlowKey, Value)] = []
        for (key, entry) in entries where now &- entry.lastActivity >= limits.idleTimeout(key.protocolNumber) && now >= entry.lastActivity {
            expired.append((key, entry.value))
        }
        for (key, _) in expired {
            if let entry = entries.removeValue(forKey: key) { bufferedBytes -= entry.bufferedBytes }
        }
        counters.expired &+= UInt64(expired.count)
        return expired
    }
}
