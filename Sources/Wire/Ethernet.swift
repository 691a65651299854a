// Ethernet II (IEEE 802.3 with an EtherType), with at most one IEEE 802.1Q tag.
//
//   0      6      12         14
//   | dst  | src  | type     | payload            untagged
//   | dst  | src  | 8100 TCI | type | payload     tagged: TCI = PCP(3) DEI(1) VID(12)

/// A view over the bytes of an Ethernet II frame. One 802.1Q tag is skipped; `etherType` is the
/// type after it. Trailing bytes (padding, FCS if the device kept it) stay in `payload`: the
/// network layer's own length field says where its packet ends.
public struct EthernetFrame {
    @usableFromInline enum Field {
        @inlinable static var destination: Int { 0 }
        @inlinable static var source: Int { 6 }
        @inlinable static var etherType: Int { 12 }
        @inlinable static var vlanTCI: Int { 14 }
        @inlinable static var innerEtherType: Int { 16 }
    }

    /// The whole frame.
    public let bytes: UnsafeRawBufferPointer
    /// 14, or 18 with a VLAN tag.
    public let headerLength: Int

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 14 else { throw .truncated }
        if bytes.u16(Field.etherType) == EtherType.vlan.rawValue {
            guard bytes.count >= 18 else { throw .truncated }
            headerLength = 18
        } else {
            headerLength = 14
        }
        self.bytes = bytes
    }

    @inlinable public var destination: MACAddress { bytes.mac(Field.destination) }
    @inlinable public var source: MACAddress { bytes.mac(Field.source) }
    /// The EtherType of the payload (after the VLAN tag, when there is one).
    @inlinable public var etherType: EtherType {
        EtherType(rawValue: bytes.u16(headerLength == 18 ? Field.innerEtherType : Field.etherType))
    }
    /// The 802.1Q tag control information (PCP, DEI, VID), when tagged.
    @inlinable public var vlanTCI: UInt16? { headerLength == 18 ? bytes.u16(Field.vlanTCI) : nil }
    /// The 12-bit VLAN identifier, when tagged.
    @inlinable public var vlanID: UInt16? { vlanTCI.map { $0 & 0x0FFF } }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.suffix(from: headerLength) }
}

/// An Ethernet II header as values.
public struct EthernetRepr: Sendable, Hashable {
    public var destination: MACAddress
    public var source: MACAddress
    public var etherType: EtherType
    /// The VLAN identifier to tag with, or nil for an untagged frame.
    public var vlanID: UInt16?
    /// The priority code point and drop-eligible bit (top 4 bits of the TCI), kept so a tagged
    /// frame re-emits identically.
    public var vlanPriority: UInt8

    /// The length of an untagged header.
    @inlinable public static var headerLength: Int { 14 }

    @inlinable public init(
        destination: MACAddress, source: MACAddress, etherType: EtherType,
        vlanID: UInt16? = nil, vlanPriority: UInt8 = 0
    ) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
        self.vlanID = vlanID
        self.vlanPriority = vlanPriority
    }

    @inlinable public static func parse(_ frame: EthernetFrame) -> EthernetRepr {
        let tci = frame.vlanTCI
        return EthernetRepr(
            destination: frame.destination, source: frame.source, etherType: frame.etherType,
            vlanID: tci.map { $0 & 0x0FFF }, vlanPriority: tci.map { UInt8($0 >> 12) } ?? 0)
    }

    /// 14, or 18 with a VLAN tag.
    @inlinable public var headerLength: Int { vlanID == nil ? 14 : 18 }

    /// Writes the header into the first `headerLength` bytes of `buffer`.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= headerLength, "Ethernet header does not fit")
        buffer.putMAC(destination, at: EthernetFrame.Field.destination)
        buffer.putMAC(source, at: EthernetFrame.Field.source)
        if let vlanID {
            buffer.put16(EtherType.vlan.rawValue, at: EthernetFrame.Field.etherType)
            buffer.put16(UInt16(vlanPriority & 0xF) << 12 | vlanID & 0x0FFF, at: EthernetFrame.Field.vlanTCI)
            buffer.put16(etherType.rawValue, at: EthernetFrame.Field.innerEtherType)
        } else {
            buffer.put16(etherType.rawValue, at: EthernetFrame.Field.etherType)
        }
    }
}
