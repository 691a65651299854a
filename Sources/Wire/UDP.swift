// UDP (RFC 768; IPv6 rules from RFC 8200 section 8.1).
//
//   0 source port  2 destination port  4 length  6 checksum  8 payload

/// A view over a UDP datagram. The init checks the length field against the buffer: shorter
/// than 8 is `.badLength`, longer than the buffer is `.truncated`. Bytes past the length field
/// are not part of the datagram.
public struct UDPDatagram {
    public let bytes: UnsafeRawBufferPointer
    /// The length field: header plus payload.
    public let length: Int

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 8 else { throw .truncated }
        let length = Int(bytes.u16(4))
        guard length >= 8 else { throw .badLength }
        guard length <= bytes.count else { throw .truncated }
        self.bytes = bytes
        self.length = length
    }

    @inlinable public var sourcePort: UInt16 { bytes.u16(0) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(2) }
    @inlinable public var checksum: UInt16 { bytes.u16(6) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.slice(8, length - 8) }
    /// Header and payload: the bytes the checksum covers.
    @inlinable public var datagram: UnsafeRawBufferPointer { bytes.slice(0, length) }
}

/// A UDP header as values.
public struct UDPRepr: Sendable, Hashable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var payloadLength: Int

    @inlinable public static var headerLength: Int { 8 }

    @inlinable public init(sourcePort: UInt16, destinationPort: UInt16, payloadLength: Int) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.payloadLength = payloadLength
    }

    /// Validates a datagram. With a pseudo-header the checksum is verified: over IPv4 a zero
    /// checksum means "none was computed" and is accepted (RFC 768); over IPv6 it is not
    /// (RFC 8200 8.1: "IPv6 receivers must discard UDP packets containing a zero checksum").
    /// A zero destination port is `.malformed`.
    @inlinable public static func parse(_ datagram: UDPDatagram, checksum pseudoHeader: PseudoHeader?) throws(WireError)
        -> UDPRepr
    {
        guard datagram.destinationPort != 0 else { throw .malformed }
        if let pseudoHeader {
            let field = datagram.checksum
            if field == 0 {
                if case .v6 = pseudoHeader { throw .badChecksum }
            } else {
                var sum = pseudoHeader.checksum(protocolNumber: .udp, length: datagram.length)
                sum.add(datagram.datagram)
                guard sum.finalized == 0 else { throw .badChecksum }
            }
        }
        return UDPRepr(
            sourcePort: datagram.sourcePort, destinationPort: datagram.destinationPort,
            payloadLength: datagram.length - 8)
    }

    /// Writes the 8-byte header into the start of `header`; the checksum covers `payload`,
    /// which the caller sends right after the header (it is not copied).
    @inlinable public func emit(
        into header: UnsafeMutableRawBufferPointer, payload: UnsafeRawBufferPointer,
        pseudoHeader: PseudoHeader, checksum mode: ChecksumMode
    ) {
        precondition(header.count >= 8, "UDP header does not fit")
        precondition(payloadLength >= 0 && payloadLength <= 65535 - 8, "UDP payload too long")
        precondition(mode != .compute || payload.count == payloadLength, "UDP payload length mismatch")
        let length = 8 + payloadLength
        header.put16(sourcePort, at: 0)
        header.put16(destinationPort, at: 2)
        header.put16(UInt16(length), at: 4)
        header.put16(0, at: 6)
        switch mode {
        case .zero:
            break
        case .partial:
            header.put16(pseudoHeader.checksum(protocolNumber: .udp, length: length).folded, at: 6)
        case .compute:
            var sum = pseudoHeader.checksum(protocolNumber: .udp, length: length)
            sum.add(UnsafeRawBufferPointer(rebasing: header[0..<8]))
            sum.add(payload)
            // RFC 768: a computed zero is sent as all ones; zero means "no checksum".
            let value = sum.finalized
            header.put16(value == 0 ? 0xFFFF : value, at: 6)
        }
    }
}
