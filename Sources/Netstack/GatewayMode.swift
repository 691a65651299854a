// Gateway mode: what UserNet needs to be the app's whole network. The stack then accepts
// packets for ANY unicast destination and plays whichever host the app talks to; every new
// flow (a UDP datagram for no endpoint, a TCP SYN for no listener, an ICMP echo to a
// non-local address) is put to a hook first, so the gateway can open the host socket and the
// endpoint before the stack answers.
//
// ARP in gateway mode (decided here, see `ARPReplyPolicy`): the app reaches off-subnet hosts
// through its default route, so it only ever ARPs for the gateway's own addresses; those are
// answered by default. On-subnet addresses that belong to no one stay unanswered by default,
// exactly as on a real LAN (the app sees "host unreachable"); UserNet can choose
// `.anyInSubnet(excluding:)` to impersonate on-subnet hosts too (pasta's behaviour), in which
// case the app's own address and the network and broadcast addresses are never claimed, and
// an ARP probe (sender address 0.0.0.0, RFC 5227) is only answered for our own addresses, so
// the app's duplicate-address detection never sees a false conflict.
//
// IPv6 in gateway mode: every global unicast destination is impersonated the same way (with the
// same hook; ICMPv6 echo flows have protocol `.icmpv6`); link-local destinations other than
// the gateway's own are not. Neighbor Discovery answers only for the NIC's own addresses (its
// link-local one, which the app learns as its default router from the router advertisements,
// and e.g. fd00::2) by default, or by `NeighbourSolicitationPolicy.anyInPrefix(excluding:)`
// for every address of its prefix but the app's, like ARP's `.anyInSubnet`; it never answers a
// duplicate-address probe for anyone else's address.

import Wire

/// A flow from the app's point of view: `source` is the app, `destination` the host it wants.
/// For ICMP and ICMPv6 echo the ports are the echo identifier and 0.
public struct FlowKey: Hashable, Sendable, CustomStringConvertible {
    public var protocolNumber: IPProtocol
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16

    public init(
        protocolNumber: IPProtocol, source: IPAddress, sourcePort: UInt16, destination: IPAddress,
        destinationPort: UInt16
    ) {
        self.protocolNumber = protocolNumber
        self.source = source
        self.sourcePort = sourcePort
        self.destination = destination
        self.destinationPort = destinationPort
    }

    public var description: String { "\(protocolNumber) \(source):\(sourcePort) -> \(destination):\(destinationPort)" }
}

/// The hook's answer for a new flow.
public enum FlowVerdict: Sendable, Equatable {
    /// Accept. For UDP, the hook has opened an endpoint bound to the flow's destination
    /// address and port before returning (the datagram is then delivered to it); for ICMP echo
    /// the stack answers the request itself; for TCP the tcp handler completes the handshake.
    case accept
    /// Refuse with ICMP Destination Unreachable of this code (TCP answers with a RST for
    /// `.portUnreachable`).
    case reject(ICMPv4UnreachableCode)
    /// Refuse silently.
    case drop
    /// TCP only: the hook decides later (it opens the host side first). The transport holds
    /// the SYN and answers it when the hook calls `TCPTransport.resolve(_:with:now:)`. Any
    /// other protocol treats it as `.drop`.
    case deferred
}

/// Decides, per new flow, whether the gateway takes it (implemented by UserNet).
public protocol GatewayFlowHook: AnyObject {
    func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict
    /// An accepted echo request to an impersonated address. Return true when the hook sends
    /// it on (a real echo to the real host; it answers later with `Stack.sendEchoReply`, or
    /// never): the stack then answers nothing itself. False: the stack replies at once.
    /// `data` is borrowed for the call only.
    func stack(
        _ stack: Stack, forwardEchoRequest flow: FlowKey, sequence: UInt16, data: UnsafeRawBufferPointer,
        now: NetstackInstant
    ) -> Bool
}

extension GatewayFlowHook {
    public func stack(
        _ stack: Stack, forwardEchoRequest flow: FlowKey, sequence: UInt16, data: UnsafeRawBufferPointer,
        now: NetstackInstant
    ) -> Bool { false }
}

/// Which ARP requests a NIC answers.
public enum ARPReplyPolicy: Sendable, Equatable {
    /// Only for addresses configured on the NIC (the default, in every mode).
    case ownAddresses
    /// Also for every other address in the NIC's subnets except these (the app's own), the
    /// network and the broadcast address. Probes are answered only for own addresses.
    case anyInSubnet(excluding: Set<IPv4Address>)
}
