// Flows between the members of a named network, as the switch sees their packets go by: judged
// by the network's policy when they open (the rules that name the network's addresses,
// EgressPolicy.evaluateBetweenMembers), tracked while they last so that their answers pass
// whatever the rules say of the opener's address (as a stateful firewall tracks connections),
// and written to the connection log when they end. The engine makes this only when a rule names
// the network or connections are logged; otherwise the switch forwards without a lookup.
//
// A flow opens with a TCP SYN, a UDP datagram or an ICMP echo request that no flow holds, in
// either direction. A denied one is handed to the stack, which refuses it as it refuses an
// egress flow (RST, or ICMP administratively prohibited: FlowAdmission), and logs and counts
// it. A TCP segment or an echo reply that no flow holds (its flow outlived the table, or never
// was) is judged as if it opened one, and tracks nothing. What cannot be judged (another IP
// protocol, an IPv6 extension header, a header cut short) goes to the stack while rules name
// the network; the stack has no flow for it and refuses it.

import CNetShims
import Netstack
import Wire

public struct MemberFlowCounters: Sendable, Equatable {
    public var opened: UInt64 = 0
    public var finished: UInt64 = 0
    /// New flows the policy denied (handed to the stack, which answered them).
    public var denied: UInt64 = 0
    /// Packets that could not be judged: another protocol, an IPv6 extension header, a short header.
    public var unjudgeable: UInt64 = 0
    /// New flows dropped because the table was full, or their member held its share of it.
    public var refusedTableFull: UInt64 = 0
    public var refusedAtShare: UInt64 = 0
    /// Echo replies that no flow asked for, to an address the policy protects.
    public var strayRepliesDropped: UInt64 = 0

    public init() {}
}

/// What the switch does with a member's packet to another member.
enum MemberFlowVerdict: Equatable {
    case forward
    /// The stack answers it (a refusal).
    case handToStack
    case drop
}

/// One flow between two members: its log record (the opener is the record's source) and how
/// far its TCP close went.
final class MemberFlow {
    var record: ConnectionRecord
    var finFromOpener = false
    var finFromAnswerer = false
    /// When the second side's FIN first passed.
    var closedAt: UInt64?

    init(record: ConnectionRecord) { self.record = record }
}

final class MemberFlows {
    /// The most flows tracked at once; each member may hold half.
    static let maximumFlows = 16_384
    /// How long a TCP flow stays after both sides sent FIN: long enough for the last ACK and a
    /// retransmitted FIN to pass (a member's TIME-WAIT lasts 60 s, but it sends nothing then).
    static let closingLinger: UInt64 = 10_000_000_000

    let policy: EgressPolicy
    let subnets: [IPSubnet]
    /// Some rule names the network: flows are judged, not only logged.
    let judges: Bool
    private(set) var counters = MemberFlowCounters()
    private var table: FlowTable<MemberFlow>
    /// The member the packet being judged goes to.
    private var holder: NetworkMemberSpec?
    /// Where a finished flow's record goes (the connection log).
    var onFinished: (ConnectionRecord) -> Void = { _ in }
    /// Told of each flow tracked (the engine's housekeeping then expires it in time).
    var onOpened: () -> Void = {}
    /// Told of a new flow dropped at the table's bound, with why.
    var onDropped: (FlowKey, String) -> Void = { _, _ in }

    init(policy: EgressPolicy, subnets: [IPSubnet], idle: FlowLimits = FlowLimits()) {
        self.policy = policy
        self.subnets = subnets
        judges = policy.judgesMembers(of: subnets)
        var limits = idle
        limits.maxFlows = Self.maximumFlows
        table = FlowTable(limits: limits, perSourceLimit: Self.maximumFlows / 2)
    }

    var count: Int { table.count }

