// A member of a named network (`sandbox run --network NAME`) as the network's gateway knows
// it: its port on the switch, the addresses the network's holder gave it, the names the DNS
// forwarder answers with them, and the faults on its link. The holder sends it as text with
// the member's packet socket (the gateway's `j` control message); `init(encoded:)` is the
// gateway's side, and refuses anything `description` would not have written.

import Wire

public struct NetworkMemberSpec: Sendable, Equatable, CustomStringConvertible {
    /// The holder's number for the member, unique while the network's gateway runs.
    public var id: UInt32
    /// The MAC of the member's eth0 (the launcher sets it before the link comes up).
    public var mac: MACAddress
    public var ipv4: IPv4Address
    public var ipv6: IPv6Address
    /// `--name` and every `--network-alias`, lower-cased: what the DNS forwarder answers.
    public var names: [DNSName]
    public var faults: LinkFaults

    public init(
        id: UInt32, mac: MACAddress, ipv4: IPv4Address, ipv6: IPv6Address, names: [DNSName],
        faults: LinkFaults = LinkFaults()
    ) {
        self.id = id
        self.mac = mac
        self.ipv4 = ipv4
        self.ipv6 = ipv6
        self.names = names
        self.faults = faults
    }

    /// Space-separated `key=value` fields; names are DNS labels, which hold no space or comma.
    public var description: String {
        "id=\(id) mac=\(mac) v4=\(ipv4) v6=\(ipv6) names=\(names.map(\.description).joined(separator: ","))"
            + " faults=\(faults)"
    }

    public init?(encoded text: String) {
        var fields: [Substring: Substring] = [:]
        for item in text.split(separator: " ") {
            guard let equals = item.firstIndex(of: "=") else { return nil }
            fields[item[..<equals]] = item[item.index(after: equals)...]
        }
        guard fields.count == 6, let id = fields["id"].flatMap({ UInt32($0) }),
            let mac = fields["mac"].flatMap({ MACAddress(String($0)) }),
            let ipv4 = fields["v4"].flatMap({ IPv4Address(String($0)) }),
            let ipv6 = fields["v6"].flatMap({ IPv6Address(String($0)) }),
            let nameList = fields["names"], let faults = fields["faults"].flatMap({ LinkFaults(encoded: String($0)) })
        else { return nil }
        let names = nameList.split(separator: ",").compactMap { DNSName(String($0)) }
        guard names.count == nameList.split(separator: ",").count, names.count <= Self.maximumNames else { return nil }
        self.init(id: id, mac: mac, ipv4: ipv4, ipv6: ipv6, names: names, faults: faults)
    }

    /// `--name` plus at most this many `--network-alias` names, less one.
    public static let maximumNames = 16
}
