// The neighbour cache of both families (RFC 826 ARP for IPv4, RFC 4861 Neighbor Discovery for
// IPv6; timers after RFC 1122 2.3.2.1, RFC 4861 10 and Linux's defaults): IP address -> MAC
// address, one table per NIC shared by both families (one capacity, one pending-bytes cap), with
//   - entries that expire (`reachableTime`), so a host that changed its MAC is re-resolved;
//     an entry in use is refreshed before it expires with a unicast request (as Linux's
//     STALE/PROBE states do), so a busy flow never stalls behind a fresh resolution;
//   - incomplete entries that re-send a request every `retransmitInterval` up to `maxProbes`
//     times, then fail and drop what waited on them (RFC 1122 2.3.2.2: "The link layer SHOULD
//     save (rather than discard) at least one (the latest) packet of each set of packets
//     destined to the same unresolved IP address");
//   - a bounded queue of packets waiting for resolution, per neighbour and in total bytes;
//   - a bound on the number of entries.
// This file is pure bookkeeping: it returns what to send; the NIC sends it.

import Link
import Wire

/// A datagram waiting for its next hop's link address: the send request plus the transport
/// header and payload it carries, copied (this path runs once per new neighbour, not per packet
/// in steady state).
struct PendingDatagram {
    enum Request {
        case v4(IPv4SendRequest)
        case v6(IPv6SendRequest)
    }
    var request: Request
    var transportHeader: [UInt8]
    var payload: [UInt8]
    var gso: GSOInfo?
    /// The path MTU the route had when the datagram was sent.
    var mtu: Int

    var byteCount: Int { transportHeader.count + payload.count }
}

/// Tunables of the neighbour cache.
public struct NeighbourConfiguration: Sendable {
    /// How long a resolved entry is trusted before it is resolved again.
    public var reachableTime: Duration = .seconds(60)
    /// Time between ARP requests / neighbour solicitations for an unresolved address.
    public var retransmitInterval: Duration = .seconds(1)
    /// Requests sent before giving up on an address.
    public var maxProbes: Int = 3
    /// Entries kept at most (resolved and unresolved together, both families).
    public var capacity: Int = 512
    /// Packets kept per unresolved address (the oldest is dropped when full).
    public var pendingPacketsPerNeighbour: Int = 16
    /// Bytes kept waiting for resolution over all addresses.
    public var pendingBytesTotal: Int = 1 << 20

    public init() {}
}

extension IPAddress {
    /// Orders addresses for listings: IPv4 before IPv6, then numerically.
    var sortKey: (UInt8, UInt64, UInt64) {
        switch self {
        case .v4(let a): (4, 0, UInt64(a.rawValue))
        case .v6(let a): (6, a.high, a.low)
        }
    }
}

/// One entry as seen from outside (for inspection and tests).
public struct NeighbourEntry: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case incomplete(probesSent: Int)
        case reachable(MACAddress)
        case permanent(MACAddress)
    }
    public var address: IPAddress
    public var state: State
    /// When the entry next needs attention (expiry or next probe); nil for permanent entries.
    public var deadline: NetstackInstant?
}

struct NeighbourCache {
    private enum State {
        case incomplete(probesSent: Int, nextProbe: NetstackInstant, pending: [PendingDatagram])
        case reachable(MACAddress, expires: NetstackInstant, refreshSent: NetstackInstant?)
        case permanent(MACAddress)
    }

    let configuration: NeighbourConfiguration
    private var entries: [IPAddress: State] = [:]
    private(set) var pendingBytes = 0

    init(configuration: NeighbourConfiguration) {
        self.configuration = configuration
        entries.reserveCapacity(configuration.capacity)
    }

    var count: Int { entries.count }

    /// The link address to use now, if resolved and fresh; also says when to send a unicast
    /// refresh request, which is when the entry is within `maxProbes` retransmit intervals of expiring and no refresh
    /// went out in the last interval.
    mutating func resolve(_ address: IPAddress, now: NetstackInstant) -> (mac: MACAddress, refresh: Bool)? {
        switch entries[address] {
        case .reachable(let mac, let expires, let refreshSent)? where now < expires:
            let window = configuration.retransmitInterval * configuration.maxProbes
            guard now.advanced(by: window) >= expires else { return (mac, false) }
            if let refreshSent, now < refreshSent.advanced(by: configuration.retransmitInterval) { return (mac, false) }
            entries[address] = .reachable(mac, expires: expires, refreshSent: now)
            return (mac, true)
        case .permanent(let mac)?:
            return (mac, false)
        default:
            return nil
        }
    }

    mutating func addPermanent(_ address: IPAddress, _ mac: MACAddress) -> [PendingDatagram] {
        let released = takePending(address)
        entries[address] = .permanent(mac)
        return released
    }

    mutating func remove(_ address: IPAddress) {
        _ = takePending(address)
        entries[address] = nil
    }

    /// Records `address -> mac` from an ARP packet or a Neighbor Discovery message. RFC 826: an
    /// existing entry is always updated ("merge"); a new one is created only when `create` (the
    /// packet was addressed to us; RFC 4861 7.2.3 likewise creates an entry from a solicitation
    /// to us and 7.2.5 never from an advertisement). Returns the packets that were waiting.
    mutating func learn(_ address: IPAddress, _ mac: MACAddress, create: Bool, now: NetstackInstant) -> (
        learned: Bool, released: [PendingDatagram]
    ) {
        let expires = now.advanced(by: configuration.reachableTime)
        switch entries[address] {
        case .permanent?:
            return (false, [])
        case .some:
            let released = takePending(address)
            entries[address] = .reachable(mac, expires: expires, refreshSent: nil)
            return (true, released)
        case nil:
            guard create, makeRoom(now: now) else { return (false, []) }
            entries[address] = .reachable(mac, expires: expires, refreshSent: nil)
            return (true, [])
        }
    }

