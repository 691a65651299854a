// IPv6 fixed header (RFC 8200 section 3).
//
//   0 version(4) traffic class(8) flow label(20)  4 payload length  6 next header  7 hop limit
//   8 source (16)  24 destination (16)  40 extension headers and upper-layer payload

/// A view over an IPv6 packet. The init checks version 6 and that the payload length fits the
/// buffer (an error, never clamped); bytes past it (link padding) are excluded from `payload`.
public struct IPv6Packet {
    @usableFromInline enum Field {
        @inlinable static var versionClassFlow: Int { 0 }
        @inlinable static var payloadLength: Int { 4 }
        @inlinable static var nextHeader: Int { 6 }
        @inlinable static var hopLimit: Int { 7 }
        @inlinable static var source: Int { 8 }
        @inlinable static var destination: Int { 24 }
    }

    @inlinable public static var headerLength: Int { 40 }

    public let bytes: UnsafeRawBufferPointer
    /// Bytes after the fixed header (extension headers included).
    public let payloadLength: Int

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 40 else { throw .truncated }
        guard bytes.u8(Field.versionClassFlow) >> 4 == 6 else { throw .badVersion }
        let payloadLength = Int(bytes.u16(Field.payloadLength))
        guard 40 + payloadLength <= bytes.count else { throw .truncated }
        self.bytes = bytes
        self.payloadLength = payloadLength
    }

    /// A view over the packet an ICMPv6 error quotes ("as much of invoking packet as possible
    /// without the ICMPv6 packet exceeding the minimum IPv6 MTU", RFC 4443 3.1): only the fixed
    /// header must fit; `payloadLength` is clamped to what was quoted.
    @inlinable public init(quoted bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 40 else { throw .truncated }
        guard bytes.u8(Field.versionClassFlow) >> 4 == 6 else { throw .badVersion }
        self.bytes = bytes
        self.payloadLength = Swift.min(Int(bytes.u16(Field.payloadLength)), bytes.count - 40)
    }

    /// The Payload Length field as sent, even where a quote cut the packet short.
    @inlinable public var statedPayloadLength: Int { Int(bytes.u16(Field.payloadLength)) }

    @inlinable public var trafficClass: UInt8 { UInt8(truncatingIfNeeded: bytes.u32(Field.versionClassFlow) >> 20) }
    @inlinable public var flowLabel: UInt32 { bytes.u32(Field.versionClassFlow) & 0xF_FFFF }
    /// The first header after the fixed header.
    @inlinable public var nextHeader: IPProtocol { IPProtocol(rawValue: bytes.u8(Field.nextHeader)) }
    @inlinable public var hopLimit: UInt8 { bytes.u8(Field.hopLimit) }
    @inlinable public var source: IPv6Address { bytes.ipv6(Field.source) }
    @inlinable public var destination: IPv6Address { bytes.ipv6(Field.destination) }
    @inlinable public var header: UnsafeRawBufferPointer { bytes.slice(0, 40) }
    /// Exactly `payloadLength` bytes: extension headers and upper-layer data.
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(40, payloadLength) }
}

/// An IPv6 fixed header as values.
public struct IPv6Repr: Sendable, Hashable {
    public var source: IPv6Address
    public var destination: IPv6Address
    /// The first header after the fixed header (an extension header or the upper layer).
    public var nextHeader: IPProtocol
    public var hopLimit: UInt8
    public var trafficClass: UInt8
    /// 20 bits.
    public var flowLabel: UInt32
    /// Bytes after the fixed header.
    public var payloadLength: Int

    @inlinable public static var headerLength: Int { 40 }

    @inlinable public init(
        source: IPv6Address, destination: IPv6Address, nextHeader: IPProtocol,
        hopLimit: UInt8 = 64, trafficClass: UInt8 = 0, flowLabel: UInt32 = 0, payloadLength: Int
    ) {
        self.source = source
        self.destination = destination
        self.nextHeader = nextHeader
        self.hopLimit = hopLimit
        self.trafficClass = trafficClass
        self.flowLabel = flowLabel
        self.payloadLength = payloadLength
    }

    /// Reads a packet. A multicast source is `.malformed` (RFC 4291 2.7: "Multicast addresses
    /// must not be used as source addresses in IPv6 packets").
    @inlinable public static func parse(_ packet: IPv6Packet) throws(WireError) -> IPv6Repr {
        let source = packet.source
        guard !source.isMulticast else { throw .malformed }
        return IPv6Repr(
            source: source, destination: packet.destination, nextHeader: packet.nextHeader,
            hopLimit: packet.hopLimit, trafficClass: packet.trafficClass,
            flowLabel: packet.flowLabel, payloadLength: packet.payloadLength)
    }

    /// Writes the 40-byte fixed header into the start of `buffer`.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= 40, "IPv6 header does not fit")
        precondition(payloadLength >= 0 && payloadLength <= 65535, "IPv6 payload too long")
        buffer.put32(6 << 28 | UInt32(trafficClass) << 20 | flowLabel & 0xF_FFFF, at: IPv6Packet.Field.versionClassFlow)
        buffer.put16(UInt16(payloadLength), at: IPv6Packet.Field.payloadLength)
        buffer.put8(nextHeader.rawValue, at: IPv6Packet.Field.nextHeader)
        buffer.put8(hopLimit, at: IPv6Packet.Field.hopLimit)
        buffer.putIPv6(source, at: IPv6Packet.Field.source)
        buffer.putIPv6(destination, at: IPv6Packet.Field.destination)
    }
}
