// IPv6 addressing of a NIC: its link-local address (RFC 4291 2.5.6, built from the MAC as a
// modified EUI-64, RFC 4291 appendix A), its configured addresses, which multicast groups it
// listens to (all-nodes, all-routers when it advertises, and the solicited-node group of each
// address, RFC 4291 2.7.1), source address selection, and route lookup for IPv6.

import Link
import Wire

/// The IPv6 side of one NIC.
struct NICIPv6State {
    /// fe80::/64 plus the modified EUI-64 of the MAC; nil on links without link addresses
    /// (no Neighbor Discovery happens there).
    let linkLocal: IPv6Address?
    /// Addresses configured with `Stack.addAddress(_: IPv6Subnet, to:)`.
    var addresses: [IPv6Subnet] = []
    /// Set when the NIC sends router advertisements (it is then a router on the link).
    var routerAdvertiser: RouterAdvertiser?
    var solicitationPolicy: NeighbourSolicitationPolicy = .ownAddresses

    init(linkAddress: MACAddress, capabilities: LinkCapabilities) {
        linkLocal = capabilities.contains(.resolutionRequired) ? IPv6Address.linkLocal(for: linkAddress) : nil
    }

    var isRouter: Bool { routerAdvertiser != nil }

    /// A unicast address of this NIC (link-local included).
    func hasAddress(_ address: IPv6Address) -> Bool {
        if address == linkLocal { return true }
        for subnet in addresses where subnet.address == address { return true }
        return false
    }

    /// A multicast group this NIC receives.
    func listens(to group: IPv6Address) -> Bool {
        if group == .allNodes { return true }
        if group == .allRouters { return isRouter }
        guard group.isSolicitedNodeMulticast else { return false }
        // Impersonating a prefix means hearing every solicitation; NDP picks the targets.
        if case .anyInPrefix = solicitationPolicy { return true }
        if let linkLocal, linkLocal.solicitedNodeMulticast == group { return true }
        for subnet in addresses where subnet.address.solicitedNodeMulticast == group { return true }
        return false
    }

    /// Whether a neighbour solicitation for `target` is answered (see NeighbourSolicitationPolicy).
    func answersSolicitation(for target: IPv6Address, fromDAD: Bool) -> Bool {
        if hasAddress(target) { return true }
        guard case .anyInPrefix(let excluded) = solicitationPolicy, !fromDAD, !excluded.contains(target) else {
            return false
        }
        for subnet in addresses where subnet.contains(target) {
            // RFC 4291 2.6.1: the prefix with a zero interface identifier is the subnet-router
            // anycast address, not a host to play.
            return target != subnet.prefixBits
        }
        return false
    }

    /// Source address selection, RFC 6724 cut down to what a NIC with one link-local and a few
    /// global addresses needs: link scope for link-scoped destinations (rule 2), else an
    /// address whose prefix holds the destination (rule 8, longest matching prefix), else any
    /// global address, else the link-local one.
    func sourceAddress(toward destination: IPv6Address) -> IPv6Address? {
        if destination.isLinkLocal || destination.isLinkScopeMulticast { return linkLocal ?? addresses.first?.address }
        for subnet in addresses where subnet.contains(destination) { return subnet.address }
        return addresses.first?.address ?? linkLocal
    }

    var nextDeadline: NetstackInstant? { routerAdvertiser?.nextDeadline }
}

/// Which neighbour solicitations a NIC answers: the IPv6 twin of `ARPReplyPolicy` (see
/// Gateway.swift).
public enum NeighbourSolicitationPolicy: Sendable, Equatable {
    /// Only for the NIC's own addresses (the default, in every mode).
    case ownAddresses
    /// Also for every other address in the NIC's IPv6 prefixes except these (the app's own)
    /// and the subnet-router anycast address. Duplicate address detection probes are answered
    /// only for own addresses, so the app's DAD never sees a false conflict.
    case anyInPrefix(excluding: Set<IPv6Address>)
}

extension IPv6Address {
    /// ff02::1, every node on the link.
    public static let allNodes = IPv6Address(high: 0xFF02 << 48, low: 1)
    /// ff02::2, every router on the link.
    public static let allRouters = IPv6Address(high: 0xFF02 << 48, low: 2)

    /// fe80:: with the modified EUI-64 interface identifier of `mac` (RFC 4291 appendix A:
    /// ff:fe in the middle and the universal/local bit inverted).
    public static func linkLocal(for mac: MACAddress) -> IPv6Address {
        let m = mac.rawValue
        let identifier = ((m >> 24) << 40 | 0xFF_FE << 24 | m & 0xFF_FFFF) ^ (0x02 << 56)
        return IPv6Address(high: 0xFE80 << 48, low: identifier)
    }

