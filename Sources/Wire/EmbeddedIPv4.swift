// IPv6 addresses that carry an IPv4 address in their low 32 bits. A gateway that judges a
// destination by its IPv6 form alone would let `::ffff:127.0.0.1` past a rule about
// 127.0.0.0/8, so the policy asks these first.

extension IPv6Address {
    /// The low 32 bits, where every embedding below keeps the IPv4 address.
    private var low32: IPv4Address { IPv4Address(rawValue: UInt32(truncatingIfNeeded: low)) }

    /// `::ffff:a.b.c.d` (RFC 4291 2.5.5.2): what a dual-stack host socket reaches as IPv4.
    public var ipv4Mapped: IPv4Address? {
        high == 0 && low >> 32 == 0xFFFF ? low32 : nil
    }

    /// `::a.b.c.d` (RFC 4291 2.5.5.1, deprecated), not `::` or `::1`.
    public var ipv4Compatible: IPv4Address? {
        high == 0 && low >> 32 == 0 && low > 1 ? low32 : nil
    }

    /// `64:ff9b::a.b.c.d`, the NAT64 well-known prefix (RFC 6052 2.1): a NAT64 on the path
    /// turns it into that IPv4 address.
    public var nat64WellKnown: IPv4Address? {
        high == 0x0064_FF9B_0000_0000 && low >> 32 == 0 ? low32 : nil
    }

    /// `64:ff9b:1::/48`, the local-use NAT64 prefix (RFC 8215): where its IPv4 address sits
    /// depends on the operator's prefix length, so it cannot be read back reliably.
    public var isNAT64LocalUse: Bool { high >> 16 == 0x0064_FF9B_0001 }
}
