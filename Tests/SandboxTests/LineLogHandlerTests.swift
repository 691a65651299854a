import Glibc
import Logging
import Sandbox
import Testing

@Suite struct LineLogHandlerTests {
    /// What a logger with this handler writes for one warning, read back from a pipe.
    func line(_ format: LineLogHandler.Format, label: String) throws -> String {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let logger = Logger(label: label) { _ in LineLogHandler(label: label, level: .info, format: format, fd: fds[1])
        }
        logger.debug("not at info")
        logger.warning("refused tcp a -> b", metadata: ["reason": "flow-limit", "a\"b": "x\ny"])
        close(fds[1])
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(fds[0], &bytes, bytes.count)
        return String(decoding: bytes[0..<max(count, 0)], as: UTF8.self)
    }

    @Test func textIsOneLineWithOnePrefix() throws {
        #expect(
            try line(.text, label: "gateway")
                == "sandbox: warning: gateway: refused tcp a -> b a\"b=x\\ny reason=flow-limit\n")
        #expect(try line(.text, label: "sandbox").hasPrefix("sandbox: warning: refused tcp"))
    }

    @Test func jsonIsOneObjectALine() throws {
        let text = try line(.json, label: "gateway")
        #expect(
            text.hasSuffix(
                "\"level\":\"warning\",\"component\":\"gateway\",\"msg\":\"refused tcp a -> b\",\"a\\\"b\":\"x\\ny\",\"reason\":\"flow-limit\"}\n"
            ))
        #expect(text.hasPrefix("{\"time\":\"20"))
        #expect(text.filter { $0 == "\n" }.count == 1, "escaped newlines keep it one line")
    }

    @Test func levelsAndFormatsParseWithTheirMessages() throws {
        #expect(try LogSettings(level: "warn", format: "json") == LogSettings(level: .warning, format: .json))
        #expect(try LogSettings(level: "debug", format: "text").level == .debug)
        #expect(throws: SandboxError.invalidArgument("bad --log-level loud: use \(LogSettings.levels)")) {
            try LogSettings(level: "loud", format: "text")
        }
        #expect(throws: SandboxError.invalidArgument("bad --log-format xml: use text or json")) {
            try LogSettings(level: "info", format: "xml")
        }
    }
}
