// A DNS message parser (RFC 1035 4.1) for bytes from anyone: the app's queries and the
// upstream's answers. It reads the header, the questions and the answer section (A, AAAA and
// CNAME understood, other types skipped by their length), never reads outside the buffer and
// cannot loop: compression pointers must point strictly backwards and are counted.

import Wire

public enum DNSParseError: Error, Sendable, Equatable {
    /// The message ends inside a header, name or record.
    case truncated
    /// A label length byte uses the reserved 0x40/0x80 prefixes (RFC 1035 4.1.4, RFC 6891 5).
    case badLabelType
    /// A compression pointer points forward or at itself, or too many pointers in one name.
    case badPointer
    /// A name longer than 255 octets (RFC 1035 2.3.4).
    case nameTooLong
    /// An A/AAAA/CNAME whose RDATA length does not fit its type.
    case badRecordData
    /// More questions or answers than `DNSMessage.maxRecords`.
    case tooManyRecords
}

/// A domain name as lowercase labels (RFC 4343: DNS names compare case-insensitively).
/// Label bytes outside printable ASCII, and dots inside a label, are kept as `\DDD` so
/// the text form is unambiguous and one label can never pass for two.
public struct DNSName: Hashable, Sendable, CustomStringConvertible {
    public let labels: [String]

    public init(labels: [String]) { self.labels = labels }

    /// Parses text like `www.Example.com.`; nil for empty labels or labels over 63 bytes.
    public init?(_ text: String) {
        var trimmed = Substring(text)
        if trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        if trimmed.isEmpty {
            labels = []
            return
        }
        var out: [String] = []
        for label in trimmed.split(separator: ".", omittingEmptySubsequences: false) {
            guard (1...63).contains(label.utf8.count), label.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                return nil
            }
            out.append(label.lowercased())
        }
        guard out.reduce(1, { $0 + $1.utf8.count + 1 }) <= 255 else { return nil }
        labels = out
    }

    public var description: String { labels.isEmpty ? "." : labels.joined(separator: ".") }

    /// True when `self` is `domain` or a name below it (`api.example.com` is within `example.com`).
    public func isWithin(_ domain: DNSName) -> Bool {
        labels.count >= domain.labels.count && labels.suffix(domain.labels.count).elementsEqual(domain.labels)
    }

    static func label(_ bytes: UnsafeRawBufferPointer) -> String {
        var text = ""
        text.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                text.unicodeScalars.append(Unicode.Scalar(byte + 32))
            case 0x21...0x7E where byte != UInt8(ascii: ".") && byte != UInt8(ascii: "\\"):
                text.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let digits = String(byte)
                text += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
            }
        }
        return text
    }
}

public struct DNSRecordType: RawRepresentable, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let a = DNSRecordType(rawValue: 1)
    public static let cname = DNSRecordType(rawValue: 5)
    public static let aaaa = DNSRecordType(rawValue: 28)
}

public struct DNSHeader: Sendable, Equatable {
    public static let length = 12
    public var id: UInt16
    public var flags: UInt16
    public var questionCount: UInt16
    public var answerCount: UInt16
    public var authorityCount: UInt16
    public var additionalCount: UInt16

    public init(
        id: UInt16, flags: UInt16, questionCount: UInt16, answerCount: UInt16,
        authorityCount: UInt16, additionalCount: UInt16
    ) {
        self.id = id
        self.flags = flags
        self.questionCount = questionCount
        self.answerCount = answerCount
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
    }

    public var isResponse: Bool { flags & 0x8000 != 0 }
    public var opcode: UInt8 { UInt8(truncatingIfNeeded: flags >> 11) & 0xF }
    public var isTruncated: Bool { flags & 0x0200 != 0 }
    public var responseCode: UInt8 { UInt8(truncatingIfNeeded: flags) & 0xF }
}

public struct DNSQuestion: Sendable, Equatable {
    public var name: DNSName
    public var type: DNSRecordType
    public var recordClass: UInt16

    public init(name: DNSName, type: DNSRecordType, recordClass: UInt16) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
    }
}

public struct DNSRecord: Sendable, Equatable {
    public enum Data: Sendable, Equatable {
        case a(IPv4Address)
        case aaaa(IPv6Address)
        case cname(DNSName)
        /// A type this parser does not interpret; its RDATA was skipped.
        case other
    }

    public var name: DNSName
    public var type: DNSRecordType
    public var recordClass: UInt16
    /// Seconds; RFC 2181 8: a TTL with the top bit set is treated as zero.
    public var ttl: UInt32
    public var data: Data

    public init(name: DNSName, type: DNSRecordType, recordClass: UInt16, ttl: UInt32, data: Data) {
        self.name = name
        self.type = type
        self.recordClass = recordClass
        self.ttl = ttl
        self.data = data
    }
}

public struct DNSMessage: Sendable, Equatable {
    /// Bound on questions plus answers kept from one message.
    public static let maxRecords = 512
    /// Bound on compression pointers followed for one name.
    public static let maxPointerHops = 64

    public var header: DNSHeader
    public var questions: [DNSQuestion]
    /// The answer section (authority and additional records are not read).
    public var answers: [DNSRecord]

