// TCP header (RFC 9293 section 3.1).
//
//   0 source port  2 destination port  4 sequence number  8 acknowledgment number
//   12 data offset(4) reserved(4)  13 flags  14 window  16 checksum  18 urgent pointer
//   20 options (data offset * 4 - 20 bytes)  payload

/// The TCP control bits (RFC 9293 3.1, RFC 3168 for ECE/CWR).
public struct TCPFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable public static var fin: TCPFlags { TCPFlags(rawValue: 0x01) }
    @inlinable public static var syn: TCPFlags { TCPFlags(rawValue: 0x02) }
    @inlinable public static var rst: TCPFlags { TCPFlags(rawValue: 0x04) }
    @inlinable public static var psh: TCPFlags { TCPFlags(rawValue: 0x08) }
    @inlinable public static var ack: TCPFlags { TCPFlags(rawValue: 0x10) }
    @inlinable public static var urg: TCPFlags { TCPFlags(rawValue: 0x20) }
    @inlinable public static var ece: TCPFlags { TCPFlags(rawValue: 0x40) }
    @inlinable public static var cwr: TCPFlags { TCPFlags(rawValue: 0x80) }
}

/// A view over a TCP segment (header, options and payload: the whole IP payload). The init
/// checks data offset >= 5 and that the header fits the buffer.
public struct TCPSegment {
    @usableFromInline enum Field {
        @inlinable static var sourcePort: Int { 0 }
        @inlinable static var destinationPort: Int { 2 }
        @inlinable static var sequenceNumber: Int { 4 }
        @inlinable static var acknowledgmentNumber: Int { 8 }
        @inlinable static var dataOffset: Int { 12 }
        @inlinable static var flags: Int { 13 }
        @inlinable static var window: Int { 14 }
        @inlinable static var checksum: Int { 16 }
        @inlinable static var urgentPointer: Int { 18 }
    }

    public let bytes: UnsafeRawBufferPointer
    /// Data offset * 4: header with options.
    public let headerLength: Int

    @inlinable public init(_ bytes: UnsafeRawBufferPointer) throws(WireError) {
        guard bytes.count >= 20 else { throw .truncated }
        let headerLength = Int(bytes.u8(Field.dataOffset) >> 4) * 4
        guard headerLength >= 20 else { throw .badLength }
        guard headerLength <= bytes.count else { throw .truncated }
        self.bytes = bytes
        self.headerLength = headerLength
    }

    @inlinable public var sourcePort: UInt16 { bytes.u16(Field.sourcePort) }
    @inlinable public var destinationPort: UInt16 { bytes.u16(Field.destinationPort) }
    @inlinable public var sequenceNumber: SeqNumber { SeqNumber(bytes.u32(Field.sequenceNumber)) }
    @inlinable public var acknowledgmentNumber: SeqNumber { SeqNumber(bytes.u32(Field.acknowledgmentNumber)) }
    @inlinable public var flags: TCPFlags { TCPFlags(rawValue: bytes.u8(Field.flags)) }
    @inlinable public var window: UInt16 { bytes.u16(Field.window) }
    @inlinable public var checksum: UInt16 { bytes.u16(Field.checksum) }
    @inlinable public var urgentPointer: UInt16 { bytes.u16(Field.urgentPointer) }
    /// The raw option bytes (possibly empty).
    @inlinable public var options: UnsafeRawBufferPointer { bytes.slice(20, headerLength - 20) }
    @inlinable public var payload: UnsafeRawBufferPointer { bytes.suffix(from: headerLength) }

    /// True when the checksum over pseudo-header, header and payload verifies.
    @inlinable public func verifyChecksum(_ pseudoHeader: PseudoHeader) -> Bool {
        var sum = pseudoHeader.checksum(protocolNumber: .tcp, length: bytes.count)
        sum.add(bytes)
        return sum.finalized == 0
    }
}

/// A TCP header as values.
public struct TCPRepr: Sendable, Hashable {
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequenceNumber: SeqNumber
    public var acknowledgmentNumber: SeqNumber
    public var flags: TCPFlags
    /// The window field as sent: not scaled.
    public var window: UInt16
    public var urgentPointer: UInt16
    public var options: TCPOptions
    public var payloadLength: Int

