// IPv4 (RFC 791).
//
//   0 ver|IHL  1 DSCP|ECN  2 total length  4 identification  6 flags|fragment offset
//   8 TTL  9 protocol  10 header checksum  12 source  16 destination  20 options...

/// A view over an IPv4 packet. The init checks everything the accessors rely on: version 4,
/// IHL >= 5, header and total length within the buffer, total length >= header length. A length
/// that disagrees with the buffer is an error, never clamped; bytes past the total length (link
/// padding) are excluded from `payload`.
public struct IPv4Packet {
    @usableFromInline enum Field {
        @inlinable static var versionAndIHL: Int { 0 }
        @inlinable static var dscpECN: Int { 1 }
        @inlinable static var totalLength: Int { 2 }
        @inlinable static var identification: Int { 4 }
        @inlinable static var flagsAndFragmentOffset: Int { 6 }
        @inlinable static var ttl: Int { 8 }
        @inlinable static var protocolNumber: Int { 9 }
        @inlinable static var checksum: Int { 10 }
        @inlinable static var source: Int { 12 }
        @inlinable static var destination: Int { 16 }
    }

    /// The buffer the packet was read from (may extend past `totalLength`).
    public let bytes: UnsafeRawBufferPointer
    public let headerLength: Int
    public let totalLength: Int

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        let headerLength = try Self.checkedHeaderLength(bytes)
        let totalLength = Int(bytes.u16(Field.totalLength))
        guard totalLength >= headerLength else { throw .badLength }
        guard totalLength <= bytes.count else { throw .truncated }
        self.bytes = bytes
        self.headerLength = headerLength
        self.totalLength = totalLength
    }

    /// A view over the datagram an ICMP error quotes (RFC 792: the IP header plus at least 8
    /// bytes; RFC 1812 4.3.2.3 allows more). The quote is usually cut short of its total length,
    /// so only the header must fit; `totalLength` is clamped to the quote and `payload` is what
    /// of the rest was quoted.
    @inlinable public init(quoted bytes: UnsafeRawBufferPointer) throws(WireError) {
        let headerLength = try Self.checkedHeaderLength(bytes)
        guard headerLength <= bytes.count else { throw .truncated }
        let totalLength = Int(bytes.u16(Field.totalLength))
        guard totalLength >= headerLength else { throw .badLength }
        self.bytes = bytes
        self.headerLength = headerLength
        self.totalLength = Swift.min(totalLength, bytes.count)
    }

    /// The Total Length field as sent: the size of the whole datagram, even where a quote cut
    /// it short (`totalLength` is clamped to the bytes at hand).
    @inlinable public var statedTotalLength: Int { Int(bytes.u16(Field.totalLength)) }

    /// What both views check first: a fixed header's worth of bytes, version 4, and an IHL of
    /// at least 5 words. Returns the header length in bytes (not yet checked against the buffer).
    @inlinable @inline(__always)
    static func checkedHeaderLength(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Int {
        guard bytes.count >= 20 else { throw .truncated }
        let versionAndIHL = bytes.u8(Field.versionAndIHL)
        guard versionAndIHL >> 4 == 4 else { throw .badVersion }
        let headerLength = Int(versionAndIHL & 0x0F) * 4
        guard headerLength >= 20 else { throw .badLength }
        return headerLength
    }

    @inlinable public var dscpECN: UInt8 { bytes.u8(Field.dscpECN) }
    @inlinable public var identification: UInt16 { bytes.u16(Field.identification) }
    @inlinable var flagsAndFragmentOffset: UInt16 { bytes.u16(Field.flagsAndFragmentOffset) }
    /// DF (RFC 791: "Don't Fragment").
    @inlinable public var dontFragment: Bool { flagsAndFragmentOffset & 0x4000 != 0 }
    /// MF (RFC 791: "More Fragments").
    @inlinable public var moreFragments: Bool { flagsAndFragmentOffset & 0x2000 != 0 }
    /// The fragment offset in bytes (the field counts 8-byte units).
    @inlinable public var fragmentOffset: Int { Int(flagsAndFragmentOffset & 0x1FFF) * 8 }
    @inlinable public var ttl: UInt8 { bytes.u8(Field.ttl) }
    @inlinable public var protocolNumber: IPProtocol { IPProtocol(rawValue: bytes.u8(Field.protocolNumber)) }
    @inlinable public var checksum: UInt16 { bytes.u16(Field.checksum) }
    @inlinable public var source: IPv4Address { bytes.ipv4(Field.source) }
    @inlinable public var destination: IPv4Address { bytes.ipv4(Field.destination) }
    /// The option bytes between the fixed header and the payload (possibly empty).
    @inlinable public var options: UnsafeRawBufferPointer { bytes.slice(20, headerLength - 20) }
    /// Exactly `totalLength - headerLength` bytes.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(headerLength, totalLength - headerLength) }
    /// The header including options.
    @inlinable public var header: UnsafeRawBufferPointer { bytes.slice(0, headerLength) }

    /// True when the header checksum verifies (the sum over the header is all ones).
    @inlinable public func verifyChecksum() -> Bool {
        InternetChecksum.checksum(header) == 0
    }
}

