// DNS over TCP frames each message with a two-octet length (RFC 1035 4.2.2, RFC 7766 8).
// The framer collects stream bytes and hands out whole messages; it holds at most one
// maximum-size message, so a peer cannot make it buffer without end.

public enum DNSFramingError: Error, Sendable, Equatable {
    /// A zero length prefix (no DNS message is empty) or a message shorter than a header.
    case badLength(Int)
}

public struct DNSStreamFramer: Sendable {
    private var buffer: [UInt8] = []
    /// The longest message a two-octet length can announce, plus its prefix.
    public static let capacity = 2 + 65_535

    public init() {}

    public var bufferedByteCount: Int { buffer.count }

    /// Adds stream bytes and returns the messages now complete. Bytes beyond what fits wait
    /// in the caller (the TCP window) — `consumed` says how many were taken.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) throws(DNSFramingError) -> (
        messages: [[UInt8]], consumed: Int
    ) {
        var messages: [[UInt8]] = []
        var consumed = 0
        while consumed < bytes.count {
            let room = Self.capacity - buffer.count
            let take = min(room, bytes.count - consumed)
            guard take > 0 else { break }
            buffer += UnsafeRawBufferPointer(rebasing: bytes[consumed..<(consumed + take)])
            consumed += take
            while let message = try nextMessage() { messages.append(message) }
        }
        return (messages, consumed)
    }

    private mutating func nextMessage() throws(DNSFramingError) -> [UInt8]? {
        guard buffer.count >= 2 else { return nil }
        let length = Int(buffer[0]) << 8 | Int(buffer[1])
        guard length >= DNSHeader.length else { throw .badLength(length) }
        guard buffer.count >= 2 + length else { return nil }
        let message = Array(buffer[2..<(2 + length)])
        buffer.removeFirst(2 + length)
        return message
    }

    /// The bytes to send for `message`: its length, then the message. Nil if over 65535.
    public static func frame(_ message: UnsafeRawBufferPointer) -> [UInt8]? {
        guard message.count <= 65_535 else { return nil }
        return [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
    }
}
