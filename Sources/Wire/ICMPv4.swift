// ICMP for IPv4 (RFC 792, RFC 1191 for the next-hop MTU).
//
//   0 type  1 code  2 checksum  4 rest of header (4)  8 data
//   echo:            4 identifier  6 sequence           data = echo payload
//   unreachable:     4 unused      6 next-hop MTU       data = quoted IP header + 8 bytes
//   time exceeded:   4 unused                           data = quoted IP header + 8 bytes

/// Destination Unreachable codes (RFC 792, RFC 1122 3.2.2.1, RFC 1812 5.2.7.1).
public struct ICMPv4UnreachableCode: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable public static var networkUnreachable: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 0) }
    @inlinable public static var hostUnreachable: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 1) }
    @inlinable public static var protocolUnreachable: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 2) }
    @inlinable public static var portUnreachable: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 3) }
    @inlinable public static var fragmentationNeeded: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 4) }
    @inlinable public static var sourceRouteFailed: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 5) }
    @inlinable public static var destinationNetworkUnknown: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 6) }
    @inlinable public static var destinationHostUnknown: ICMPv4UnreachableCode { ICMPv4UnreachableCode(rawValue: 7) }
    @inlinable public static var networkAdministrativelyProhibited: ICMPv4UnreachableCode {
        ICMPv4UnreachableCode(rawValue: 9)
    }
    @inlinable public static var hostAdministrativelyProhibited: ICMPv4UnreachableCode {
        ICMPv4UnreachableCode(rawValue: 10)
    }
    @inlinable public static var communicationAdministrativelyProhibited: ICMPv4UnreachableCode {
        ICMPv4UnreachableCode(rawValue: 13)
    }
}

/// ICMPv4 message types this module names.
public enum ICMPv4Type {
    @inlinable public static var echoReply: UInt8 { 0 }
    @inlinable public static var destinationUnreachable: UInt8 { 3 }
    @inlinable public static var echoRequest: UInt8 { 8 }
    @inlinable public static var timeExceeded: UInt8 { 11 }
}

/// An ICMPv4 message header as values; the message body travels beside it as `data`.
public enum ICMPv4Repr: Sendable, Hashable {
    case echoRequest(identifier: UInt16, sequence: UInt16)
    case echoReply(identifier: UInt16, sequence: UInt16)
    /// `nextHopMTU` is meaningful for `.fragmentationNeeded` (RFC 1191) and zero otherwise.
    case destinationUnreachable(code: ICMPv4UnreachableCode, nextHopMTU: UInt16)
    /// Code 0: TTL exceeded in transit; 1: fragment reassembly time exceeded.
    case timeExceeded(code: UInt8)
    /// Any other type. Its 4-byte "rest of header" is opaque and stays at the front of `data`,
    /// so `headerLength` is 4 for this case.
    case other(type: UInt8, code: UInt8)

    /// Parses a message and returns its body: the echo payload, or the quoted datagram of an
    /// error, or (for `.other`) everything after the checksum.
    @inlinable public static func parse(_ bytes: UnsafeRawBufferPointer, verifyChecksum: Bool)
        throws(WireError) -> (repr: ICMPv4Repr, data: UnsafeRawBufferPointer)
    {
        guard bytes.count >= 8 else { throw .truncated }
        if verifyChecksum && InternetChecksum.checksum(bytes) != 0 { throw .badChecksum }
        let type = bytes.u8(0), code = bytes.u8(1)
        let body = bytes.suffix(from: 8)
        switch type {
        case ICMPv4Type.echoRequest where code == 0:
            return (.echoRequest(identifier: bytes.u16(4), sequence: bytes.u16(6)), body)
        case ICMPv4Type.echoReply where code == 0:
            return (.echoReply(identifier: bytes.u16(4), sequence: bytes.u16(6)), body)
        case ICMPv4Type.destinationUnreachable:
            return (
                .destinationUnreachable(code: ICMPv4UnreachableCode(rawValue: code), nextHopMTU: bytes.u16(6)), body
            )
        case ICMPv4Type.timeExceeded:
            return (.timeExceeded(code: code), body)
        default:
            return (.other(type: type, code: code), bytes.suffix(from: 4))
        }
    }

    /// 8, or 4 for `.other` (whose rest of header is part of its data).
    @inlinable public var headerLength: Int {
        if case .other = self { return 4 }
        return 8
    }

    /// Writes the header into the start of `header` and fills the checksum over header and
    /// `data` (which the caller sends right after the header; it is not copied).
    @inlinable public func emit(into header: UnsafeMutableRawBufferPointer, data: UnsafeRawBufferPointer) {
        precondition(header.count >= headerLength, "ICMPv4 header does not fit")
        let type: UInt8, code: UInt8, rest: UInt32
        switch self {
        case let .echoRequest(identifier, sequence):
            (type, code, rest) = (ICMPv4Type.echoRequest, 0, UInt32(identifier) << 16 | UInt32(sequence))
        case let .echoReply(identifier, sequence):
            (type, code, rest) = (ICMPv4Type.echoReply, 0, UInt32(identifier) << 16 | UInt32(sequence))
        case let .destinationUnreachable(unreachable, mtu):
            (type, code, rest) = (ICMPv4Type.destinationUnreachable, unreachable.rawValue, UInt32(mtu))
        case let .timeExceeded(exceeded):
            (type, code, rest) = (ICMPv4Type.timeExceeded, exceeded, 0)
        case let .other(otherType, otherCode):
            (type, code, rest) = (otherType, otherCode, 0)
        }
        header.put8(type, at: 0)
        header.put8(code, at: 1)
        header.put16(0, at: 2)
        if headerLength == 8 { header.put32(rest, at: 4) }
        var sum = InternetChecksum()
        sum.add(UnsafeRawBufferPointer(rebasing: header[0..<headerLength]))
        sum.add(data)
        header.put16(sum.finalized, at: 2)
    }
}
