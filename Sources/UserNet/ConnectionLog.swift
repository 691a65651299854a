// `--log-connections FILE`: one JSON object per line for each finished (or refused) flow:
// time, protocol, source, destination, verdict, bytes each way, duration; and one per DNS
// query (DNSQueryRecord). Written by hand
// (the fields are few and fixed) so no encoder runs per flow; one write() per line.

import CNetShims
import Glibc
import Posix

public struct ConnectionRecord: Sendable, Equatable {
    public var startNanoseconds: UInt64
    public var transport: FlowTransport
    public var source: SocketAddress
    public var destination: SocketAddress
    /// "allow" or "deny".
    public var verdict: PolicyVerdict
    /// Why, when refused or failed: the rule, "host-loopback-disabled", "refused", ...
    public var reason: String?
    public var bytesFromApp: UInt64
    public var bytesToApp: UInt64
    public var durationNanoseconds: UInt64

    public init(
        startNanoseconds: UInt64, transport: FlowTransport, source: SocketAddress, destination: SocketAddress,
        verdict: PolicyVerdict, reason: String? = nil, bytesFromApp: UInt64 = 0, bytesToApp: UInt64 = 0,
        durationNanoseconds: UInt64 = 0
    ) {
        self.startNanoseconds = startNanoseconds
        self.transport = transport
        self.source = source
        self.destination = destination
        self.verdict = verdict
        self.reason = reason
        self.bytesFromApp = bytesFromApp
        self.bytesToApp = bytesToApp
        self.durationNanoseconds = durationNanoseconds
    }

    /// The JSON line (with its newline).
    public var jsonLine: String {
        var line = "{\"time\":\"\(Self.iso8601(startNanoseconds))\""
        line += ",\"protocol\":\"\(transport)\""
        line += ",\"source\":\(JSONText.quoted(source.description))"
        line += ",\"destination\":\(JSONText.quoted(destination.description))"
        line += ",\"verdict\":\"\(verdict.rawValue)\""
        if let reason { line += ",\"reason\":\(JSONText.quoted(reason))" }
        line += ",\"bytes_from_app\":\(bytesFromApp),\"bytes_to_app\":\(bytesToApp)"
        line += ",\"duration_ms\":\(Self.milliseconds(durationNanoseconds))}\n"
        return line
    }

    static func milliseconds(_ ns: UInt64) -> String {
        let ms = ns / 1_000_000
        let fraction = ns % 1_000_000 / 1_000
        let digits = String(fraction)
        return "\(ms)." + String(repeating: "0", count: 3 - digits.count) + digits
    }

    /// UTC, millisecond precision: 2026-11-24T17:00:00.123Z.
    static func iso8601(_ ns: UInt64) -> String {
        var seconds = time_t(ns / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let millis = Int(ns % 1_000_000_000 / 1_000_000)
        let ms = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return
            "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(ms)Z"
    }
}

public final class ConnectionLog {
    public private(set) var recordsWritten: UInt64 = 0
    public private(set) var recordsDropped: UInt64 = 0
    private var fd: Int32

    /// Opens `path` for appending (created 0600).
    public convenience init(path: String) throws(PosixError) {
        self.init(fd: try Self.openFile(path))
    }

    /// Opens a log file for `init(fd:)`, which may run in another process.
    public static func openFile(_ path: String) throws(PosixError) -> Int32 {
        try Posix.open(path, O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
    }

    /// Appends to `fd` (open with O_APPEND; owned from here).
    public init(fd: Int32) {
        self.fd = fd
    }

    deinit { close() }

    public func close() {
        guard fd >= 0 else { return }
        Posix.close(fd)
        fd = -1
    }

    public func append(_ record: ConnectionRecord) { append(line: record.jsonLine) }

    public func append(_ record: DNSQueryRecord) { append(line: record.jsonLine) }

    private func append(line text: String) {
        var line = text
        let complete = line.withUTF8 { bytes -> Bool in
            // O_APPEND makes each whole write land as one line even if others share the file.
            guard fd >= 0, let result = try? Posix.write(fd, UnsafeRawBufferPointer(bytes)) else { return false }
            return result == .done(bytes.count)
        }
        if complete { recordsWritten &+= 1 } else { recordsDropped &+= 1 }
    }
}