    /// Decides a packet from `source` to `destination`, both members (`holder`: the member at
    /// `destination`, whose other address and names the rules may name), whose transport header
    /// and payload are `transport` (an IPv4 packet's later fragments never come here).
    func judge(
        _ protocolNumber: IPProtocol, from source: IPAddress, to destination: IPAddress, holder: NetworkMemberSpec,
        transport: UnsafeRawBufferPointer, now: UInt64
    ) -> MemberFlowVerdict {
        self.holder = holder
        switch protocolNumber {
        case .tcp, .udp:
            guard transport.count >= (protocolNumber == .tcp ? 20 : 8) else { return unjudgeable() }
            let key = FlowKey(
                protocolNumber: protocolNumber, source: source, sourcePort: Self.u16(transport, 0),
                destination: destination, destinationPort: Self.u16(transport, 2))
            return protocolNumber == .tcp ? tcp(key, transport, now: now) : udp(key, transport, now: now)
        case .icmp, .icmpv6: return echo(protocolNumber, source, destination, transport, now: now)
        default: return unjudgeable()
        }
    }

    private func tcp(_ key: FlowKey, _ segment: UnsafeRawBufferPointer, now: UInt64) -> MemberFlowVerdict {
        let flags = TCPFlags(rawValue: segment[13])
        let data = UInt64(max(0, segment.count - Int(segment[12] >> 4) * 4))
        if let (flowKey, flow, fromOpener) = carriedEitherWay(data, on: key, now: now) {
            if flags.contains(.rst) {
                finish(flowKey, now: now)
            } else if flags.contains(.fin) {
                if fromOpener { flow.finFromOpener = true } else { flow.finFromAnswerer = true }
                if flow.finFromOpener, flow.finFromAnswerer, flow.closedAt == nil { flow.closedAt = now }
            }
            return .forward
        }
        // RFC 9293 3.5: a connection opens with a SYN that acknowledges nothing.
        guard flags.contains(.syn), !flags.contains(.ack) else { return judgedAlone(key, deny: .handToStack) }
        return open(key, transport: .tcp, bytes: data, now: now)
    }

    private func udp(_ key: FlowKey, _ datagram: UnsafeRawBufferPointer, now: UInt64) -> MemberFlowVerdict {
        let payload = UInt64(datagram.count - 8)
        if carriedEitherWay(payload, on: key, now: now) != nil { return .forward }
        return open(key, transport: .udp, bytes: payload, now: now)
    }

    /// Echo requests open flows (keyed as the stack keys them: identifier, then 0); other ICMP
    /// messages (errors, neighbour discovery) open nothing and pass.
    private func echo(
        _ protocolNumber: IPProtocol, _ source: IPAddress, _ destination: IPAddress,
        _ message: UnsafeRawBufferPointer, now: UInt64
    ) -> MemberFlowVerdict {
        guard message.count >= 8 else { return unjudgeable() }
        let (request, reply): (UInt8, UInt8) = protocolNumber == .icmp ? (8, 0) : (128, 129)
        let identifier = Self.u16(message, 4)
        let data = UInt64(message.count - 8)
        switch message[0] {
        case request:
            let key = FlowKey(
                protocolNumber: protocolNumber, source: source, sourcePort: identifier, destination: destination,
                destinationPort: 0)
            if carried(data, on: key, fromOpener: true, now: now) != nil { return .forward }
            return open(key, transport: .icmp, bytes: data, now: now)
        case reply:
            let asked = FlowKey(
                protocolNumber: protocolNumber, source: destination, sourcePort: identifier, destination: source,
                destinationPort: 0)
            if carried(data, on: asked, fromOpener: false, now: now) != nil { return .forward }
            let stray = FlowKey(
                protocolNumber: protocolNumber, source: source, sourcePort: 0, destination: destination,
                destinationPort: 0)
            return judgedAlone(stray, deny: .drop)
        default:
            return .forward
        }
    }

    /// Counts `bytes` on flow `key` (one way) and notes its activity; nil if there is no such flow.
    private func carried(_ bytes: UInt64, on key: FlowKey, fromOpener: Bool, now: UInt64) -> MemberFlow? {
        guard let flow = table[key] else { return nil }
        table.touch(key, now: now)
        if fromOpener { flow.record.bytesFromApp &+= bytes } else { flow.record.bytesToApp &+= bytes }
        return flow
    }

