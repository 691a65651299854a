// Protocol-independent address and prefix types, shared by the stack (routes, NIC addresses,
// flow keys) and the gateway (policy, DNS, host sockets): one definition for every module.

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    /// Parses dotted-quad or RFC 4291 text; nil on anything else.
    public init?(_ text: some StringProtocol) {
        let s = String(text)
        if let a = IPv4Address(s) { self = .v4(a) } else if let a = IPv6Address(s) { self = .v6(a) } else { return nil }
    }

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    public var ipv4: IPv4Address? { if case .v4(let a) = self { a } else { nil } }
    public var ipv6: IPv6Address? { if case .v6(let a) = self { a } else { nil } }
    public var isV4: Bool { if case .v4 = self { true } else { false } }

    public var isLoopback: Bool {
        switch self {
        case .v4(let a): a.isLoopback
        case .v6(let a): a.isLoopback
        }
    }

    public var isLinkLocal: Bool {
        switch self {
        case .v4(let a): a.isLinkLocal
        case .v6(let a): a.isLinkLocal
        }
    }
}

/// An IPv4 prefix: `10.0.2.0/24`. The stored address keeps its host bits so the same value
/// serves as "an address with its prefix" (what a NIC is configured with).
public struct IPv4Subnet: Hashable, Sendable, CustomStringConvertible {
    public let address: IPv4Address
    public let prefixLength: Int

    /// `prefixLength` is clamped to 0...32.
    public init(_ address: IPv4Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = max(0, min(32, prefixLength))
    }

    public var mask: UInt32 { prefixLength == 0 ? 0 : UInt32.max << UInt32(32 - prefixLength) }
    public var network: IPv4Address { IPv4Address(rawValue: address.rawValue & mask) }
    /// The subnet-directed broadcast address (all host bits set).
    public var broadcast: IPv4Address { IPv4Address(rawValue: address.rawValue | ~mask) }

    public func contains(_ other: IPv4Address) -> Bool { other.rawValue & mask == address.rawValue & mask }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// An IPv6 prefix: `fd00::/64`, address bits kept as given.
public struct IPv6Subnet: Hashable, Sendable, CustomStringConvertible {
    public let address: IPv6Address
    public let prefixLength: Int

    public init(_ address: IPv6Address, prefixLength: Int) {
        self.address = address
        self.prefixLength = max(0, min(128, prefixLength))
    }

    /// The (high, low) halves of the prefix mask.
    public var mask: (high: UInt64, low: UInt64) {
        let highBits = min(64, prefixLength), lowBits = max(0, prefixLength - 64)
        return (
            highBits == 0 ? 0 : UInt64.max << UInt64(64 - highBits),
            lowBits == 0 ? 0 : UInt64.max << UInt64(64 - lowBits)
        )
    }

    public var network: IPv6Address { IPv6Address(high: address.high & mask.high, low: address.low & mask.low) }

    public func contains(_ other: IPv6Address) -> Bool {
        let (highMask, lowMask) = mask
        return (other.high ^ address.high) & highMask == 0 && (other.low ^ address.low) & lowMask == 0
    }

    public var description: String { "\(address)/\(prefixLength)" }
}

/// A prefix of either family.
public enum IPSubnet: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Subnet)
    case v6(IPv6Subnet)

    public var prefixLength: Int {
        switch self {
        case .v4(let s): s.prefixLength
        case .v6(let s): s.prefixLength
        }
    }

    /// The network address (host bits cleared).
    public var network: IPAddress {
        switch self {
        case .v4(let s): .v4(s.network)
        case .v6(let s): .v6(s.network)
        }
    }

    public func contains(_ address: IPAddress) -> Bool {
        switch (self, address) {
        case (.v4(let s), .v4(let a)): s.contains(a)
        case (.v6(let s), .v6(let a)): s.contains(a)
        default: false
        }
    }

    /// The address `offset` hosts into the prefix (`10.0.2.0/24` offset 2 is `10.0.2.2`); nil
    /// if it falls outside.
    public func host(_ offset: UInt64) -> IPAddress? {
        switch self {
        case .v4(let s):
            let size = UInt64(1) << UInt64(32 - s.prefixLength)
            guard offset < size else { return nil }
            return .v4(IPv4Address(rawValue: s.network.rawValue | UInt32(offset)))
        case .v6(let s):
            if s.prefixLength > 64 {
                let size = UInt64(1) << UInt64(128 - s.prefixLength)
                guard offset < size else { return nil }
            }
            let n = s.network
            return .v6(IPv6Address(high: n.high, low: n.low | offset))
        }
    }

    public var description: String {
        switch self {
        case .v4(let s): s.description
        case .v6(let s): s.description
        }
    }

    /// Parses `ADDR/LEN`, or a bare address as a host prefix (/32, /128), as a network: host
    /// bits beyond the prefix are refused (`10.0.2.1/24` is almost always a typo for a rule).
    public init(parsing text: some StringProtocol) throws(SubnetParseError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw .badAddress(String(parts[0])) }
        var length = address.isV4 ? 32 : 128
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]) else {
                throw .badPrefixLength(-1)
            }
            length = n
        }
        switch address {
        case .v4(let a):
            guard (0...32).contains(length) else { throw .badPrefixLength(length) }
            let subnet = IPv4Subnet(a, prefixLength: length)
            guard subnet.network == a else { throw .hostBitsSet }
            self = .v4(subnet)
        case .v6(let a):
            guard (0...128).contains(length) else { throw .badPrefixLength(length) }
            let subnet = IPv6Subnet(a, prefixLength: length)
            guard subnet.network == a else { throw .hostBitsSet }
            self = .v6(subnet)
        }
    }
}

/// Why `IPSubnet(parsing:)` refused its text.
public enum SubnetParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case badAddress(String)
    case badPrefixLength(Int)
    case hostBitsSet

    public var description: String {
        switch self {
        case .badAddress(let text): "'\(text)' is not an IPv4 or IPv6 address"
        case .badPrefixLength(let n) where n < 0: "the prefix length is not a number"
        case .badPrefixLength(let n): "prefix length \(n) is out of range"
        case .hostBitsSet: "the address has bits set beyond the prefix length (write the network address)"
        }
    }
}
