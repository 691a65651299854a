// Decoding of rtnetlink replies. The bytes come from the kernel, but they are parsed as if
// hostile: every length is checked against the bytes that hold it before anything is read,
// every loop advances by at least one header, so a lie in a length field becomes a typed error.

/// One message of a netlink datagram, its payload still undecoded.
public struct NetlinkMessage: Sendable, Equatable {
    public let type: UInt16
    public let flags: UInt16
    public let sequence: UInt32
    public let portID: UInt32
    /// The bytes after the 16-byte header, up to `nlmsg_len`.
    public let payload: ArraySlice<UInt8>

    /// Splits a datagram into its messages. At most `limit` messages: each is at least 16
    /// bytes, so a datagram cannot hold more than count/16 of them anyway; the limit makes
    /// the bound explicit.
    public static func split(_ datagram: ArraySlice<UInt8>, limit: Int = 4096) throws(NetlinkError) -> [NetlinkMessage]
    {
        var messages: [NetlinkMessage] = []
        var offset = datagram.startIndex
        while offset < datagram.endIndex {
            guard messages.count < limit else { throw .malformedReply(.tooManyMessages(limit: limit)) }
            let available = datagram.endIndex - offset
            guard available >= netlinkHeaderSize else {
                throw .malformedReply(.truncated(needed: netlinkHeaderSize, available: available))
            }
            let length = Int(datagram.loadNative(UInt32.self, at: offset))
            guard length >= netlinkHeaderSize, length <= available else {
                throw .malformedReply(.badLength(field: "nlmsg_len", value: length, available: available))
            }
            messages.append(
                NetlinkMessage(
                    type: datagram.loadNative(UInt16.self, at: offset + 4),
                    flags: datagram.loadNative(UInt16.self, at: offset + 6),
                    sequence: datagram.loadNative(UInt32.self, at: offset + 8),
                    portID: datagram.loadNative(UInt32.self, at: offset + 12),
                    payload: datagram[(offset + netlinkHeaderSize)..<(offset + length)]))
            // The last message of a datagram may omit its alignment padding.
            offset += min(netlinkAligned(length), available)
        }
        return messages
    }
}

/// One attribute (`struct rtattr` / `struct nlattr`): its type without the NLA_F_NESTED and
/// NLA_F_NET_BYTEORDER flag bits, and its payload.
public struct NetlinkAttribute: Sendable, Equatable {
    public let type: UInt16
    public let payload: ArraySlice<UInt8>

    /// The flag bits the kernel may set in an attribute type (NLA_F_NESTED, NLA_F_NET_BYTEORDER).
    static let typeMask: UInt16 = 0x3FFF

    /// Splits a run of attributes. Each attribute is at least 4 bytes, so the loop ends within
    /// count/4 steps; `limit` bounds the result all the same.
    public static func split(_ bytes: ArraySlice<UInt8>, limit: Int = 1024) throws(NetlinkError) -> [NetlinkAttribute] {
        var attributes: [NetlinkAttribute] = []
        var offset = bytes.startIndex
        while offset < bytes.endIndex {
            guard attributes.count < limit else { throw .malformedReply(.tooManyMessages(limit: limit)) }
            let available = bytes.endIndex - offset
            guard available >= attributeHeaderSize else {
                throw .malformedReply(.truncated(needed: attributeHeaderSize, available: available))
            }
            let length = Int(bytes.loadNative(UInt16.self, at: offset))
            guard length >= attributeHeaderSize, length <= available else {
                throw .malformedReply(.badLength(field: "rta_len", value: length, available: available))
            }
            attributes.append(
                NetlinkAttribute(
                    type: bytes.loadNative(UInt16.self, at: offset + 2) & typeMask,
                    payload: bytes[(offset + attributeHeaderSize)..<(offset + length)]))
            offset += min(netlinkAligned(length), available)
        }
        return attributes
    }

    func uint32() throws(NetlinkError) -> UInt32 {
        guard payload.count == 4 else { throw .malformedReply(.badAttribute(type: type, length: payload.count)) }
        return payload.loadNative(UInt32.self, at: payload.startIndex)
    }

    /// A NUL-terminated string; bytes after the first NUL are ignored, a missing NUL is
    /// tolerated, invalid UTF-8 is repaired (names are for display and comparison only).
    func string() -> String {
        let end = payload.firstIndex(of: 0) ?? payload.endIndex
        return String(decoding: payload[payload.startIndex..<end], as: UTF8.self)
    }
}

extension ArraySlice<UInt8> {
    /// Reads a native-order integer at an absolute index. Callers check bounds first; the
    /// precondition is the last line of defence and cannot fire on a checked path.
    @inline(__always) func loadNative<T: FixedWidthInteger>(_: T.Type, at index: Int) -> T {
        precondition(index >= startIndex && index + MemoryLayout<T>.size <= endIndex)
        return withUnsafeBytes { $0.loadUnaligned(fromByteOffset: index - startIndex, as: T.self) }
    }
}