/// An IPv4 header as values. Options are not represented: `emit` writes a 20-byte header.
public struct IPv4Repr: Sendable, Hashable {
    public var source: IPv4Address
    public var destination: IPv4Address
    public var protocolNumber: IPProtocol
    /// Bytes after the header.
    public var payloadLength: Int
    public var ttl: UInt8
    public var dscpECN: UInt8
    public var identification: UInt16
    public var dontFragment: Bool
    public var moreFragments: Bool
    /// In bytes; a multiple of 8.
    public var fragmentOffset: Int

    /// The length of the header `emit` writes.
    @inlinable public static var headerLength: Int { 20 }

    @inlinable public init(
        source: IPv4Address, destination: IPv4Address, protocolNumber: IPProtocol,
        payloadLength: Int, ttl: UInt8 = 64, dscpECN: UInt8 = 0, identification: UInt16 = 0,
        dontFragment: Bool = true, moreFragments: Bool = false, fragmentOffset: Int = 0
    ) {
        self.source = source
        self.destination = destination
        self.protocolNumber = protocolNumber
        self.payloadLength = payloadLength
        self.ttl = ttl
        self.dscpECN = dscpECN
        self.identification = identification
        self.dontFragment = dontFragment
        self.moreFragments = moreFragments
        self.fragmentOffset = fragmentOffset
    }

    /// Validates and reads a packet. A fragment reaching past 65535 bytes of datagram (RFC 791
    /// limit; the "ping of death") is `.malformed`.
    @inlinable public static func parse(_ packet: IPv4Packet, verifyChecksum: Bool) throws(WireError) -> IPv4Repr {
        if verifyChecksum && !packet.verifyChecksum() { throw .badChecksum }
        let payloadLength = packet.totalLength - packet.headerLength
        let fragmentOffset = packet.fragmentOffset
        guard fragmentOffset + payloadLength <= 65535 else { throw .malformed }
        return IPv4Repr(
            source: packet.source, destination: packet.destination, protocolNumber: packet.protocolNumber,
            payloadLength: payloadLength, ttl: packet.ttl, dscpECN: packet.dscpECN,
            identification: packet.identification, dontFragment: packet.dontFragment,
            moreFragments: packet.moreFragments, fragmentOffset: fragmentOffset)
    }

    /// Writes the 20-byte header, checksum filled, into the start of `buffer`.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= 20, "IPv4 header does not fit")
        precondition(payloadLength >= 0 && payloadLength <= 65535 - 20, "IPv4 payload too long")
        precondition(
            fragmentOffset >= 0 && fragmentOffset & 7 == 0 && fragmentOffset <= 0x1FFF * 8, "bad fragment offset")
        buffer.put8(0x45, at: IPv4Packet.Field.versionAndIHL)
        buffer.put8(dscpECN, at: IPv4Packet.Field.dscpECN)
        buffer.put16(UInt16(20 + payloadLength), at: IPv4Packet.Field.totalLength)
        buffer.put16(identification, at: IPv4Packet.Field.identification)
        var flags = UInt16(fragmentOffset / 8)
        if dontFragment { flags |= 0x4000 }
        if moreFragments { flags |= 0x2000 }
        buffer.put16(flags, at: IPv4Packet.Field.flagsAndFragmentOffset)
        buffer.put8(ttl, at: IPv4Packet.Field.ttl)
        buffer.put8(protocolNumber.rawValue, at: IPv4Packet.Field.protocolNumber)
        buffer.put16(0, at: IPv4Packet.Field.checksum)
        buffer.putIPv4(source, at: IPv4Packet.Field.source)
        buffer.putIPv4(destination, at: IPv4Packet.Field.destination)
        let checksum = InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: buffer[0..<20]))
        buffer.put16(checksum, at: IPv4Packet.Field.checksum)
    }
}
