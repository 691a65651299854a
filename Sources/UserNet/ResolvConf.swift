// The host's resolv.conf (resolv.conf(5)): its `nameserver ADDR` lines (at most MAXNS, 3, as
// the C library does), the gateway's upstreams; and its `search` and `options`, which the
// sandbox's own resolv.conf carries over (the last of each keyword wins, as in libc).

import Posix
import Wire

public enum ResolvConf {
    public static let maxNameservers = 3
    public static let defaultPath = "/etc/resolv.conf"

    /// The nameserver addresses in `text`, in order; malformed lines are skipped like libc does.
    /// Scoped IPv6 addresses (`fe80::1%eth0`) are skipped: a host socket could not use them
    /// without the interface, and link-local upstreams are rare.
    public static func nameservers(in text: String) -> [IPAddress] {
        var out: [IPAddress] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, fields[0] == "nameserver", let address = IPAddress(fields[1]) else { continue }
            out.append(address)
            if out.count == maxNameservers { break }
        }
        return out
    }

    /// The words of the last `keyword` line (`search`, `options`) in `text`; empty if none.
    public static func words(of keyword: String, in text: String) -> [String] {
        var out: [String] = []
        for line in text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.first.map(String.init) == keyword { out = fields.dropFirst().map(String.init) }
        }
        return out
    }

    /// Reads `path` (bounded to 64 KiB), or nil when it cannot be read.
    public static func text(path: String = defaultPath) -> String? { try? read(path) }

    /// Reads `path` (bounded to 64 KiB) and returns its nameservers on port 53.
    public static func upstreams(path: String = defaultPath) throws(PosixError) -> [SocketAddress] {
        nameservers(in: try read(path)).map { SocketAddress($0, port: 53) }
    }

    private static func read(_ path: String) throws(PosixError) -> String {
        String(decoding: try Posix.readFile(path, limit: 65_536), as: UTF8.self)
    }
}
