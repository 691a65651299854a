import Sandbox
import Testing

@Suite struct JSONValueTests {
    @Test func parsesTheRFC8259Shapes() throws {
        let value = try JSONValue.parse(Array(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}} "#.utf8))
        #expect(value["a"] == .array([.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null]))
        #expect(value["b"]?["c"] == .string("x\"\\/\u{08}\u{0c}\n\r\té😀"))
        #expect(try JSONValue.parse(Array("18446744073709551615".utf8)) == .number("18446744073709551615"))
        #expect(try JSONValue.parse(Array("\"\"".utf8)) == .string(""))
        #expect(try JSONValue.parse(Array("[]".utf8)) == .array([]))
        #expect(try JSONValue.parse(Array("{}".utf8)) == .object([]))
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "[1 2]", "{\"a\" 1}", "{\"a\":}", "{a:1}", "01", "1.", "1e", "-", "+1", ".5",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "tru", "nul", "[1] 2",
        "\"a\u{01}b\"", "NaN", "[\"\\",
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(text.utf8)) }
    }

    @Test func boundsNesting() {
        let deep = String(repeating: "[", count: JSONValue.maximumDepth + 1) + String(repeating: "]", count: JSONValue.maximumDepth + 1)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue.parse(Array(deep.utf8)) }
        let fine = String(repeating: "[", count: JSONValue.maximumDepth) + String(repeating: "]", count: JSONValue.maximumDepth)
        #expect((try? JSONValue.parse(Array(fine.utf8))) != nil)
    }

    @Test func hostileBytesNeverTrap() {
        // Deterministic pseudo-random inputs built from JSON's own alphabet and raw bytes.
        var state: UInt64 = 0x9e37_79b9_7f4a_7c15
        let alphabet = Array("{}[]\":,\\u0123456789abcdefe+-.tnrl \u{0}\u{ff}".utf8)
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int(state % 40) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                bytes.append(state >> 63 == 0 ? alphabet[Int((state >> 33) % UInt64(alphabet.count))] : UInt8(truncatingIfNeeded: state >> 40))
            }
            _ = try? JSONValue.parse(bytes)
        }
    }
}
