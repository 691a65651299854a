// ICMPv6 (RFC 4443) and, through NDPRepr, Neighbor Discovery (RFC 4861).
//
//   0 type  1 code  2 checksum (over the IPv6 pseudo-header too)  4 message body
//   echo:              4 identifier  6 sequence          data = echo payload
//   errors (1, 3):     4 unused                          data = as much of the invoking packet as fits
//   packet too big:    4 MTU                             data = invoking packet
//   parameter problem: 4 pointer                         data = invoking packet

/// Destination Unreachable codes (RFC 4443 3.1).
public struct ICMPv6UnreachableCode: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }

    @inlinable public static var noRoute: ICMPv6UnreachableCode { ICMPv6UnreachableCode(rawValue: 0) }
    @inlinable public static var administrativelyProhibited: ICMPv6UnreachableCode {
        ICMPv6UnreachableCode(rawValue: 1)
    }
    @inlinable public static var beyondScope: ICMPv6UnreachableCode { ICMPv6UnreachableCode(rawValue: 2) }
    @inlinable public static var addressUnreachable: ICMPv6UnreachableCode { ICMPv6UnreachableCode(rawValue: 3) }
    @inlinable public static var portUnreachable: ICMPv6UnreachableCode { ICMPv6UnreachableCode(rawValue: 4) }
    @inlinable public static var sourcePolicyFailed: ICMPv6UnreachableCode { ICMPv6UnreachableCode(rawValue: 5) }
    @inlinable public static var rejectRoute: ICMPv6UnreachableCode { ICMPv6UnreachableCode(rawValue: 6) }
}

/// ICMPv6 message types this module names.
public enum ICMPv6Type {
    @inlinable public static var destinationUnreachable: UInt8 { 1 }
    @inlinable public static var packetTooBig: UInt8 { 2 }
    @inlinable public static var timeExceeded: UInt8 { 3 }
    @inlinable public static var parameterProblem: UInt8 { 4 }
    @inlinable public static var echoRequest: UInt8 { 128 }
    @inlinable public static var echoReply: UInt8 { 129 }
}

/// An ICMPv6 message as values; the body travels beside it as `data` (empty for NDP, whose
/// options are part of the repr).
public enum ICMPv6Repr: Sendable, Hashable {
    case echoRequest(identifier: UInt16, sequence: UInt16)
    case echoReply(identifier: UInt16, sequence: UInt16)
    case destinationUnreachable(code: ICMPv6UnreachableCode)
    case packetTooBig(mtu: UInt32)
    /// Code 0: hop limit exceeded in transit; 1: fragment reassembly time exceeded.
    case timeExceeded(code: UInt8)
    case parameterProblem(code: UInt8, pointer: UInt32)
    case ndp(NDPRepr)
    /// Any other type (MLD, redirect, ...). Its body is opaque and is all of `data`, from offset 4,
    /// so `headerLength` is 4 for this case.
    case other(type: UInt8, code: UInt8)

