// swift-log's handler for the tool's own messages (`--log-level`, `--log-format`): one line per
// message on stderr, in one write(2), so a line stays whole beside the app's own output on the
// same stderr. The gateway's confined process logs through it too (its stderr is the
// launcher's); it opens nothing and allocates only the line.

import Glibc
import Logging
import UserNet

public struct LineLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level
    /// The component: "sandbox" (the launcher, left out of text lines) or "gateway".
    let label: String
    let format: Format
    let fd: Int32

    public init(label: String, level: Logger.Level, format: Format, fd: Int32 = 2) {
        self.label = label
        logLevel = level
        self.format = format
        self.fd = fd
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        let line = format == .json ? jsonLine(event, fields) : textLine(event, fields)
        var bytes = Array(line.utf8)
        bytes.append(UInt8(ascii: "\n"))
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    /// "sandbox: warning: gateway: refused tcp ... reason=flow-limit".
    func textLine(_ event: LogEvent, _ fields: Logger.Metadata) -> String {
        var line = "sandbox: \(event.level): "
        if label != "sandbox" { line += "\(label): " }
        line += event.message.description
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        return Self.oneLine(line)
    }

    /// Control characters (a DNS name from the app may hold any byte) written as \n, \t or
    /// \u{1b}, so that a line stays one line and cannot move a terminal's cursor.
    static func oneLine(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += scalar.escaped(asASCII: true)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// {"time":"2026-12-03T17:40:07.123Z","level":"warning","component":"gateway","msg":"...",...}.
    func jsonLine(_ event: LogEvent, _ fields: Logger.Metadata) -> String {
        var line = "{\"time\":\"\(Self.timestamp())\",\"level\":\"\(event.level)\",\"component\":"
        line += JSONText.quoted(label) + ",\"msg\":" + JSONText.quoted(event.message.description)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line += "," + JSONText.quoted(key) + ":" + JSONText.quoted("\(value)")
        }
        return line + "}"
    }

    /// RFC 3339 UTC with milliseconds, from the real-time clock.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(fraction)Z"
    }
}

/// `--log-level` and `--log-format` as given, checked, and the process's logging set up from them.
public struct LogSettings: Sendable, Equatable {
    public var level: Logger.Level
    public var format: LineLogHandler.Format

    public static let levels = "trace, debug, info, notice, warning, error or critical"

    public init(level: Logger.Level = .warning, format: LineLogHandler.Format = .text) {
        self.level = level
        self.format = format
    }

    /// `level`: a swift-log level name, or `warn` as podman spells it.
    public init(level: String, format: String) throws(SandboxError) {
        guard let parsed = level == "warn" ? .warning : Logger.Level(rawValue: level) else {
            throw .invalidArgument("bad --log-level \(level): use \(Self.levels)")
        }
        guard let parsedFormat = LineLogHandler.Format(rawValue: format) else {
            throw .invalidArgument("bad --log-format \(format): use text or json")
        }
        self.init(level: parsed, format: parsedFormat)
    }

    /// Makes every Logger of this process write lines on stderr (once, before any is made).
    public func bootstrap() {
        let settings = self
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, level: settings.level, format: settings.format)
        }
    }
}
