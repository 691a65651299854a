// The routing table: longest-prefix match over a short list. A sandbox's stack has a handful of
// routes (the connected subnet, maybe a default), so a linear scan beats any trie.

import Wire

/// One route.
public struct Route: Sendable, Equatable {
    public var destination: IPSubnet
    /// The next hop when the destination is not on the link; nil for a connected route.
    public var gateway: IPAddress?
    public var nic: NICID
    /// Path MTU for this route; nil means the NIC's MTU.
    public var mtu: Int?
    /// Preferred source address; nil picks one of the NIC's addresses.
    public var source: IPAddress?

    public init(destination: IPSubnet, gateway: IPAddress? = nil, nic: NICID, mtu: Int? = nil, source: IPAddress? = nil)
    {
        self.destination = destination
        self.gateway = gateway
        self.nic = nic
        self.mtu = mtu
        self.source = source
    }
}

struct RouteTable {
    private(set) var routes: [Route] = []

    mutating func add(_ route: Route) {
        routes.removeAll { $0.destination == route.destination && $0.nic == route.nic }
        routes.append(route)
        // Longest prefix first, so the first match wins.
        routes.sort { $0.destination.prefixLength > $1.destination.prefixLength }
    }

    mutating func remove(where predicate: (Route) -> Bool) { routes.removeAll(where: predicate) }

    func lookup(_ destination: IPv4Address) -> Route? {
        for route in routes {
            if case .v4(let subnet) = route.destination, subnet.contains(destination) { return route }
        }
        return nil
    }
}
