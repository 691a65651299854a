import FoundationEssentials
import Sandbox
import Testing

@Suite struct JSONErrorTextTests {
    func syntax(_ text: String) -> JSONErrorText.SyntaxError? { JSONErrorText.syntaxError(in: Array(text.utf8)) }

    @Test func validJSONHasNoSyntaxError() throws {
        for text in [
            "{}", " [ ] ", "\"a\\u00e9\\n\"", "-0.5e+3", "[true,false,null,{\"k\":[1,2,{\"x\":\"y\"}]}]",
            "{\"é\": \"ü\"}"
        ] {
            #expect(syntax(text) == nil, "\(text)")
        }
        // A real profile: podman's default, as containers-common installs it (when present).
        if let data = try? Data(contentsOf: URL(fileURLWithPath: "/usr/share/containers/seccomp.json")) {
            #expect(JSONErrorText.syntaxError(in: Array(data)) == nil)
        }
    }

    @Test func theFirstBadByteIsFoundByLineAndColumn() {
        #expect(syntax("{\n  \"a\": 1\n  \"b\": 2}") == .init(line: 3, column: 3, reason: "expected ',' or '}'"))
        #expect(
            syntax("[1,]")
                == .init(
                    line: 1, column: 4,
                    reason: "expected a value (a string, number, object, array, true, false or null)"))
        #expect(syntax("{\"a\" 1}")?.reason == "expected ':' after the key")
        #expect(syntax("{a: 1}")?.reason == "expected a key in double quotes")
        #expect(
            syntax("[\"é\", x]")
                == .init(
                    line: 1, column: 7,
                    reason: "expected a value (a string, number, object, array, true, false or null)"),
            "columns count characters")
        #expect(syntax("\"abc")?.reason == "the text ends early: an unterminated string")
        #expect(syntax("\"a\\q\"")?.reason == "unknown escape \\q")
        #expect(syntax("\"a\tb\"")?.reason == "a control character in a string (write it as an escape)")
        #expect(syntax("[1.]")?.reason == "expected a digit after '.'")
        #expect(syntax("tru")?.reason == "the text ends early: expected true")
        #expect(syntax("{} {}")?.reason == "text after the value")
        #expect(syntax("")?.reason == "the text ends early: expected a value")
        #expect(syntax(String(repeating: "[", count: 600))?.reason == "nested deeper than 512")
    }

    @Test func decoderErrorsNameTheirPath() {
        struct Rule: Decodable { var action: String }
        struct Profile: Decodable { var syscalls: [Rule] }
        let bytes = Array("{\"syscalls\": [{\"action\": \"a\"}, {\"action\": 5}]}".utf8)
        do {
            _ = try JSONDecoder().decode(Profile.self, from: Data(bytes))
            Issue.record("decoded a number as a string")
        } catch {
            #expect(JSONErrorText.describe(error, in: bytes) == "syscalls[1].action: expected a string, found number")
        }
        let missing = Array("{\"syscalls\": [{}]}".utf8)
        do {
            _ = try JSONDecoder().decode(Profile.self, from: Data(missing))
            Issue.record("decoded a rule without its action")
        } catch {
            #expect(JSONErrorText.describe(error, in: missing) == "syscalls[0].action: missing")
        }
    }
}
