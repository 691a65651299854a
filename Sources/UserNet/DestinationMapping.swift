// Where an app flow really goes. The app sees a small world (gateway, DNS forwarder, the
// Internet); this decides, before any policy rule, which host address a flow maps to and
// which destinations are never reachable unless the user opted in: host loopback, link-local,
// the metadata services and the host's own addresses (they reach the same services as
// loopback). An IPv6 destination that carries an IPv4 address is mapped as that address.

import Wire

public enum FlowTransport: UInt8, Sendable, Hashable, CustomStringConvertible {
    case tcp = 6
    case udp = 17
    case icmp = 1

    public var description: String {
        switch self {
        case .tcp: "tcp"
        case .udp: "udp"
        case .icmp: "icmp"
        }
    }
}

public enum MappedDestination: Sendable, Equatable {
    /// Open a host socket to this address.
    case host(SocketAddress)
    /// The gateway's own DNS forwarder (the DNS address, port 53).
    case dnsForwarder
    /// Not reachable: answer the app at once.
    case unreachable(UnreachableCause)
}

public enum UnreachableCause: Sendable, Equatable, CustomStringConvertible {
    /// The gateway address (or 127.0.0.0/8, ::1) without --allow-host-loopback.
    case hostLoopbackDisabled
    /// 169.254.0.0/16 or fe80::/10 without the opt-in.
    case linkLocal
    /// Multicast, broadcast, unspecified: nothing to connect to.
    case notUnicast
    /// An address inside the app's own network that no one holds, or a port on the DNS
    /// address other than 53.
    case noSuchService
    /// A cloud metadata address (SpecialAddresses.metadata): only an explicit --allow opens it.
    case metadata
    /// An address of the host's own interfaces: --allow-host-loopback or an explicit --allow.
    case hostAddress
    /// An IPv4-compatible (::a.b.c.d) or local-use NAT64 address, or a NAT64 address of a
    /// protected IPv4 destination: nothing the host would reach through it can be judged.
    case embeddedIPv4

    public var description: String {
        switch self {
        case .hostLoopbackDisabled: "host-loopback-disabled"
        case .linkLocal: "link-local"
        case .notUnicast: "not-unicast"
        case .noSuchService: "no-such-service"
        case .metadata: "metadata-service"
        case .hostAddress: "host-address"
        case .embeddedIPv4: "embedded-ipv4"
        }
    }

    /// The causes an explicit `--allow` rule naming the destination lifts (FlowAdmission).
    public var isOpenedByExplicitAllow: Bool {
        switch self {
        case .metadata, .hostAddress: true
        default: false
        }
    }

    /// What the app gets: RST for TCP, ICMP unreachable otherwise (RFC 1812 5.2.7.1 code 13
    /// for what policy forbids, port unreachable for a missing service).
    public func reply(for transport: FlowTransport) -> AppReply {
        switch (self, transport) {
        case (_, .tcp): .tcpReset
        case (.noSuchService, _): .icmpUnreachable(.port)
        case (.notUnicast, _): .icmpUnreachable(.host)
        default: .icmpUnreachable(.administrativelyProhibited)
        }
    }
}

extension NetworkConfiguration {
    /// Maps what the app addressed to what the gateway connects to. (The stack answers ICMP
    /// echo to the gateway and DNS addresses itself; those never reach this.)
    public func map(_ destination: SocketAddress, transport: FlowTransport) -> MappedDestination {
        let address = destination.address
        switch address {
        case .v4(let a):
            if a.isUnspecified || a.isBroadcast || a.isMulticast { return .unreachable(.notUnicast) }
            if a == dnsV4 { return dnsService(destination, transport) }
            if a == gatewayV4 {
                guard allowHostLoopback else { return .unreachable(.hostLoopbackDisabled) }
                return .host(SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: destination.port))
            }
            if ipv4Network.contains(address) {
                // The directed broadcast and every unassigned host of the app's own network.
                return .unreachable(.noSuchService)
            }
        case .v6(let a):
            if a.isUnspecified || a.isMulticast { return .unreachable(.notUnicast) }
            if let embedded = a.ipv4Mapped {
                // What a dual-stack host socket would reach: that IPv4 address, so it is mapped,
                // protected and judged as one (and the host socket is IPv4).
                return map(SocketAddress(.v4(embedded), port: destination.port), transport: transport)
            }
            if a.ipv4Compatible != nil || a.isNAT64LocalUse { return .unreachable(.embeddedIPv4) }
            if let embedded = a.nat64WellKnown {
                // A NAT64 turns it into `embedded`: refused where that IPv4 address would be
                // (and always for loopback: a NAT64 never reaches the host's).
                if embedded.isLoopback {
                    return .unreachable(allowHostLoopback ? .embeddedIPv4 : .hostLoopbackDisabled)
                }
                let inner = SocketAddress(.v4(embedded), port: destination.port)
                switch map(inner, transport: transport) {
                case .host(let reached) where reached == inner: return .host(destination)
                case .unreachable(let cause) where cause != .noSuchService: return .unreachable(cause)
                default: return .unreachable(.embeddedIPv4)
                }
            }
            if a == dnsV6 { return dnsService(destination, transport) }
            if a == gatewayV6 {
                guard allowHostLoopback else { return .unreachable(.hostLoopbackDisabled) }
                return .host(SocketAddress(.v6(.loopback), port: destination.port))
            }
            if ipv6Network.contains(address) { return .unreachable(.noSuchService) }
        }
        if address.isLoopback && !allowHostLoopback { return .unreachable(.hostLoopbackDisabled) }
        if SpecialAddresses.metadata.contains(address) { return .unreachable(.metadata) }
        if address.isLinkLocal && !allowLinkLocal { return .unreachable(.linkLocal) }
        if hostAddresses.contains(address) && !allowHostLoopback { return .unreachable(.hostAddress) }
        return .host(destination)
    }

    /// The address policy rules judge `destination` (a mapped host address) by: the IPv4
    /// address a NAT64 address carries, else the address itself.
    public func judgedAddress(_ destination: SocketAddress) -> SocketAddress {
        if case .v6(let a) = destination.address, let embedded = a.nat64WellKnown {
            return SocketAddress(.v4(embedded), port: destination.port)
        }
        return destination
    }

    private func dnsService(_ destination: SocketAddress, _ transport: FlowTransport) -> MappedDestination {
        switch transport {
        case .tcp, .udp: destination.port == 53 ? .dnsForwarder : .unreachable(.noSuchService)
        // Echo to the gateway's own addresses is answered by the stack before any flow is
        // mapped; anything that still gets here has no service behind it.
        case .icmp: .unreachable(.noSuchService)
        }
    }
}