    enum EnqueueOutcome: Equatable {
        /// Queued on a new incomplete entry: send the first request now.
        case queuedSendRequest
        /// Queued behind a request already in flight.
        case queued
        /// Queued, but the oldest waiting packet (or others) had to go to make room.
        case queuedDroppingOlder(Int)
        /// Not queued.
        case dropped(DropReason)
    }

    /// Parks `datagram` until `address` resolves.
    mutating func enqueue(_ datagram: PendingDatagram, for address: IPAddress, now: NetstackInstant) -> EnqueueOutcome {
        let size = datagram.byteCount
        guard size <= configuration.pendingBytesTotal else { return .dropped(.neighbourQueueFull) }
        var isNew = false
        var state = entries[address]
        switch state {
        case .incomplete?:
            break
        case .reachable?:
            // Expired: resolve again, keeping the entry's slot.
            state = .incomplete(probesSent: 0, nextProbe: now, pending: [])
            isNew = true
        case .permanent?:
            return .dropped(.neighbourUnresolved) // caller should have used resolve()
        case nil:
            guard makeRoom(now: now) else { return .dropped(.neighbourTableFull) }
            state = .incomplete(probesSent: 0, nextProbe: now, pending: [])
            isNew = true
        }
        guard case .incomplete(let probes, let nextProbe, var pending)? = state else {
            return .dropped(.neighbourUnresolved)
        }
        entries[address] = nil // so `pending` is uniquely referenced while we edit it
        var droppedOlder = 0
        while !pending.isEmpty
            && (pending.count >= configuration.pendingPacketsPerNeighbour
                || pendingBytes + size > configuration.pendingBytesTotal)
        {
            pendingBytes -= pending.removeFirst().byteCount
            droppedOlder += 1
        }
        if pendingBytes + size > configuration.pendingBytesTotal {
            entries[address] = .incomplete(probesSent: probes, nextProbe: nextProbe, pending: pending)
            return .dropped(.neighbourQueueFull)
        }
        pending.append(datagram)
        pendingBytes += size
        if isNew {
            // The caller sends the first request now; the next one is due one interval later.
            entries[address] = .incomplete(
                probesSent: 1, nextProbe: now.advanced(by: configuration.retransmitInterval), pending: pending)
            return .queuedSendRequest
        }
        entries[address] = .incomplete(probesSent: probes, nextProbe: nextProbe, pending: pending)
        return droppedOlder > 0 ? .queuedDroppingOlder(droppedOlder) : .queued
    }

    struct TimerActions {
        var probe: [IPAddress] = []
        /// Addresses that failed to resolve, with how many packets were dropped for each.
        var failed: [(IPAddress, Int)] = []
    }

    /// Expires entries and schedules probes due at `now`.
    mutating func handleTimers(now: NetstackInstant) -> TimerActions {
        var actions = TimerActions()
        var expired: [IPAddress] = []
        for (address, state) in entries {
            switch state {
            case .reachable(_, let expires, _) where expires <= now:
                expired.append(address)
            case .incomplete(let probes, let nextProbe, let pending) where nextProbe <= now:
                if probes >= configuration.maxProbes {
                    expired.append(address)
                    actions.failed.append((address, pending.count))
                } else {
                    actions.probe.append(address)
                }
            default:
                break
            }
        }
        for address in expired { remove(address) }
        for address in actions.probe {
            if case .incomplete(let probes, _, let pending)? = entries[address] {
                entries[address] = .incomplete(
                    probesSent: probes + 1,
                    nextProbe: now.advanced(by: configuration.retransmitInterval),
                    pending: pending)
            }
        }
        return actions
    }

    var nextDeadline: NetstackInstant? {
        var deadline = DeadlineAccumulator()
        for state in entries.values {
            switch state {
            case .reachable(_, let expires, _): deadline.consider(expires)
            case .incomplete(_, let nextProbe, _): deadline.consider(nextProbe)
            case .permanent: break
            }
        }
        return deadline.earliest
    }

    var snapshot: [NeighbourEntry] {
        entries.map { address, state in
            switch state {
            case .incomplete(let probes, let next, _):
                NeighbourEntry(address: address, state: .incomplete(probesSent: probes), deadline: next)
            case .reachable(let mac, let expires, _):
                NeighbourEntry(address: address, state: .reachable(mac), deadline: expires)
            case .permanent(let mac): NeighbourEntry(address: address, state: .permanent(mac), deadline: nil)
            }
        }.sorted { $0.address.sortKey < $1.address.sortKey }
    }

    private mutating func takePending(_ address: IPAddress) -> [PendingDatagram] {
        guard case .incomplete(let probes, let next, let pending)? = entries[address], !pending.isEmpty else {
            return []
        }
        entries[address] = .incomplete(probesSent: probes, nextProbe: next, pending: [])
        for datagram in pending { pendingBytes -= datagram.byteCount }
        return pending
    }

    /// Makes room for one new entry: first by dropping expired resolved entries; a table full
    /// of live entries refuses the newcomer (bounded, and an ARP flood cannot evict the
    /// entries in use).
    private mutating func makeRoom(now: NetstackInstant) -> Bool {
        if entries.count < configuration.capacity { return true }
        let stale = entries.first { _, state in
            if case .reachable(_, let expires, _) = state { return expires <= now }
            return false
        }
        if let stale {
            entries[stale.key] = nil
            return true
        }
        return false
    }
}
