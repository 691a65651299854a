/// A small JSON reader for `--seccomp FILE`, written by hand for one reason: start-up time.
/// Linking FoundationEssentials for its JSONDecoder costs every `sandbox run` about 4 ms of
/// dynamic loading (measured on the CI machine), a third of what bubblewrap needs for a whole
/// sandbox. The reader is strict RFC 8259, bounded in depth and size, and never traps on
/// hostile bytes: every failure is a `JSONValue.ParseError` with the byte offset.
public enum JSONValue: Sendable, Equatable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    /// The number's text as written (callers convert to the type they need, exactly).
    case number(String)
    case bool(Bool)
    case null

    public struct ParseError: Error, Equatable, CustomStringConvertible, Sendable {
        public var offset: Int
        public var reason: String
        public var description: String { "\(reason) at byte \(offset)" }
    }

    public static let maximumDepth = 64

    public static func parse(_ bytes: [UInt8]) throws(ParseError) -> JSONValue {
        var reader = Reader(bytes: bytes)
        reader.skipWhitespace()
        let value = try reader.value(depth: 0)
        reader.skipWhitespace()
        guard reader.offset == bytes.count else { throw ParseError(offset: reader.offset, reason: "trailing bytes after the JSON value") }
        return value
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last(where: { $0.0 == key })?.1
    }

    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.object(let a), .object(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.array(let a), .array(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.null, .null): return true
        default: return false
        }
    }

    private struct Reader {
        let bytes: [UInt8]
        var offset = 0

        mutating func skipWhitespace() {
            while offset < bytes.count, bytes[offset] == 0x20 || bytes[offset] == 0x0a || bytes[offset] == 0x0d || bytes[offset] == 0x09 {
                offset += 1
            }
        }

        func fail(_ reason: String) -> ParseError { ParseError(offset: offset, reason: reason) }

        mutating func expect(_ literal: String) throws(ParseError) {
            for byte in literal.utf8 {
                guard offset < bytes.count, bytes[offset] == byte else { throw fail("expected \(literal)") }
                offset += 1
            }
        }

        mutating func value(depth: Int) throws(ParseError) -> JSONValue {
            guard depth < JSONValue.maximumDepth else { throw fail("nested deeper than \(JSONValue.maximumDepth)") }
            guard offset < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[offset] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected byte \(bytes[offset])")
            }
        }

        mutating func object(depth: Int) throws(ParseError) -> JSONValue {
            offset += 1
            var members: [(String, JSONValue)] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard offset < bytes.count, bytes[offset] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
                let key = try string()
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                members.append((key, try value(depth: depth + 1)))
                skipWhitespace()
                guard offset < bytes.count else { throw fail("unterminated object") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                if bytes[offset] == UInt8(ascii: "}") { offset += 1; return .object(members) }
                throw fail("expected , or }")
            }
        }

        mutating func array(depth: Int) throws(ParseError) -> JSONValue {
            offset += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if offset < bytes.count, bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard offset < bytes.count else { throw fail("unterminated array") }
                if bytes[offset] == UInt8(ascii: ",") { offset += 1; continue }
                if bytes[offset] == UInt8(ascii: "]") { offset += 1; return .array(elements) }
                throw fail("expected , or ]")
            }
        }

        /// RFC 8259 section 6: -? int frac? exp?
        mutating func number() throws(ParseError) -> String {
            let start = offset
            if bytes[offset] == UInt8(ascii: "-") { offset += 1 }
            func digits(_ reader: inout Reader) -> Int {
                let from = reader.offset
                while reader.offset < reader.bytes.count, reader.bytes[reader.offset] >= 0x30, reader.bytes[reader.offset] <= 0x39 { reader.offset += 1 }
                return reader.offset - from
            }
            let intStart = offset
            let intDigits = digits(&self)
            guard intDigits > 0 else { throw fail("expected digits") }
            if intDigits > 1, bytes[intStart] == UInt8(ascii: "0") { throw fail("leading zero") }
            if offset < bytes.count, bytes[offset] == UInt8(ascii: ".") {
                offset += 1
                guard digits(&self) > 0 else { throw fail("expected fraction digits") }
            }
            if offset < bytes.count, bytes[offset] | 0x20 == UInt8(ascii: "e") {
                offset += 1
                if offset < bytes.count, bytes[offset] == UInt8(ascii: "+") || bytes[offset] == UInt8(ascii: "-") { offset += 1 }
                guard digits(&self) > 0 else { throw fail("expected exponent digits") }
            }
            return String(decoding: bytes[start..<offset], as: UTF8.self)
        }

        mutating func string() throws(ParseError) -> String {
            offset += 1  // opening quote
            var scalars = String.UnicodeScalarView()
            var pendingHighSurrogate: UInt32?
            var run: [UInt8] = []
            func flush(_ run: inout [UInt8], into scalars: inout String.UnicodeScalarView) {
                if !run.isEmpty { scalars.append(contentsOf: String(decoding: run, as: UTF8.self).unicodeScalars); run.removeAll() }
            }
            while true {
                guard offset < bytes.count else { throw fail("unterminated string") }
                let byte = bytes[offset]
                offset += 1
                if byte == UInt8(ascii: "\"") {
                    guard pendingHighSurrogate == nil else { throw fail("lone surrogate") }
                    flush(&run, into: &scalars)
                    return String(scalars)
                }
                guard byte >= 0x20 else { throw fail("control character in string") }
                guard byte == UInt8(ascii: "\\") else {
                    guard pendingHighSurrogate == nil else { throw fail("lone surrogate") }
                    run.append(byte)
                    continue
                }
                guard offset < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[offset]
                offset += 1
                if escape != UInt8(ascii: "u") { guard pendingHighSurrogate == nil else { throw fail("lone surrogate") } }
                switch escape {
                case UInt8(ascii: "\""): run.append(0x22)
                case UInt8(ascii: "\\"): run.append(0x5c)
                case UInt8(ascii: "/"): run.append(0x2f)
                case UInt8(ascii: "b"): run.append(0x08)
                case UInt8(ascii: "f"): run.append(0x0c)
                case UInt8(ascii: "n"): run.append(0x0a)
                case UInt8(ascii: "r"): run.append(0x0d)
                case UInt8(ascii: "t"): run.append(0x09)
                case UInt8(ascii: "u"):
                    guard offset + 4 <= bytes.count,
                          let unit = UInt32(String(decoding: bytes[offset..<offset + 4], as: UTF8.self), radix: 16) else {
                        throw fail("bad \\u escape")
                    }
                    offset += 4
                    flush(&run, into: &scalars)
                    if let high = pendingHighSurrogate {
                        guard (0xdc00...0xdfff).contains(unit),
                              let scalar = Unicode.Scalar(0x10000 + ((high - 0xd800) << 10) + (unit - 0xdc00)) else {
                            throw fail("bad surrogate pair")
                        }
                        scalars.append(scalar)
                        pendingHighSurrogate = nil
                    } else if (0xd800...0xdbff).contains(unit) {
                        pendingHighSurrogate = unit
                    } else if let scalar = Unicode.Scalar(unit) {
                        scalars.append(scalar)
                    } else {
                        throw fail("lone surrogate")
                    }
                default: throw fail("bad escape")
                }
            }
        }
    }
}
