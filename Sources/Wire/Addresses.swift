// Address value types shared by every layer. Stored as integers in host byte order so that
// comparisons, hashing and masking are single instructions; the byte order of the wire is
// applied only when reading from or writing to a buffer.

/// A 48-bit IEEE 802 MAC address, kept in the low 48 bits of `rawValue`
/// (first octet on the wire in bits 47...40).
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue & 0xFFFF_FFFF_FFFF }

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        rawValue =
            UInt64(b0) << 40 | UInt64(b1) << 32 | UInt64(b2) << 24
            | UInt64(b3) << 16 | UInt64(b4) << 8 | UInt64(b5)
    }

    @inlinable public static var broadcast: MACAddress { MACAddress(rawValue: 0xFFFF_FFFF_FFFF) }
    @inlinable public static var zero: MACAddress { MACAddress(rawValue: 0) }

    /// The I/G bit: set for group (multicast and broadcast) addresses.
    public var isMulticast: Bool { rawValue & (1 << 40) != 0 }
    public var isBroadcast: Bool { self == .broadcast }
    public var isUnicast: Bool { !isMulticast }

    /// Octet `i` (0...5) in wire order.
    @inlinable public func octet(_ i: Int) -> UInt8 { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64(i))) }

    public var description: String {
        (0..<6).map { i in
            let s = String(octet(i), radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined(separator: ":")
    }

    /// Parses `aa:bb:cc:dd:ee:ff`; returns nil on anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 6 else { return nil }
        var value: UInt64 = 0
        for part in parts {
            guard part.count == 2, part.allSatisfy(\.isHexDigit), let octet = UInt8(part, radix: 16) else { return nil }
            value = value << 8 | UInt64(octet)
        }
        rawValue = value
    }
}

/// An IPv4 address in host byte order (`10.0.2.2` is `0x0A00_0202`).
public struct IPv4Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        rawValue = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    @inlinable public static var any: IPv4Address { IPv4Address(rawValue: 0) }
    @inlinable public static var broadcast: IPv4Address { IPv4Address(rawValue: 0xFFFF_FFFF) }

    public var isUnspecified: Bool { rawValue == 0 }
    public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF }
    public var isMulticast: Bool { rawValue >> 28 == 0xE }
    public var isLoopback: Bool { rawValue >> 24 == 127 }
    public var isLinkLocal: Bool { rawValue >> 16 == 0xA9FE }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var description: String {
        "\(rawValue >> 24).\(rawValue >> 16 & 0xFF).\(rawValue >> 8 & 0xFF).\(rawValue & 0xFF)"
    }

    /// Parses dotted-quad text (`10.0.2.2`); returns nil on anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isWholeNumber), part.allSatisfy(\.isASCII),
                let octet = UInt8(part, radix: 10)
            else { return nil }
            value = value << 8 | UInt32(octet)
        }
        rawValue = value
    }
}

/// An IPv6 address as two 64-bit halves in host byte order (`high` holds the first 8 octets).
public struct IPv6Address: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let high: UInt64
    public let low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    @inlinable public static var any: IPv6Address { IPv6Address(high: 0, low: 0) }
    @inlinable public static var loopback: IPv6Address { IPv6Address(high: 0, low: 1) }

    public var isUnspecified: Bool { high == 0 && low == 0 }
    public var isLoopback: Bool { self == .loopback }
    public var isMulticast: Bool { high >> 56 == 0xFF }
    /// fe80::/10
    public var isLinkLocal: Bool { high >> 54 == 0x3FA }

    /// Group `i` (0...7) of the textual form.
    public func group(_ i: Int) -> UInt16 {
        let half = i < 4 ? high : low
        return UInt16(truncatingIfNeeded: half >> (48 - 16 * UInt64(i % 4)))
    }

    public static func < (a: Self, b: Self) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// RFC 5952 text: lowercase, longest run of two or more zero groups compressed; an
    /// IPv4-mapped address in mixed notation (RFC 5952 5: `::ffff:192.0.2.1`).
    public var description: String {
        if let embedded = ipv4Mapped { return "::ffff:\(embedded)" }
        let groups = (0..<8).map(group)
        var bestStart = -1, bestLength = 0, runStart = -1
        for i in 0...8 {
            if i < 8 && groups[i] == 0 {
                if runStart < 0 { runStart = i }
            } else if runStart >= 0 {
                if i - runStart > bestLength && i - runStart >= 2 {
                    bestStart = runStart
                    bestLength = i - runStart
                }
                runStart = -1
            }
        }
        func hex(_ range: Range<Int>) -> String { range.map { String(groups[$0], radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// Parses RFC 4291 2.2 text, including a trailing dotted quad (`::ffff:192.0.2.1`, form 3);
    /// returns nil on anything else.
    public init?(_ text: String) {
        var text = text
        if let dot = text.firstIndex(of: "."), let colon = text[..<dot].lastIndex(of: ":") {
            guard let embedded = IPv4Address(String(text[text.index(after: colon)...])) else { return nil }
            text =
                text[...colon] + String(embedded.rawValue >> 16, radix: 16) + ":"
                + String(embedded.rawValue & 0xFFFF, radix: 16)
        }
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            for part in s.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1...4).contains(part.count), part.allSatisfy(\.isHexDigit), let g = UInt16(part, radix: 16)
                else { return nil }
                out.append(g)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        high = all[0..<4].reduce(0) { $0 << 16 | UInt64($1) }
        low = all[4..<8].reduce(0) { $0 << 16 | UInt64($1) }
    }
}

/// The EtherType field of an Ethernet II header (and the protocol number the link layer hands
/// to the network layer).
public struct EtherType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    @inlinable public static var ipv4: EtherType { EtherType(rawValue: 0x0800) }
    @inlinable public static var arp: EtherType { EtherType(rawValue: 0x0806) }
    @inlinable public static var vlan: EtherType { EtherType(rawValue: 0x8100) }
    @inlinable public static var ipv6: EtherType { EtherType(rawValue: 0x86DD) }

    public var description: String {
        switch self {
        case .ipv4: "IPv4"
        case .arp: "ARP"
        case .vlan: "802.1Q"
        case .ipv6: "IPv6"
        default: "0x" + String(rawValue, radix: 16)
        }
    }
}