    /// ff02::1:ffXX:XXXX, the group on which neighbours solicit this address.
    public var solicitedNodeMulticast: IPv6Address {
        IPv6Address(high: 0xFF02 << 48, low: 0x1_FF00_0000 | low & 0xFF_FFFF)
    }

    public var isSolicitedNodeMulticast: Bool { high == 0xFF02 << 48 && low >> 24 == 0x1_FF }

    /// ff02::/16 (and other link-local scoped groups, scope 2).
    public var isLinkScopeMulticast: Bool { isMulticast && (high >> 48) & 0xF == 2 }

    /// The Ethernet address an IPv6 multicast packet goes to: 33:33 and the group's low 32
    /// bits (RFC 2464 7).
    public var multicastMAC: MACAddress { MACAddress(rawValue: 0x3333_0000_0000 | low & 0xFFFF_FFFF) }
}

extension RouteTable {
    func lookup(_ destination: IPv6Address) -> Route? {
        for route in routes {
            if case .v6(let subnet) = route.destination, subnet.contains(destination) { return route }
        }
        return nil
    }
}

extension Stack {
    /// Adds `subnet.address` to the NIC and the connected route for the subnet.
    public func addAddress(_ subnet: IPv6Subnet, to id: NICID) {
        guard let nic = nic(id), !nic.ipv6.addresses.contains(subnet) else { return }
        nic.ipv6.addresses.append(subnet)
        routeTable.add(
            Route(destination: .v6(IPv6Subnet(subnet.prefixBits, prefixLength: subnet.prefixLength)), nic: id))
    }

    /// The NIC's IPv6 addresses (the link-local one excluded).
    public func ipv6Addresses(of id: NICID) -> [IPv6Subnet] { nic(id)?.ipv6.addresses ?? [] }

    public func setNeighbourSolicitationPolicy(_ policy: NeighbourSolicitationPolicy, on id: NICID) {
        nic(id)?.ipv6.solicitationPolicy = policy
    }

    /// The NIC's link-local address; nil on links without link addresses.
    public func linkLocalAddress(of id: NICID) -> IPv6Address? { nic(id)?.ipv6.linkLocal }

    /// Pins `address -> mac` (never expires); sends whatever waited for it.
    public func addStaticNeighbour(_ address: IPv6Address, _ mac: MACAddress, on id: NICID) {
        addStaticNeighbour(.v6(address), mac, on: id)
    }

    /// Link-local and multicast destinations have no route: they leave on `scope` (or the
    /// first NIC with IPv6) toward the destination itself (RFC 4007: their zone is the link).
    func resolveRoute(_ destination: IPv6Address, preferredSource: IPv6Address? = nil, scope: NICID? = nil)
        -> ResolvedRoute<IPv6Address>?
    {
        let nic: NIC
        var nextHop = destination
        var routeSource: IPv6Address?
        var routeMTU: Int?
        if destination.isLinkLocal || destination.isMulticast {
            if let scope, let scoped = self.nic(scope) {
                nic = scoped
            } else if let first = nics.first(where: { $0.ipv6.linkLocal != nil || !$0.ipv6.addresses.isEmpty }) {
                nic = first
            } else {
                return nil
            }
        } else {
            guard let route = routeTable.lookup(destination), let routed = self.nic(route.nic) else { return nil }
            nic = routed
            nextHop = route.gateway?.ipv6 ?? destination
            routeSource = route.source?.ipv6
            routeMTU = route.mtu
        }
        let source: IPv6Address?
        if let preferredSource, !preferredSource.isUnspecified {
            source = preferredSource
        } else {
            source = routeSource ?? nic.ipv6.sourceAddress(toward: destination)
        }
        guard let source else { return nil }
        return ResolvedRoute(nic: nic, source: source, nextHop: nextHop, mtu: min(routeMTU ?? nic.mtu, nic.mtu))
    }
}

extension IPv6Subnet {
    /// The prefix with the host bits cleared.
    var prefixBits: IPv6Address {
        let highBits = min(64, prefixLength), lowBits = max(0, prefixLength - 64)
        let highMask: UInt64 = highBits == 0 ? 0 : UInt64.max << UInt64(64 - highBits)
        let lowMask: UInt64 = lowBits == 0 ? 0 : UInt64.max << UInt64(64 - lowBits)
        return IPv6Address(high: address.high & highMask, low: address.low & lowMask)
    }
}
