// Messages for JSON a user wrote (a seccomp profile, config.json) that the decoder refused.
// FoundationEssentials' JSONDecoder says only "The given data was not valid JSON" for a syntax
// error, without a position, so `syntaxError(in:)` walks the text itself (RFC 8259's grammar,
// nothing more) to find the first byte that breaks it; a decoder's type or key error names its
// coding path instead, which says where as well as a line would.

import FoundationEssentials

public enum JSONErrorText {
    /// "line 3, column 24: expected ',' or '}'" or "syscalls[1].action: expected a string".
    public static func describe(_ error: any Error, in bytes: [UInt8]) -> String {
        if let syntax = syntaxError(in: bytes) {
            return "line \(syntax.line), column \(syntax.column): \(syntax.reason)"
        }
        guard let decoding = error as? DecodingError else { return "\(error)" }
        switch decoding {
        case .typeMismatch(let type, let context):
            // The decoder's own words for what it met: "... but found number instead."
            let found = context.debugDescription.firstRange(of: "found ").map {
                ", found " + context.debugDescription[$0.upperBound...].prefix(while: { $0 != " " && $0 != "." })
            }
            return "\(path(context.codingPath)): expected \(typeName(type))\(found ?? "")"
        case .valueNotFound(let type, let context):
            return "\(path(context.codingPath)): expected \(typeName(type)), found null"
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])): missing"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    public struct SyntaxError: Equatable, Sendable {
        public var line: Int
        public var column: Int
        public var reason: String

        public init(line: Int, column: Int, reason: String) {
            self.line = line
            self.column = column
            self.reason = reason
        }
    }

    /// The first place `bytes` is not one JSON value (with surrounding white space); nil when it is.
    public static func syntaxError(in bytes: [UInt8]) -> SyntaxError? {
        var scanner = Scanner(bytes: bytes)
        do throws(Scanner.Failure) {
            scanner.skipSpace()
            try scanner.value(depth: 0)
            scanner.skipSpace()
            if scanner.offset < bytes.count {
                throw Scanner.Failure(offset: scanner.offset, reason: "text after the value")
            }
            return nil
        } catch {
            let before = bytes[..<min(error.offset, bytes.count)]
            let line = before.count(where: { $0 == UInt8(ascii: "\n") }) + 1
            let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            // Columns count characters, not bytes (UTF-8 continuation bytes are not counted).
            let column = before[lineStart...].count(where: { $0 & 0xC0 != 0x80 }) + 1
            return SyntaxError(line: line, column: column, reason: error.reason)
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text.isEmpty ? "the top level" : text
    }

    static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int32.Type, is UInt32.Type, is UInt64.Type, is UInt16.Type, is Int64.Type:
            "a whole number in range"
        case is Double.Type: "a number"
        default: type is any Collection.Type ? "an array" : "an object"
        }
    }
}

/// A recursive-descent recogniser of RFC 8259 JSON: it builds nothing, it only finds where the
/// text stops being JSON. Nesting is bounded, so hostile input cannot exhaust the stack.
private struct Scanner {
    struct Failure: Error {
        var offset: Int
        var reason: String
    }

    static let maximumDepth = 512
    let bytes: [UInt8]
    var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

    func fail(_ reason: String) -> Failure {
        Failure(offset: offset, reason: current == nil ? "the text ends early: \(reason)" : reason)
    }

    mutating func skipSpace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { offset += 1 }
    }

    mutating func expect(_ byte: UInt8, _ reason: String) throws(Failure) {
        guard current == byte else { throw fail(reason) }
        offset += 1
    }

    mutating func value(depth: Int) throws(Failure) {
        guard depth < Self.maximumDepth else { throw fail("nested deeper than \(Self.maximumDepth)") }
        guard let byte = current else { throw fail("expected a value") }
        switch byte {
        case UInt8(ascii: "{"): try container(close: UInt8(ascii: "}"), depth: depth, keyed: true)
        case UInt8(ascii: "["): try container(close: UInt8(ascii: "]"), depth: depth, keyed: false)
        case UInt8(ascii: "\""): try string()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
        default: throw fail("expected a value (a string, number, object, array, true, false or null)")
        }
    }

    mutating func container(close: UInt8, depth: Int, keyed: Bool) throws(Failure) {
        offset += 1
        skipSpace()
        if current == close {
            offset += 1
            return
        }
        let closeText = close == UInt8(ascii: "}") ? "'}'" : "']'"
        while true {
            if keyed {
                guard current == UInt8(ascii: "\"") else { throw fail("expected a key in double quotes") }
                try string()
                skipSpace()
                try expect(UInt8(ascii: ":"), "expected ':' after the key")
                skipSpace()
            }
            try value(depth: depth + 1)
            skipSpace()
            if current == UInt8(ascii: ",") {
                offset += 1
                skipSpace()
                continue
            }
            try expect(close, "expected ',' or \(closeText)")
            return
        }
    }

    mutating func string() throws(Failure) {
        offset += 1
        while let byte = current {
            switch byte {
            case UInt8(ascii: "\""):
                offset += 1
                return
            case UInt8(ascii: "\\"):
                offset += 1
                guard let escaped = current else { break }
                if escaped == UInt8(ascii: "u") {
                    for _ in 0..<4 {
                        offset += 1
                        guard let hex = current, hex.isHexDigit else { throw fail("expected 4 hex digits after \\u") }
                    }
                } else if !Array("\"\\/bfnrt".utf8).contains(escaped) {
                    throw fail("unknown escape \\\(Character(Unicode.Scalar(escaped)))")
                }
                offset += 1
            case 0..<0x20:
                throw fail("a control character in a string (write it as an escape)")
            default:
                offset += 1
            }
        }
        throw fail("an unterminated string")
    }

    mutating func literal(_ word: String) throws(Failure) {
        for byte in word.utf8 {
            guard current == byte else { throw fail("expected \(word)") }
            offset += 1
        }
    }

    mutating func number() throws(Failure) {
        if current == UInt8(ascii: "-") { offset += 1 }
        guard let first = current, first.isDigit else { throw fail("expected a digit") }
        offset += 1
        if first != UInt8(ascii: "0") { digits() }
        if current == UInt8(ascii: ".") {
            offset += 1
            guard current?.isDigit == true else { throw fail("expected a digit after '.'") }
            digits()
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            offset += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
            guard current?.isDigit == true else { throw fail("expected a digit in the exponent") }
            digits()
        }
    }

    mutating func digits() {
        while current?.isDigit == true { offset += 1 }
    }
}

extension UInt8 {
    fileprivate var isDigit: Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) }
    fileprivate var isHexDigit: Bool {
        isDigit || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self | 0x20)
    }
}
