// The seam between the network layer and a transport protocol (TCP plugs in here; UDP and
// ICMP are built in but follow the same shapes).
//
// INBOUND. The stack validates the IP header, reassembles fragments, decides the packet is for
// us (one of the NIC's addresses, a broadcast, or in gateway mode any unicast address) and
// calls the handler registered for the IP protocol number:
//
//     func handleSegment(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict
//
// `segment.bytes` is the transport header onward, borrowed for the call only (it points into
// the link's receive buffer or a reassembly buffer). `segment.checksumVerified` says the link
// already checked the transport checksum; otherwise the handler checks it (the pseudo-header
// comes from `segment.ip`). The verdict tells the stack what to answer: `.consumed` (nothing),
// `.unreachable(code)` (the stack sends ICMP Destination Unreachable, rate-limited and never
// in response to broadcasts, errors or non-initial fragments), or `.dropped(reason)` (counted
// on the NIC). TCP answers a segment for no connection with its own RST and returns
// `.consumed`.
//
// GATEWAY MODE. When `Stack.isGatewayMode`, packets to ANY unicast address arrive here with
// `segment.ip.isLocalAddress == false`. A handler that sees a new flow for which it has no
// endpoint asks `stack.gatewayVerdict(for: FlowKey, now:)`; the hook behind it (UserNet) may
// open the endpoint first (a host socket, then a listener/endpoint bound to the impersonated
// address) and answers `.accept`, `.reject(code)` or `.drop`.
//
// ICMP ERRORS. An inbound ICMP Destination Unreachable / Time Exceeded / Parameter Problem /
// Source Quench is parsed by the stack, and the quoted datagram's protocol picks the handler:
//
//     func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool
//
// `error.quotedSource`/`quotedDestination` are the addresses of the datagram WE sent (so the
// quoted source is our local address) and `error.quotedTransport` holds at least its first 8
// transport bytes (ports, and for TCP the sequence number). Return whether an endpoint owned
// the flow (false counts as `icmpErrorNoOwner`).
//
// TIMERS. The stack asks every handler `nextDeadline` when computing its own, and calls
// `handleTimers(now:)` from `Stack.advance(to:)` when that deadline has passed.
//
// OUTBOUND. A transport sends with `Stack.sendIPv4(_:transportHeaderLength:payload:gso:
// writeTransportHeader:)`: the stack routes, resolves the next hop (queueing behind ARP when
// needed), builds the IPv4 header, gives the closure the space for the transport header
// (already placed right after the IP header in the stack's TX scratch buffer, so nothing is
// copied or allocated), fragments above the MTU unless DF is set (`SendError.messageTooLong`
// carries the MTU), and hands header + payload to the link. A `GSOInfo` is passed to the link
// untouched when the link advertises `.gso` (see `Stack.route(to:)` for MTU, GSO size and
// offload capabilities before building segments). Sends made outside a delivery (from a timer
// or from the owner) go out at the owner's next `Stack.flush()` / `advance(to:)`.
//
// IPv6 is the same seam: inbound segments carry `.v6` addresses in `segment.ip` (hop limit in
// `ttl`, traffic class in `dscpECN`, a multicast destination as `isBroadcast`), ICMPv6 errors
// arrive through `handleICMPError` with their codes given in ICMPv4 terms (Packet Too Big as
// `fragmentationNeeded`, Parameter Problem code 1 as protocol unreachable), and a transport
// sends with `Stack.sendIPv6(_:transportHeaderLength:payload:gso:writeTransportHeader:)`,
// which mirrors `sendIPv4` (neighbour discovery instead of ARP; `IPv6SendRequest.dontFragment`
// for path-MTU-driven transports, since IPv6 otherwise fragments at the source).

import Link
import Wire

/// Network-layer facts about an inbound packet, as seen by a transport.
public struct IPPacketInfo: Sendable, Equatable {
    public var source: IPAddress
    public var destination: IPAddress
    public var protocolNumber: IPProtocol
    /// TTL (IPv4) or hop limit (IPv6) as received.
    public var ttl: UInt8
    public var dscpECN: UInt8
    public var nic: NICID
    /// The destination is an address configured on the NIC (false: gateway mode is
    /// impersonating it, or it is a broadcast).
    public var isLocalAddress: Bool
    /// Sent to a broadcast (limited or subnet-directed) or multicast address.
    public var isBroadcast: Bool
    /// Rebuilt from fragments.
    public var wasReassembled: Bool

    public init(
        source: IPAddress, destination: IPAddress, protocolNumber: IPProtocol, ttl: UInt8, dscpECN: UInt8,
        nic: NICID, isLocalAddress: Bool, isBroadcast: Bool, wasReassembled: Bool
    ) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.ttl = ttl
        self.dscpECN = dscpECN
        self.nic = nic
        self.isLocalAddress = isLocalAddress
        self.isBroadcast = isBroadcast
        self.wasReassembled = wasReassembled
    }

    /// The pseudo-header for transport checksums over this packet.
    public var pseudoHeader: PseudoHeader {
        switch (source, destination) {
        case (.v4(let s), .v4(let d)): .v4(source: s, destination: d)
        case (.v6(let s), .v6(let d)): .v6(source: s, destination: d)
        case (.v4(let s), .v6): .v4(source: s, destination: .any) // never built by the stack
        case (.v6(let s), .v4): .v6(source: s, destination: .any)
        }
    }
}

