// Protocol-independent address and prefix types. The stack speaks IPv4 today; these types carry
// an IPv6 case already so that routes, NIC addresses and flow keys need no reshaping when IPv6
// input lands.

import Wire

/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Sendable, CustomStringConvertible {
    case v4(IPv4Address)
    case v6(IPv6Address)

    public var description: String {
        switch self {
        case .v4(let a): a.description
        case .v6(let a): a.description
        }
    }

    public var ipv4: IPv4Address? { if case .v4(let a) = self { a } else { nil } }
    public var ipv6: IPv6Address? { if case .v6(let a) = self { a } else { nil } }
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

    public func contains(_ other: IPv6Address) -> Bool {
        let highBits = min(64, prefixLength), lowBits = max(0, prefixLength - 64)
        let highMask: UInt64 = highBits == 0 ? 0 : UInt64.max << UInt64(64 - highBits)
        let lowMask: UInt64 = lowBits == 0 ? 0 : UInt64.max << UInt64(64 - lowBits)
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

    public func contains(_ address: IPAddress) -> Bool {
        switch (self, address) {
        case (.v4(let s), .v4(let a)): s.contains(a)
        case (.v6(let s), .v6(let a)): s.contains(a)
        default: false
        }
    }

    public var description: String {
        switch self {
        case .v4(let s): s.description
        case .v6(let s): s.description
        }
    }
}
