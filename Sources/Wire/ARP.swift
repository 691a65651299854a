// ARP (RFC 826) for IPv4 over Ethernet, the only combination the stack resolves.
//
//   0 htype(2) 2 ptype(2) 4 hlen 5 plen 6 oper(2) 8 sha(6) 14 spa(4) 18 tha(6) 24 tpa(4) 28

/// ARP operation codes (RFC 826).
public enum ARPOperation: UInt16, Sendable, Hashable {
    case request = 1
    case reply = 2
}

/// A view over an ARP packet's bytes. The fixed part (8 bytes) is checked at init; the address
/// fields are only read through `ARPRepr.parse`, which checks the Ethernet/IPv4 sizes.
public struct ARPPacket {
    @usableFromInline enum Field {
        @inlinable static var hardwareType: Int { 0 }
        @inlinable static var protocolType: Int { 2 }
        @inlinable static var hardwareLength: Int { 4 }
        @inlinable static var protocolLength: Int { 5 }
        @inlinable static var operation: Int { 6 }
        @inlinable static var senderHardwareAddress: Int { 8 }
        @inlinable static var senderProtocolAddress: Int { 14 }
        @inlinable static var targetHardwareAddress: Int { 18 }
        @inlinable static var targetProtocolAddress: Int { 24 }
    }

    public let bytes: UnsafeRawBufferPointer

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 8 else { throw .truncated }
        self.bytes = bytes
    }

    @inlinable public var hardwareType: UInt16 { bytes.u16(Field.hardwareType) }
    @inlinable public var protocolType: UInt16 { bytes.u16(Field.protocolType) }
    @inlinable public var hardwareLength: UInt8 { bytes.u8(Field.hardwareLength) }
    @inlinable public var protocolLength: UInt8 { bytes.u8(Field.protocolLength) }
    @inlinable public var operation: UInt16 { bytes.u16(Field.operation) }
}

/// An ARP packet for IPv4 over Ethernet, as values.
public struct ARPRepr: Sendable, Hashable {
    public var operation: ARPOperation
    public var senderHardwareAddress: MACAddress
    public var senderProtocolAddress: IPv4Address
    public var targetHardwareAddress: MACAddress
    public var targetProtocolAddress: IPv4Address

    /// Bytes of an Ethernet/IPv4 ARP packet.
    @inlinable public static var length: Int { 28 }

    @inlinable public init(
        operation: ARPOperation, senderHardwareAddress: MACAddress, senderProtocolAddress: IPv4Address,
        targetHardwareAddress: MACAddress, targetProtocolAddress: IPv4Address
    ) {
        self.operation = operation
        self.senderHardwareAddress = senderHardwareAddress
        self.senderProtocolAddress = senderProtocolAddress
        self.targetHardwareAddress = targetHardwareAddress
        self.targetProtocolAddress = targetProtocolAddress
    }

    /// Parses an ARP packet; anything but Ethernet (htype 1, hlen 6) / IPv4 (ptype 0x0800,
    /// plen 4) with operation request or reply is `.unsupported`.
    @inlinable public static func parse(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> ARPRepr {
        let packet = try ARPPacket(bytes)
        guard packet.hardwareType == 1, packet.protocolType == EtherType.ipv4.rawValue,
            packet.hardwareLength == 6, packet.protocolLength == 4
        else { throw .unsupported }
        guard bytes.count >= length else { throw .truncated }
        guard let operation = ARPOperation(rawValue: packet.operation) else { throw .unsupported }
        return ARPRepr(
            operation: operation,
            senderHardwareAddress: bytes.mac(ARPPacket.Field.senderHardwareAddress),
            senderProtocolAddress: bytes.ipv4(ARPPacket.Field.senderProtocolAddress),
            targetHardwareAddress: bytes.mac(ARPPacket.Field.targetHardwareAddress),
            targetProtocolAddress: bytes.ipv4(ARPPacket.Field.targetProtocolAddress))
    }

    /// Writes the 28-byte packet into the start of `buffer`.
    @inlinable public func emit(into buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= ARPRepr.length, "ARP packet does not fit")
        buffer.put16(1, at: ARPPacket.Field.hardwareType)
        buffer.put16(EtherType.ipv4.rawValue, at: ARPPacket.Field.protocolType)
        buffer.put8(6, at: ARPPacket.Field.hardwareLength)
        buffer.put8(4, at: ARPPacket.Field.protocolLength)
        buffer.put16(operation.rawValue, at: ARPPacket.Field.operation)
        buffer.putMAC(senderHardwareAddress, at: ARPPacket.Field.senderHardwareAddress)
        buffer.putIPv4(senderProtocolAddress, at: ARPPacket.Field.senderProtocolAddress)
        buffer.putMAC(targetHardwareAddress, at: ARPPacket.Field.targetHardwareAddress)
        buffer.putIPv4(targetProtocolAddress, at: ARPPacket.Field.targetProtocolAddress)
    }
}
