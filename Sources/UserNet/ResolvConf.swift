// The host's resolvers, read from resolv.conf (resolv.conf(5)): `nameserver ADDR` lines, at
// most MAXNS (3) of them, as the C library does.

import FDBased
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

    /// Reads `path` (bounded to 64 KiB) and returns its nameservers on port 53.
    public static func upstreams(path: String = defaultPath) throws(SystemCallError) -> [SocketAddress] {
        let text = try readSmallFile(path, limit: 65_536)
        return nameservers(in: text).map { SocketAddress($0, port: 53) }
    }
}
