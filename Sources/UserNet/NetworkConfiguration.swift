// The gateway's addressing (slirp conventions, so users already know them) and the knobs
// that change what the app may reach: --cidr, --mtu, --allow-host-loopback, --dns.

import Wire

public struct NetworkConfiguration: Sendable, Equatable {
    /// The app's IPv4 network; the gateway is host .2, the DNS forwarder .3, the app .100.
    public private(set) var ipv4Network: IPSubnet
    public private(set) var ipv6Network: IPSubnet
    public private(set) var gatewayV4: IPv4Address
    public private(set) var dnsV4: IPv4Address
    public private(set) var appV4: IPv4Address
    public private(set) var gatewayV6: IPv6Address
    public private(set) var dnsV6: IPv6Address
    public private(set) var appV6: IPv6Address
    /// Largest IP packet on the veth. 65520 by default: large frames are what make a
    /// user-space gateway fast (fewer packets per byte), as slirp4netns and pasta found.
    public private(set) var mtu: Int
    /// Maps the gateway address to the host's loopback, and lets the app reach 127.0.0.0/8
    /// and ::1 at all. Off by default: host services bound to loopback trust their callers.
    public var allowHostLoopback = false
    /// Lets the app reach 169.254.0.0/16 and fe80::/10 (cloud metadata lives there).
    public var allowLinkLocal = false
    /// Upstream resolvers for the DNS forwarder; nil means /etc/resolv.conf.
    public var dnsUpstreams: [SocketAddress]?
    /// The addresses of the host's own interfaces (a snapshot taken as the gateway starts,
    /// HostAddresses): protected like loopback, since services bound to 0.0.0.0 answer there.
    public var hostAddresses: Set<IPAddress> = []
    /// The sandbox's host name, answered by the DNS forwarder itself (LocalNames); nil when
    /// the gateway serves a namespace it did not name (`sandbox usernet`).
    public var hostname: String?

    public static let defaultIPv4 = "10.0.2.0/24"
    public static let defaultIPv6 = "fd00::/64"
    public static let defaultMTU = 65520
    /// IPv6 needs 1280 (RFC 8200 5); the largest IPv4 packet is 65535, minus what the
    /// Linux veth allows on top (65535 - 14 link header = 65521, as slirp4netns also caps).
    public static let mtuRange = 1280...65521

    public init(cidr: String = defaultIPv4, ipv6: String = defaultIPv6, mtu: Int = defaultMTU)
        throws(ConfigurationError)
    {
        let v4: IPSubnet
        do { v4 = try IPSubnet(parsing: cidr) } catch { throw .badCIDR(cidr, error) }
        guard case .v4(let network4) = v4.network else { throw .cidrNotIPv4(cidr) }
        // The app sits at host 100, so the prefix must hold at least 128 addresses.
        guard v4.prefixLength <= 25 else { throw .cidrTooSmall(cidr) }
        let v6: IPSubnet
        do { v6 = try IPSubnet(parsing: ipv6) } catch { throw .badCIDR(ipv6, error) }
        guard case .v6(let network6) = v6.network, v6.prefixLength <= 64 else { throw .ipv6PrefixNot64(ipv6) }
        guard Self.mtuRange.contains(mtu) else { throw .mtuOutOfRange(mtu) }
        ipv4Network = v4
        ipv6Network = v6
        gatewayV4 = IPv4Address(rawValue: network4.rawValue | 2)
        dnsV4 = IPv4Address(rawValue: network4.rawValue | 3)
        appV4 = IPv4Address(rawValue: network4.rawValue | 100)
        gatewayV6 = IPv6Address(high: network6.high, low: 2)
        dnsV6 = IPv6Address(high: network6.high, low: 3)
        appV6 = IPv6Address(high: network6.high, low: 0x100)
        self.mtu = mtu
    }

    /// A named network's member sits at the addresses the network gave it, not host .100.
    public mutating func place(v4: IPv4Address, v6: IPv6Address) {
        appV4 = v4
        appV6 = v6
    }

    /// Parses `--dns ADDR` (an IP, optionally `ADDR#PORT` or `[v6]:PORT`-style with port 53
    /// default). Several may be given; they are tried in order.
    public static func parseDNSUpstream(_ text: String) throws(ConfigurationError) -> SocketAddress {
        if let address = IPAddress(text) { return SocketAddress(address, port: 53) }
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard let address = IPAddress(host), rest.hasPrefix(":"),
                let port = UInt16(rest.dropFirst()), port != 0
            else { throw .badDNSUpstream(text) }
            return SocketAddress(address, port: port)
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(parts[0]), address.isV4,
            let port = UInt16(parts[1]), port != 0
        else { throw .badDNSUpstream(text) }
        return SocketAddress(address, port: port)
    }
}

public enum ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    case badCIDR(String, SubnetParseError)
    case cidrNotIPv4(String)
    case cidrTooSmall(String)
    case ipv6PrefixNot64(String)
    case mtuOutOfRange(Int)
    case badDNSUpstream(String)

    public var description: String {
        switch self {
        case .badCIDR(let text, let error): "--cidr \(text): \(error)"
        case .cidrNotIPv4(let text): "--cidr \(text): must be an IPv4 network"
        case .cidrTooSmall(let text): "--cidr \(text): the prefix must be /25 or shorter (the app is host .100)"
        case .ipv6PrefixNot64(let text): "IPv6 prefix \(text): must be an IPv6 network of /64 or shorter"
        case .mtuOutOfRange(let n):
            "--mtu \(n): must be within \(NetworkConfiguration.mtuRange.lowerBound)...\(NetworkConfiguration.mtuRange.upperBound)"
        case .badDNSUpstream(let text): "--dns \(text): expected an IP address, ADDR:PORT or [IPv6]:PORT"
        }
    }
}