    @inlinable public init(
        sourcePort: UInt16, destinationPort: UInt16, sequenceNumber: SeqNumber,
        acknowledgmentNumber: SeqNumber, flags: TCPFlags, window: UInt16,
        urgentPointer: UInt16 = 0, options: TCPOptions = TCPOptions(), payloadLength: Int
    ) {
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequenceNumber = sequenceNumber
        self.acknowledgmentNumber = acknowledgmentNumber
        self.flags = flags
        self.window = window
        self.urgentPointer = urgentPointer
        self.options = options
        self.payloadLength = payloadLength
    }

    /// Validates a segment: checksum (when a pseudo-header is given), non-zero ports, the
    /// option list. Unknown options are skipped; a bad option length is `.malformed`.
    @inlinable public static func parse(_ segment: TCPSegment, checksum pseudoHeader: PseudoHeader?) throws(WireError)
        -> TCPRepr
    {
        if let pseudoHeader, !segment.verifyChecksum(pseudoHeader) { throw .badChecksum }
        let sourcePort = segment.sourcePort, destinationPort = segment.destinationPort
        guard sourcePort != 0, destinationPort != 0 else { throw .malformed }
        let options = segment.headerLength > 20 ? try TCPOptions.parse(segment.options) : TCPOptions()
        return TCPRepr(
            sourcePort: sourcePort, destinationPort: destinationPort,
            sequenceNumber: segment.sequenceNumber, acknowledgmentNumber: segment.acknowledgmentNumber,
            flags: segment.flags, window: segment.window, urgentPointer: segment.urgentPointer,
            options: options, payloadLength: segment.bytes.count - segment.headerLength)
    }

    /// 20 plus the options, a multiple of 4.
    @inlinable public var headerLength: Int { 20 + options.encodedLength }

    /// The bytes this segment occupies in sequence space (payload, plus one each for SYN and
    /// FIN: RFC 9293 3.4 "SEG.LEN").
    @inlinable public var sequenceLength: Int {
        payloadLength + (flags.contains(.syn) ? 1 : 0) + (flags.contains(.fin) ? 1 : 0)
    }

    /// Writes header and options into the start of `header` and fills the checksum per `mode`
    /// over `payload`, which the caller sends right after the header (it is not copied).
    @inlinable public func emit(
        into header: UnsafeMutableRawBufferPointer, payload: UnsafeRawBufferPointer,
        pseudoHeader: PseudoHeader, checksum mode: ChecksumMode
    ) {
        let headerLength = self.headerLength
        precondition(header.count >= headerLength, "TCP header does not fit")
        precondition(mode != .compute || payload.count == payloadLength, "TCP payload length mismatch")
        header.put16(sourcePort, at: TCPSegment.Field.sourcePort)
        header.put16(destinationPort, at: TCPSegment.Field.destinationPort)
        header.put32(sequenceNumber.rawValue, at: TCPSegment.Field.sequenceNumber)
        header.put32(acknowledgmentNumber.rawValue, at: TCPSegment.Field.acknowledgmentNumber)
        header.put8(UInt8(headerLength / 4) << 4, at: TCPSegment.Field.dataOffset)
        header.put8(flags.rawValue, at: TCPSegment.Field.flags)
        header.put16(window, at: TCPSegment.Field.window)
        header.put16(0, at: TCPSegment.Field.checksum)
        header.put16(urgentPointer, at: TCPSegment.Field.urgentPointer)
        if headerLength > 20 {
            options.emit(into: UnsafeMutableRawBufferPointer(rebasing: header[20..<headerLength]))
        }
        let segmentLength = headerLength + payloadLength
        switch mode {
        case .zero:
            break
        case .partial:
            header.put16(
                pseudoHeader.checksum(protocolNumber: .tcp, length: segmentLength).folded,
                at: TCPSegment.Field.checksum)
        case .compute:
            var sum = pseudoHeader.checksum(protocolNumber: .tcp, length: segmentLength)
            sum.add(UnsafeRawBufferPointer(rebasing: header[0..<headerLength]))
            sum.add(payload)
            header.put16(sum.finalized, at: TCPSegment.Field.checksum)
        }
    }
}
