// An address prefix (`10.0.2.0/24`, `fd00::/64`) for addressing and policy rules.

import Wire

public struct CIDR: Hashable, Sendable, CustomStringConvertible {
    /// The network address (host bits are zero).
    public let network: IPAddress
    public let prefixLength: Int

    /// Builds a prefix; `strict` refuses host bits set in `address` (`10.0.2.1/24`).
    public init(_ address: IPAddress, prefixLength: Int, strict: Bool = true) throws(CIDRError) {
        switch address {
        case .v4(let a):
            guard (0...32).contains(prefixLength) else { throw .badPrefixLength(prefixLength) }
            let masked = a.rawValue & Self.mask32(prefixLength)
            guard !strict || masked == a.rawValue else { throw .hostBitsSet }
            network = .v4(IPv4Address(rawValue: masked))
        case .v6(let a):
            guard (0...128).contains(prefixLength) else { throw .badPrefixLength(prefixLength) }
            let (mh, ml) = Self.mask128(prefixLength)
            guard !strict || (a.high & mh == a.high && a.low & ml == a.low) else { throw .hostBitsSet }
            network = .v6(IPv6Address(high: a.high & mh, low: a.low & ml))
        }
        self.prefixLength = prefixLength
    }

    /// Parses `ADDR/LEN`, or a bare address as a host prefix (/32, /128).
    public init(parsing text: some StringProtocol, strict: Bool = true) throws(CIDRError) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let address = IPAddress(parts[0]) else { throw .badAddress(String(parts[0])) }
        var length = address.isV4 ? 32 : 128
        if parts.count == 2 {
            guard parts[1].count <= 3, parts[1].allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(parts[1]) else {
                throw .badPrefixLength(-1)
            }
            length = n
        }
        try self.init(address, prefixLength: length, strict: strict)
    }

    public func contains(_ address: IPAddress) -> Bool {
        switch (network, address) {
        case (.v4(let n), .v4(let a)):
            return a.rawValue & Self.mask32(prefixLength) == n.rawValue
        case (.v6(let n), .v6(let a)):
            let (mh, ml) = Self.mask128(prefixLength)
            return a.high & mh == n.high && a.low & ml == n.low
        default:
            return false
        }
    }

    /// The address `offset` hosts into the prefix (`10.0.2.0/24` offset 2 is `10.0.2.2`); nil
    /// if it falls outside.
    public func host(_ offset: UInt64) -> IPAddress? {
        switch network {
        case .v4(let n):
            let size = UInt64(1) << UInt64(32 - prefixLength)
            guard offset < size else { return nil }
            return .v4(IPv4Address(rawValue: n.rawValue | UInt32(offset)))
        case .v6(let n):
            if prefixLength > 64 {
                let size = UInt64(1) << UInt64(128 - prefixLength)
                guard offset < size else { return nil }
            }
            return .v6(IPv6Address(high: n.high, low: n.low | offset))
        }
    }

    public var description: String { "\(network)/\(prefixLength)" }

    static func mask32(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }

    static func mask128(_ length: Int) -> (UInt64, UInt64) {
        if length <= 64 { return (length == 0 ? 0 : UInt64.max << UInt64(64 - length), 0) }
        return (UInt64.max, length == 128 ? UInt64.max : UInt64.max << UInt64(128 - length))
    }
}

public enum CIDRError: Error, Sendable, Equatable, CustomStringConvertible {
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
