// The sandbox's /etc/resolv.conf: the DNS forwarder's addresses as its nameservers, and the
// host's `search` and `options` carried over (as podman does), unless --dns-search or
// --dns-option replace them (`--dns-search .` for none, as docker spells it).

import UserNet

public struct ResolverFile: Sendable, Equatable {
    /// nil: the host's.
    public var search: [String]?
    public var options: [String]?
    /// A named network's member searches the gateway's zone first (as podman's containers
    /// search dns.podman): a bare `db` is asked as db.sandbox.internal, which the network's DNS
    /// answers itself, before a host search domain could send it upstream.
    public var searchesOwnZoneFirst = false

    public init(search: [String]? = nil, options: [String]? = nil) {
        self.search = search
        self.options = options
    }

    /// Validates `--dns-search` values: domain names, or `.` alone for none.
    public static func parseSearch(_ values: [String]) throws(SandboxError) -> [String]? {
        guard !values.isEmpty else { return nil }
        if values == ["."] { return [] }
        for value in values
        where DNSName(value) == nil || value.contains(where: { $0 == " " || $0 == "\t" }) || value == "." {
            throw .invalidArgument("bad --dns-search \(value): expected a domain name (or . alone for none)")
        }
        return values
    }

    /// Validates `--dns-option` values: resolv.conf(5) option words such as ndots:2.
    public static func parseOptions(_ values: [String]) throws(SandboxError) -> [String]? {
        guard !values.isEmpty else { return nil }
        for value in values where value.isEmpty || value.contains(where: { $0.isWhitespace || !$0.isASCII }) {
            throw .invalidArgument("bad --dns-option \(value): expected one resolv.conf option, e.g. ndots:2")
        }
        return values
    }

    /// The file's text for `network`, given the host's resolv.conf (nil if unreadable).
    public func text(network: NetworkConfiguration, host: String?) -> String {
        var out = "nameserver \(network.dnsV4)\nnameserver \(network.dnsV6)\n"
        let search =
            (searchesOwnZoneFirst ? [LocalNames.zone.description] : [])
            + (self.search ?? host.map { ResolvConf.words(of: "search", in: $0) } ?? [])
        let options = self.options ?? host.map { ResolvConf.words(of: "options", in: $0) } ?? []
        if !search.isEmpty { out += "search \(search.joined(separator: " "))\n" }
        if !options.isEmpty { out += "options \(options.joined(separator: " "))\n" }
        return out
    }
}
