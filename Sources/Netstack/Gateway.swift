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

import Wire

/// A flow from the app's point of view: `source` is the app, `destination` the host it wants.
/// For ICMP echo the ports are the echo identifier and 0.
public struct FlowKey: Hashable, Sendable, CustomStringConvertible {
    public var protocolNumber: IPProtocol
    public var source: IPAddress
    public var sourcePort: UInt16
    public var destination: IPAddress
    public var destinationPort: UInt16

    public init(protocolNumber: IPProtocol, source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16) {
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
}

/// Decides, per new flow, whether the gateway takes it (implemented by UserNet).
public protocol GatewayFlowHook: AnyObject {
    func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict
}

/// Which ARP requests a NIC answers.
public enum ARPReplyPolicy: Sendable, Equatable {
    /// Only for addresses configured on the NIC (the default, in every mode).
    case ownAddresses
    /// Also for every other address in the NIC's subnets except these (the app's own), the
    /// network and the broadcast address. Probes are answered only for own addresses.
    case anyInSubnet(excluding: Set<IPv4Address>)
}