    /// The same for a flow opened either way: its key, itself, and whether `key` is its opener's way.
    private func carriedEitherWay(_ bytes: UInt64, on key: FlowKey, now: UInt64) -> (FlowKey, MemberFlow, Bool)? {
        if let flow = carried(bytes, on: key, fromOpener: true, now: now) { return (key, flow, true) }
        let answer = key.reversed
        return carried(bytes, on: answer, fromOpener: false, now: now).map { (answer, $0, false) }
    }

    /// A new flow: judged, then tracked (or dropped at the table's bound while rules judge; with
    /// only the log asking, it passes untracked).
    private func open(_ key: FlowKey, transport: FlowTransport, bytes: UInt64, now: UInt64) -> MemberFlowVerdict {
        if judges, decide(key) == .deny {
            counters.denied &+= 1
            return .handToStack
        }
        // Until the flow ends, `durationNanoseconds` holds its monotonic start (`finish`).
        var record = ConnectionRecord(
            startNanoseconds: usernet_realtime_now_ns(), transport: transport,
            source: SocketAddress(key.source, port: key.sourcePort),
            destination: SocketAddress(key.destination, port: key.destinationPort), verdict: .allow,
            durationNanoseconds: now)
        record.bytesFromApp = bytes
        do {
            try table.insert(key, MemberFlow(record: record), now: now)
        } catch {
            if error == .sourceAtItsShare { counters.refusedAtShare &+= 1 } else { counters.refusedTableFull &+= 1 }
            onDropped(key, error == .sourceAtItsShare ? "member-flow-share" : "member-flow-table-full")
            return judges ? .drop : .forward
        }
        counters.opened &+= 1
        onOpened()
        return .forward
    }

    /// A packet no flow holds and that opens none, judged as if it opened one.
    private func judgedAlone(_ key: FlowKey, deny: MemberFlowVerdict) -> MemberFlowVerdict {
        guard judges, decide(key) == .deny else { return .forward }
        if deny == .drop { counters.strayRepliesDropped &+= 1 }
        return deny
    }

    private func decide(_ key: FlowKey) -> PolicyVerdict {
        policy.evaluateBetweenMembers(
            holder?.addresses ?? [key.destination], names: holder?.names ?? [], port: key.destinationPort,
            of: subnets
        ).verdict
    }

    private func unjudgeable() -> MemberFlowVerdict {
        counters.unjudgeable &+= 1
        return judges ? .handToStack : .forward
    }

    // MARK: Ends

    private func finish(_ key: FlowKey, now: UInt64) {
        guard let flow = table.remove(key) else { return }
        report(flow, now: now)
    }

    private func report(_ flow: MemberFlow, now: UInt64) {
        var record = flow.record
        record.durationNanoseconds = now &- record.durationNanoseconds
        counters.finished &+= 1
        onFinished(record)
    }

    /// Ends the closed flows whose linger is over and the idle ones (the engine's housekeeping).
    func expire(now: UInt64) {
        let closed = table.removeAll(whereValue: { flow in
            flow.closedAt.map { now &- $0 >= Self.closingLinger && now >= $0 } ?? false
        })
        for (_, flow) in closed { report(flow, now: now) }
        for (_, flow) in table.expireIdle(now: now) { report(flow, now: now) }
    }

    /// Ends every flow to or from `addresses` (their member left: its successor at the same
    /// address inherits nothing).
    func forget(_ addresses: [IPAddress], now: UInt64) {
        for (_, flow) in table.removeAll(where: { addresses.contains($0.source) || addresses.contains($0.destination) })
        {
            report(flow, now: now)
        }
    }

    /// Ends every flow (the gateway stops).
    func finishAll(now: UInt64) {
        for (_, flow) in table.removeAll() { report(flow, now: now) }
    }

    private static func u16(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }
}

extension FlowKey {
    /// The same flow seen from its other end.
    var reversed: FlowKey {
        FlowKey(
            protocolNumber: protocolNumber, source: destination, sourcePort: destinationPort, destination: source,
            destinationPort: sourcePort)
    }
}