/// One inbound transport segment, borrowed for the duration of `handleSegment`.
public struct InboundSegment {
    public var ip: IPPacketInfo
    /// The transport header onward.
    public var bytes: UnsafeRawBufferPointer
    /// The link verified the transport checksum.
    public var checksumVerified: Bool
    /// Present when the link delivered a GSO super-segment (coalesced TCP, or a UDP GSO batch).
    public var gso: GSOInfo?

    public init(ip: IPPacketInfo, bytes: UnsafeRawBufferPointer, checksumVerified: Bool, gso: GSOInfo?) {
        self.ip = ip
        self.bytes = bytes
        self.checksumVerified = checksumVerified
        self.gso = gso
    }
}

/// What the stack should do after a transport looked at a segment.
public enum SegmentVerdict: Sendable, Equatable {
    /// Taken (delivered, or answered by the transport itself, e.g. with a TCP RST).
    case consumed
    /// No one takes it: answer ICMP Destination Unreachable with this code.
    case unreachable(ICMPv4UnreachableCode)
    /// Bad or unwanted: count it under `reason`, answer nothing.
    case dropped(DropReason)
}

/// An ICMP error about a datagram this stack sent, handed to the transport that sent it.
public struct TransportICMPError {
    public enum Kind: Sendable, Equatable {
        /// ICMP Destination Unreachable (code as on the wire; `.fragmentationNeeded` comes as
        /// `fragmentationNeeded`).
        case destinationUnreachable(ICMPv4UnreachableCode)
        /// Destination Unreachable, code 4 (RFC 1191): the path MTU to use.
        case fragmentationNeeded(nextHopMTU: Int)
        case timeExceeded(code: UInt8)
        case parameterProblem
        case sourceQuench
    }

    public var kind: Kind
    /// Who sent the ICMP message (a router on the path, or the destination itself).
    public var reporter: IPAddress
    /// The quoted datagram's source: our local address for the flow.
    public var quotedSource: IPAddress
    /// The quoted datagram's destination: the remote address of the flow.
    public var quotedDestination: IPAddress
    public var quotedProtocol: IPProtocol
    /// The quoted transport header (at least 8 bytes), borrowed for the call only.
    public var quotedTransport: UnsafeRawBufferPointer
    /// The size of the datagram that drew the error, as its own header states (IPv4 Total
    /// Length; 40 + IPv6 Payload Length): what a "too big" report must be smaller than.
    public var quotedLength: Int
}

/// A transport protocol plugged into the stack (TCP). See the top of this file.
public protocol TransportProtocolHandler: AnyObject {
    /// The IP protocol number this handler takes (e.g. `.tcp`).
    var protocolNumber: IPProtocol { get }
    func handleSegment(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict
    /// Returns whether an endpoint owned the quoted flow.
    func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool
    /// The earliest instant at which `handleTimers` has work; nil when none.
    var nextDeadline: NetstackInstant? { get }
    func handleTimers(now: NetstackInstant)
}

/// What a transport asks the stack to send over IPv4.
public struct IPv4SendRequest: Sendable, Equatable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var protocolNumber: IPProtocol
    public var ttl: UInt8
    public var dscpECN: UInt8
    /// DF: never fragment; a datagram larger than the path MTU fails with `messageTooLong`.
    public var dontFragment: Bool

    public init(
        source: IPv4Address, destination: IPv4Address, protocolNumber: IPProtocol,
        ttl: UInt8 = 64, dscpECN: UInt8 = 0, dontFragment: Bool = false
    ) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.ttl = ttl
        self.dscpECN = dscpECN
        self.dontFragment = dontFragment
    }
}

/// How a send went when it did not fail.
public enum SendOutcome: Sendable, Equatable {
    /// Handed to the link (possibly as several fragments).
    case sent
    /// Parked until the next hop's link address resolves (sent then, or dropped and counted).
    case queuedForResolution
}

/// Why a send failed.
public enum SendError: Error, Sendable, Equatable {
    /// No route to the destination.
    case noRoute
    /// Larger than the MTU with DF set (or larger than an IPv4 datagram can be): `mtu` is the
    /// largest datagram (IP header included) the route takes.
    case messageTooLong(mtu: Int)
    /// The datagram is invalid (e.g. transport header too long, no usable source address).
    case invalidArgument
    /// The next hop is unresolved and its queue cannot take the datagram.
    case resolutionQueueFull
    /// The link refused the write.
    case link(LinkError)
    /// The endpoint was closed.
    case closed
}

/// The route a send would take, for transports sizing their segments.
public struct RouteInfo: Sendable, Equatable {
    public var nic: NICID
    /// The source address the stack picks for this destination.
    public var source: IPAddress
    /// Where the packet goes on the link: the destination itself or a gateway.
    public var nextHop: IPAddress
    /// Largest IP datagram (header included) without fragmenting.
    public var mtu: Int
    public var linkCapabilities: LinkCapabilities
    /// Largest GSO packet the link takes (0 when GSO is off).
    public var gsoMaxSize: Int
}
