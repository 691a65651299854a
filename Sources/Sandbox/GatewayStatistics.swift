// The gateway's counters as the launcher sees them now that the gateway is another process:
// the figures a caller prints (`sandbox usernet` on stop) or a test checks, carried over the
// status pipe as one text line (`name=value` pairs), not the whole GatewayCounters tree.

import UserNet

public struct GatewayStatistics: Sendable, Equatable {
    public var flowsOpened: UInt64 = 0
    public var flowsDenied: UInt64 = 0
    public var flowsFailed: UInt64 = 0
    public var flowsRefusedAtLimit: UInt64 = 0
    public var flowsRefusedAtMemberShare: UInt64 = 0
    public var activeFlows: UInt64 = 0
    public var inboundConnections: UInt64 = 0
    public var inboundRefused: UInt64 = 0
    public var inboundSourcePortsChosen: UInt64 = 0
    public var echoRequestsForwarded: UInt64 = 0
    public var pcapFrames: UInt64 = 0
    public var connectionLogRecords: UInt64 = 0
    /// What the link faults (`--net-loss` and the others) did to frames.
    public var framesThroughFaults: UInt64 = 0
    public var framesLost: UInt64 = 0
    public var framesDuplicated: UInt64 = 0
    public var framesReordered: UInt64 = 0
    public var framesDelayed: UInt64 = 0
    public var framesDroppedQueueFull: UInt64 = 0
    /// A named network's switch: its members now, and what it forwarded between them or dropped.
    public var networkMembers: UInt64 = 0
    public var framesSwitched: UInt64 = 0
    public var framesSpoofed: UInt64 = 0
    public var framesUndeliverable: UInt64 = 0
    /// Flows between members: opened (tracked), denied by the policy, dropped at the table's
    /// bound (or a member's share of it), and packets that could not be judged.
    public var memberFlowsOpened: UInt64 = 0
    public var memberFlowsDenied: UInt64 = 0
    public var memberFlowsDropped: UInt64 = 0
    public var memberPacketsUnjudgeable: UInt64 = 0

    public init() {}

    init(_ counters: GatewayCounters) {
        flowsOpened = counters.flowsOpened
        flowsDenied = counters.flowsDenied
        flowsFailed = counters.flowsFailed
        flowsRefusedAtLimit = counters.flowsRefusedAtLimit
        flowsRefusedAtMemberShare = counters.flowsRefusedAtMemberShare
        activeFlows = UInt64(counters.activeFlows)
        inboundConnections = counters.inboundConnections
        inboundRefused = counters.inboundRefused
        inboundSourcePortsChosen = counters.inboundSourcePortsChosen
        echoRequestsForwarded = counters.echoRequestsForwarded
        pcapFrames = counters.pcapFrames
        connectionLogRecords = counters.connectionLogRecords
        framesThroughFaults = counters.linkFaults.judged
        framesLost = counters.linkFaults.lost
        framesDuplicated = counters.linkFaults.duplicated
        framesReordered = counters.linkFaults.reordered
        framesDelayed = counters.linkFaults.delayed
        framesDroppedQueueFull = counters.linkFaults.queueFull
        if let network = counters.network {
            networkMembers = UInt64(network.members)
            framesSwitched = network.framesSwitched
            framesSpoofed = network.spoofedDropped
            framesUndeliverable = network.undeliverable
            memberFlowsOpened = network.memberFlows.opened
            memberFlowsDenied = network.memberFlows.denied
            memberFlowsDropped =
                network.memberFlows.refusedTableFull &+ network.memberFlows.refusedAtShare
                &+ network.memberFlows.strayRepliesDropped
            memberPacketsUnjudgeable = network.memberFlows.unjudgeable
        }
    }

    private static var fields: [(String, WritableKeyPath<GatewayStatistics, UInt64>)] {
        [
            ("flows-opened", \.flowsOpened), ("flows-denied", \.flowsDenied), ("flows-failed", \.flowsFailed),
            ("flows-refused-at-limit", \.flowsRefusedAtLimit),
            ("flows-refused-at-member-share", \.flowsRefusedAtMemberShare), ("active-flows", \.activeFlows),
            ("inbound", \.inboundConnections), ("inbound-refused", \.inboundRefused),
            ("inbound-source-ports-chosen", \.inboundSourcePortsChosen),
            ("echo-forwarded", \.echoRequestsForwarded), ("pcap-frames", \.pcapFrames),
            ("log-records", \.connectionLogRecords), ("frames-lost", \.framesLost),
            ("frames-through-faults", \.framesThroughFaults),
            ("frames-duplicated", \.framesDuplicated), ("frames-reordered", \.framesReordered),
            ("frames-delayed", \.framesDelayed), ("frames-queue-full", \.framesDroppedQueueFull),
            ("network-members", \.networkMembers), ("frames-switched", \.framesSwitched),
            ("frames-spoofed", \.framesSpoofed), ("frames-undeliverable", \.framesUndeliverable),
            ("member-flows-opened", \.memberFlowsOpened), ("member-flows-denied", \.memberFlowsDenied),
            ("member-flows-dropped", \.memberFlowsDropped), ("member-packets-unjudgeable", \.memberPacketsUnjudgeable)
        ]
    }

    /// `flows-opened=3 flows-denied=0 ...`
    public var line: String {
        Self.fields.map { "\($0.0)=\(self[keyPath: $0.1])" }.joined(separator: " ")
    }

    /// Parses `line`; unknown names are skipped (nothing but our own build writes it).
    init(line: Substring) {
        for pair in line.split(separator: " ") {
            guard let equals = pair.firstIndex(of: "="), let value = UInt64(pair[pair.index(after: equals)...]),
                let field = Self.fields.first(where: { $0.0 == pair[..<equals] })
            else { continue }
            self[keyPath: field.1] = value
        }
    }
}