    /// Parses a message. With `verifyChecksum` the checksum is checked over the pseudo-header
    /// of `source` and `destination` (RFC 4443 2.3) and the whole message.
    @inlinable public static func parse(
        _ bytes: UnsafeRawBufferPointer, source: IPv6Address, destination: IPv6Address,
        verifyChecksum: Bool
    ) throws(WireError) -> (repr: ICMPv6Repr, data: UnsafeRawBufferPointer) {
        guard bytes.count >= 4 else { throw .truncated }
        if verifyChecksum {
            var sum = InternetChecksum()
            sum.addPseudoHeader(source: source, destination: destination, protocolNumber: .icmpv6, length: bytes.count)
            sum.add(bytes)
            guard sum.finalized == 0 else { throw .badChecksum }
        }
        let type = bytes.u8(0), code = bytes.u8(1)
        if let ndp = try NDPRepr.parse(bytes) {
            return (.ndp(ndp), bytes.slice(bytes.count, 0))
        }
        switch type {
        case ICMPv6Type.echoRequest, ICMPv6Type.echoReply, ICMPv6Type.destinationUnreachable,
            ICMPv6Type.packetTooBig, ICMPv6Type.timeExceeded, ICMPv6Type.parameterProblem:
            guard bytes.count >= 8 else { throw .truncated }
        default:
            return (.other(type: type, code: code), bytes.suffix(from: 4))
        }
        let body = bytes.suffix(from: 8)
        switch type {
        case ICMPv6Type.echoRequest where code == 0:
            return (.echoRequest(identifier: bytes.u16(4), sequence: bytes.u16(6)), body)
        case ICMPv6Type.echoReply where code == 0:
            return (.echoReply(identifier: bytes.u16(4), sequence: bytes.u16(6)), body)
        case ICMPv6Type.destinationUnreachable:
            return (.destinationUnreachable(code: ICMPv6UnreachableCode(rawValue: code)), body)
        case ICMPv6Type.packetTooBig:
            return (.packetTooBig(mtu: bytes.u32(4)), body)
        case ICMPv6Type.timeExceeded:
            return (.timeExceeded(code: code), body)
        case ICMPv6Type.parameterProblem:
            return (.parameterProblem(code: code, pointer: bytes.u32(4)), body)
        default:
            return (.other(type: type, code: code), bytes.suffix(from: 4))
        }
    }

    /// Bytes `emit` writes: 8; the whole message for NDP; 4 for `.other`.
    @inlinable public var headerLength: Int {
        switch self {
        case let .ndp(ndp): ndp.length
        case .other: 4
        default: 8
        }
    }

    /// Writes the header (the whole message for NDP) into the start of `header` and fills the
    /// checksum over pseudo-header, header and `data`, which the caller sends right after the
    /// header (it is not copied).
    @inlinable public func emit(
        into header: UnsafeMutableRawBufferPointer, data: UnsafeRawBufferPointer,
        source: IPv6Address, destination: IPv6Address
    ) {
        let headerLength = self.headerLength
        precondition(header.count >= headerLength, "ICMPv6 header does not fit")
        switch self {
        case let .ndp(ndp):
            ndp.emit(into: header)
        default:
            let type: UInt8, code: UInt8, rest: UInt32
            switch self {
            case let .echoRequest(identifier, sequence):
                (type, code, rest) = (ICMPv6Type.echoRequest, 0, UInt32(identifier) << 16 | UInt32(sequence))
            case let .echoReply(identifier, sequence):
                (type, code, rest) = (ICMPv6Type.echoReply, 0, UInt32(identifier) << 16 | UInt32(sequence))
            case let .destinationUnreachable(unreachable):
                (type, code, rest) = (ICMPv6Type.destinationUnreachable, unreachable.rawValue, 0)
            case let .packetTooBig(mtu):
                (type, code, rest) = (ICMPv6Type.packetTooBig, 0, mtu)
            case let .timeExceeded(exceeded):
                (type, code, rest) = (ICMPv6Type.timeExceeded, exceeded, 0)
            case let .parameterProblem(problem, pointer):
                (type, code, rest) = (ICMPv6Type.parameterProblem, problem, pointer)
            case let .other(otherType, otherCode):
                (type, code, rest) = (otherType, otherCode, 0)
            case .ndp:
                preconditionFailure("handled above")
            }
            header.put8(type, at: 0)
            header.put8(code, at: 1)
            header.put16(0, at: 2)
            if headerLength == 8 { header.put32(rest, at: 4) }
        }
        var sum = InternetChecksum()
        sum.addPseudoHeader(
            source: source, destination: destination, protocolNumber: .icmpv6,
            length: headerLength + data.count)
        sum.add(UnsafeRawBufferPointer(rebasing: header[0..<headerLength]))
        sum.add(data)
        header.put16(sum.finalized, at: 2)
    }
}
