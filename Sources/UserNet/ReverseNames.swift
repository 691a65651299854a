// Reverse names (PTR, RFC 1035 3.5 for IPv4 and RFC 3596 2.5 for IPv6) of the sandbox's own
// network: answered by the forwarder, the names it knows (the sandbox's, a named network's
// members', the gateway's) and NXDOMAIN for any other address of the network, so that a
// `ping db` or a server's log of its clients does not wait on, or tell, an upstream resolver.

import Wire

extension DNSRecordType {
    public static let ptr = DNSRecordType(rawValue: 12)
}

enum ReverseNames {
    /// `100.0.89.10.in-addr.arpa` for 10.89.0.100; the 32 nibbles under ip6.arpa for IPv6.
    static func name(of address: IPAddress) -> DNSName {
        switch address {
        case .v4(let a):
            let octets = (0..<4).map { String((a.rawValue >> (8 * UInt32($0))) & 0xFF) }
            return DNSName(labels: octets + ["in-addr", "arpa"])
        case .v6(let a):
            let nibbles = (0..<32).map { index -> String in
                let word = index < 16 ? a.low : a.high
                return String((word >> (4 * UInt64(index % 16))) & 0xF, radix: 16)
            }
            return DNSName(labels: nibbles + ["ip6", "arpa"])
        }
    }

    /// The address a reverse name names; nil for any other name (or a partial one).
    static func address(of name: DNSName) -> IPAddress? {
        let labels = name.labels
        if labels.count == 6, labels.suffix(2) == ["in-addr", "arpa"] {
            var value: UInt32 = 0
            for label in labels.prefix(4).reversed() {
                guard let octet = UInt8(label), String(octet) == label else { return nil }
                value = value << 8 | UInt32(octet)
            }
            return .v4(IPv4Address(rawValue: value))
        }
        guard labels.count == 34, labels.suffix(2) == ["ip6", "arpa"] else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, label) in labels.prefix(32).enumerated().reversed() {
            guard label.utf8.count == 1, let nibble = UInt64(label, radix: 16) else { return nil }
            if index >= 16 { high = high << 4 | nibble } else { low = low << 4 | nibble }
        }
        return .v6(IPv6Address(high: high, low: low))
    }
}
