// Per-NIC counters. Every drop in the stack is counted under one reason, so an operator (and a
// test) can tell a checksum failure from a full queue from a fragment flood hitting its cap.

/// Why the stack dropped a frame or a packet.
public enum DropReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    // Link layer
    case linkHeaderMalformed
    case notOurLinkAddress
    case unknownEtherType
    // ARP
    case arpMalformed
    case arpNotForUs
    // IPv4 input
    case ipv4Malformed
    case ipv4BadChecksum
    case ipv4BadSource
    case ipv4NotForUs
    case ipv4TTLExpired
    case ipv6NotSupported
    case unknownProtocol
    // Reassembly
    case fragmentOverlap
    case fragmentDuplicate
    case fragmentMalformed
    case fragmentTooLarge
    case fragmentPerDatagramCap
    case fragmentTotalCap
    case fragmentTimeout
    case fragmentOfDiscardedDatagram
    // ICMP
    case icmpMalformed
    case icmpBadChecksum
    case icmpUnhandledType
    case icmpErrorNoOwner
    case icmpRateLimited
    // UDP
    case udpMalformed
    case udpBadChecksum
    case udpNoListener
    // Gateway
    case gatewayRejected
    case gatewayDropped
    // Output
    case noRoute
    case neighbourQueueFull
    case neighbourUnresolved
    case neighbourTableFull
    case messageTooLong
    case linkWriteFailed

    public var description: String { "\(self)" }
}

/// Traffic and drop counters of one NIC.
public struct NICCounters: Sendable {
    public var rxFrames: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txFrames: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var arpRequestsSent: UInt64 = 0
    public var arpRepliesSent: UInt64 = 0
    public var icmpEchoRepliesSent: UInt64 = 0
    public var icmpErrorsSent: UInt64 = 0
    public var icmpErrorsDelivered: UInt64 = 0
    public var fragmentsSent: UInt64 = 0
    public var datagramsReassembled: UInt64 = 0
    // Indexed by DropReason.rawValue; allocated once, mutated in place.
    private var drops: [UInt64] = Array(repeating: 0, count: DropReason.allCases.count)

    public init() {}

    public subscript(drop reason: DropReason) -> UInt64 {
        get { drops[reason.rawValue] }
        set { drops[reason.rawValue] = newValue }
    }

    public var totalDrops: UInt64 { drops.reduce(0, &+) }

    mutating func countDrop(_ reason: DropReason) { drops[reason.rawValue] &+= 1 }

    /// `reason: count` for every non-zero drop counter.
    public var nonZeroDrops: [(DropReason, UInt64)] {
        DropReason.allCases.compactMap { drops[$0.rawValue] == 0 ? nil : ($0, drops[$0.rawValue]) }
    }
}