    public static func parse(_ bytes: UnsafeRawBufferPointer) throws(DNSParseError) -> DNSMessage {
        var reader = Reader(bytes: bytes)
        let header = DNSHeader(
            id: try reader.u16(), flags: try reader.u16(), questionCount: try reader.u16(),
            answerCount: try reader.u16(), authorityCount: try reader.u16(),
            additionalCount: try reader.u16())
        guard Int(header.questionCount) + Int(header.answerCount) <= maxRecords else { throw .tooManyRecords }
        var questions: [DNSQuestion] = []
        questions.reserveCapacity(Int(header.questionCount))
        for _ in 0..<header.questionCount {
            let name = try reader.name()
            questions.append(
                DNSQuestion(name: name, type: DNSRecordType(rawValue: try reader.u16()), recordClass: try reader.u16()))
        }
        var answers: [DNSRecord] = []
        answers.reserveCapacity(Int(header.answerCount))
        for _ in 0..<header.answerCount {
            let name = try reader.name()
            let type = DNSRecordType(rawValue: try reader.u16())
            let recordClass = try reader.u16()
            let rawTTL = try reader.u32()
            let length = Int(try reader.u16())
            let start = reader.offset
            guard length <= bytes.count - start else { throw .truncated }
            let data: DNSRecord.Data
            switch type {
            case .a:
                guard length == 4 else { throw .badRecordData }
                data = .a(IPv4Address(rawValue: try reader.u32()))
            case .aaaa:
                guard length == 16 else { throw .badRecordData }
                let high = UInt64(try reader.u32()) << 32 | UInt64(try reader.u32())
                let low = UInt64(try reader.u32()) << 32 | UInt64(try reader.u32())
                data = .aaaa(IPv6Address(high: high, low: low))
            case .cname:
                data = .cname(try reader.name())
                guard reader.offset == start + length else { throw .badRecordData }
            default:
                data = .other
            }
            reader.offset = start + length
            answers.append(
                DNSRecord(
                    name: name, type: type, recordClass: recordClass,
                    ttl: rawTTL & 0x8000_0000 == 0 ? rawTTL : 0, data: data))
        }
        return DNSMessage(header: header, questions: questions, answers: answers)
    }

    /// The addresses the answer gives for `name`, following CNAMEs from it (bounded), each
    /// with the smallest TTL along its chain.
    public func addresses(for name: DNSName) -> [(address: IPAddress, ttl: UInt32)] {
        var aliases: [DNSName: UInt32] = [name: UInt32.max]
        // Each round can only add names; a chain longer than the answer count is a loop.
        for _ in 0..<min(answers.count, 16) {
            var grew = false
            for record in answers {
                guard case .cname(let target) = record.data, let ttl = aliases[record.name] else { continue }
                let chained = min(ttl, record.ttl)
                if let known = aliases[target], known >= chained { continue }
                aliases[target] = chained
                grew = true
            }
            if !grew { break }
        }
        var out: [(IPAddress, UInt32)] = []
        for record in answers {
            guard let ttl = aliases[record.name] else { continue }
            switch record.data {
            case .a(let a): out.append((.v4(a), min(ttl, record.ttl)))
            case .aaaa(let a): out.append((.v6(a), min(ttl, record.ttl)))
            default: continue
            }
        }
        return out
    }

    /// Reads big-endian fields and names, never past `bytes`.
    struct Reader {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        mutating func u16() throws(DNSParseError) -> UInt16 {
            guard bytes.count - offset >= 2 else { throw .truncated }
            defer { offset += 2 }
            return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        }

        mutating func u32() throws(DNSParseError) -> UInt32 {
            UInt32(try u16()) << 16 | UInt32(try u16())
        }

        /// Reads a possibly compressed name at `offset`; leaves `offset` after its in-place
        /// part. RFC 1035 4.1.4: a pointer is two octets with the top bits 11.
        mutating func name() throws(DNSParseError) -> DNSName {
            var labels: [String] = []
            var position = offset
            var resumeAt: Int?
            var hops = 0
            var wireLength = 1
            // Every pointer must land before the previous jump target (and before itself), so
            // the jumps strictly descend and chasing ends; the hop count bounds it again.
            var pointerLimit = Int.max
            while true {
                guard position < bytes.count else { throw .truncated }
                let length = Int(bytes[position])
                switch length & 0xC0 {
                case 0x00:
                    if length == 0 {
                        offset = resumeAt ?? position + 1
                        return DNSName(labels: labels)
                    }
                    guard bytes.count - position - 1 >= length else { throw .truncated }
                    wireLength += length + 1
                    guard wireLength <= 255 else { throw .nameTooLong }
                    labels.append(
                        DNSName.label(UnsafeRawBufferPointer(rebasing: bytes[(position + 1)..<(position + 1 + length)]))
                    )
                    position += 1 + length
                case 0xC0:
                    guard bytes.count - position >= 2 else { throw .truncated }
                    let target = (length & 0x3F) << 8 | Int(bytes[position + 1])
                    hops += 1
                    guard target < position, target < pointerLimit, hops <= DNSMessage.maxPointerHops else {
                        throw .badPointer
                    }
                    if resumeAt == nil { resumeAt = position + 2 }
                    pointerLimit = target
                    position = target
                default:
                    throw .badLabelType
                }
            }
        }
    }
}
