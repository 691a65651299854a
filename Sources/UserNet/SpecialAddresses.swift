// Address ranges the gateway treats apart from the Internet: the cloud metadata services
// (closed by default, like host loopback) and the private space a DNS answer must not admit
// an app into (DNS rebinding: an allowed name that resolves to the host's LAN).

import Wire

public enum SpecialAddresses {
    /// AWS/GCP/Azure/OpenStack (169.254.169.254), AWS over IPv6 (fd00:ec2::254), Alibaba
    /// (100.100.100.200): each hands out the machine's credentials to whoever asks.
    public static let metadata: Set<IPAddress> = [
        .v4(IPv4Address(169, 254, 169, 254)),
        .v6(IPv6Address(high: 0xFD00_0EC2_0000_0000, low: 0x254)),
        .v4(IPv4Address(100, 100, 100, 200))
    ]

    /// RFC 1918, RFC 6598 shared space (100.64.0.0/10), "this network" (0.0.0.0/8) and
    /// unique-local IPv6 (RFC 4193, fc00::/7), beside loopback and link-local.
    static let privateSubnets: [IPSubnet] = [
        .v4(IPv4Subnet(IPv4Address(10, 0, 0, 0), prefixLength: 8)),
        .v4(IPv4Subnet(IPv4Address(172, 16, 0, 0), prefixLength: 12)),
        .v4(IPv4Subnet(IPv4Address(192, 168, 0, 0), prefixLength: 16)),
        .v4(IPv4Subnet(IPv4Address(100, 64, 0, 0), prefixLength: 10)),
        .v4(IPv4Subnet(IPv4Address(0, 0, 0, 0), prefixLength: 8)),
        .v6(IPv6Subnet(IPv6Address(high: 0xFC00_0000_0000_0000, low: 0), prefixLength: 7))
    ]

    /// True for loopback, link-local, private and shared space, in either family and in the
    /// IPv4-in-IPv6 forms that reach them.
    public static func isPrivate(_ address: IPAddress) -> Bool {
        if case .v6(let a) = address, let embedded = a.ipv4Mapped ?? a.ipv4Compatible ?? a.nat64WellKnown {
            return isPrivate(.v4(embedded))
        }
        if address.isLoopback || address.isLinkLocal { return true }
        if case .v6(let a) = address, a.isUnspecified { return true }
        return privateSubnets.contains { $0.contains(address) }
    }
}
