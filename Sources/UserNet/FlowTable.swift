// The gateway's flows, keyed by 5-tuple, with the limits that keep a hostile app from
// exhausting the host: a maximum number of flows, a memory budget for the TCP flows' buffers
// (GatewayTCP holds it), and idle timeouts per protocol. At a limit a new flow is refused (and counted); flows that
// already exist are never disturbed by it. Keys are the stack's FlowKey (the app's view of
// the flow: its address and port, and what it addressed).

import Netstack
import Wire

public struct FlowLimits: Sendable, Equatable {
    public var maxFlows = 65_536
    /// Bytes every TCP flow's send and receive rings may take together (`--flow-memory`):
    /// 512 KiB a flow today, so 1 GiB holds 2048 flows at once (a build's or a browser's
    /// parallel connections fit). Without it `--max-flows 65536` would let an app pin 32 GiB.
    public var flowMemoryBytes = 1 << 30
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
    /// The flow's source holds its share of the table already (`FlowTable.perSourceLimit`).
    case sourceAtItsShare
    case alreadyExists
}

public struct FlowTableCounters: Sendable, Equatable {
    public var created: UInt64 = 0
    public var removed: UInt64 = 0
    public var expired: UInt64 = 0
    public var refusedTooManyFlows: UInt64 = 0
    /// Refused because their source held its share (a named network's member).
    public var refusedSourceAtItsShare: UInt64 = 0
    public var peakFlows: Int = 0
}

public struct FlowTable<Value> {
    public typealias Counters = FlowTableCounters

    struct Entry {
        var value: Value
        var lastActivity: UInt64
    }

    public let limits: FlowLimits
    /// The most flows one source address may hold, nil for no such limit. A named network's
    /// members share one table: with a share, a member that opens flows without end is refused
    /// while the others still open theirs.
    public let perSourceLimit: Int?
    public private(set) var counters = Counters()
    private var entries: [FlowKey: Entry] = [:]
    /// Flows per source, kept only with a `perSourceLimit` (at most one entry per flow).
    private var perSource: [IPAddress: Int] = [:]

    public init(limits: FlowLimits = FlowLimits(), perSourceLimit: Int? = nil) {
        self.limits = limits
        self.perSourceLimit = perSourceLimit
    }

    public var count: Int { entries.count }

    /// Flows `source` holds (0 without a `perSourceLimit`: they are not counted then).
    public func count(from source: IPAddress) -> Int { perSource[source] ?? 0 }

    /// Whether `source` holds its share already (never without a `perSourceLimit`).
    public func isAtItsShare(_ source: IPAddress) -> Bool {
        perSourceLimit.map { count(from: source) >= $0 } ?? false
    }

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
        if perSourceLimit != nil {
            guard !isAtItsShare(key.source) else {
                counters.refusedSourceAtItsShare &+= 1
                throw .sourceAtItsShare
            }
            perSource[key.source, default: 0] += 1
        }
        entries[key] = Entry(value: value, lastActivity: now)
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

    /// Removes a flow.
    @discardableResult
    public mutating func remove(_ key: FlowKey) -> Value? {
        guard let entry = entries.removeValue(forKey: key) else { return nil }
        uncount(key)
        counters.removed &+= 1
        return entry.value
    }

    /// Removes and returns every flow (at shutdown).
    public mutating func removeAll() -> [(FlowKey, Value)] {
        let all = entries.map { ($0.key, $0.value.value) }
        entries.removeAll()
        perSource.removeAll()
        counters.removed &+= UInt64(all.count)
        return all
    }

    /// Removes and returns the flows whose key matches (a named network's member left).
    public mutating func removeAll(where matches: (FlowKey) -> Bool) -> [(FlowKey, Value)] {
        removeAll(matching: { key, _ in matches(key) })
    }

    /// Removes and returns the flows whose value matches.
    public mutating func removeAll(whereValue matches: (Value) -> Bool) -> [(FlowKey, Value)] {
        removeAll(matching: { _, value in matches(value) })
    }

    private mutating func removeAll(matching matches: (FlowKey, Value) -> Bool) -> [(FlowKey, Value)] {
        let gone = entries.filter { matches($0.key, $0.value.value) }.map { ($0.key, $0.value.value) }
        for (key, _) in gone {
            entries.removeValue(forKey: key)
            uncount(key)
        }
        counters.removed &+= UInt64(gone.count)
        return gone
    }

    private mutating func uncount(_ key: FlowKey) {
        guard perSourceLimit != nil, let held = perSource[key.source] else { return }
        perSource[key.source] = held > 1 ? held - 1 : nil
    }

    /// Removes and returns flows idle past their protocol's timeout (the caller closes their
    /// host sockets). Call it from a periodic timer.
    public mutating func expireIdle(now: UInt64) -> [(FlowKey, Value)] {
        var expired: [(FlowKey, Value)] = []
        for (key, entry) in entries
        where now &- entry.lastActivity >= limits.idleTimeout(key.protocolNumber) && now >= entry.lastActivity {
            expired.append((key, entry.value))
        }
        for (key, _) in expired {
            entries.removeValue(forKey: key)
            uncount(key)
        }
        counters.expired &+= UInt64(expired.count)
        return expired
    }
}
