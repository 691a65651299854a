// Per-NIC counters. Every drop in the stack is counted under one reason, so an operator (and a
// test) can tell a checksum failure from a full queue from a fragment flood hitting its cap.

/// Why the stack dropped a frame or a packet.
public enum DropReason: Int, CaseIterable, Sendable {
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
    // IPv6 input
    case ipv6Malformed
    case ipv6BadSource
    case ipv6NotForUs
    case ipv6HopLimitExceeded
    /// Gateway mode: larger than the path MTU of the route toward the impersonated host.
    case ipv6PacketTooBig
    /// A Routing header with segments left, or an option whose type says discard.
    case ipv6UnsupportedExtension
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
    // Neighbor Discovery
    /// Fails RFC 4861 validity checks (hop limit 255, DAD form, solicited flag to multicast).
    case ndpInvalid
    /// A solicitation for an address that is not ours (the app's own DAD probes land here).
    case ndpNotForUs
    /// An advertisement claiming one of our addresses.
    case ndpDuplicateAddress
    /// Router advertisements from others; router solicitations on a NIC that does not advertise.
    case ndpIgnored
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
    public var neighbourSolicitationsSent: UInt64 = 0
    public var neighbourAdvertisementsSent: UInt64 = 0
    public var routerSolicitationsReceived: UInt64 = 0
    public var routerAdvertisementsSent: UInt64 = 0
    /// DAD probes for one of our addresses answered (RFC 4861 7.2.4).
    public var duplicateAddressProbesDefended: UInt64 = 0
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
