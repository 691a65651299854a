// Names the sandbox owns, answered by the forwarder and never asked upstream (the host's
// resolver learns nothing of them): the sandbox's host name (the app's addresses) and, in
// the zone sandbox.internal, host.sandbox.internal (the gateway's addresses, which reach the
// host's loopback under --allow-host-loopback). Any other name in that zone is NXDOMAIN.

import Wire

public struct LocalNames: Sendable, Equatable {
    public static let zone = DNSName("sandbox.internal")!
    public static let gatewayName = DNSName("host.sandbox.internal")!

    private var table: [DNSName: [IPAddress]] = [:]
    /// Reverse names of the network's addresses we know (ReverseNames), to the name each has.
    private var pointers: [DNSName: DNSName] = [:]
    /// The network's own subnets: their reverse names are ours to answer.
    private let subnets: [IPSubnet]

    public init(network: NetworkConfiguration) {
        subnets = [network.ipv4Network, network.ipv6Network]
        setName(Self.gatewayName, of: [.v4(network.gatewayV4), .v6(network.gatewayV6)])
        if let hostname = network.hostname, let name = DNSName(hostname), !name.labels.isEmpty {
            setName(name, of: [.v4(network.appV4), .v6(network.appV6)])
        }
    }

    /// `name` answers with `addresses`, and their reverse names with `name`.
    private mutating func setName(_ name: DNSName, of addresses: [IPAddress]) {
        table[name] = addresses
        for address in addresses { pointers[ReverseNames.name(of: address)] = name }
    }

    /// A named network's member: its first name is what its addresses' reverse names answer.
    public mutating func setPointers(_ addresses: [IPAddress], to name: DNSName?) {
        for address in addresses { pointers[ReverseNames.name(of: address)] = name }
    }

    /// The answer for a reverse name of the network's own addresses: the name the address has
    /// (PTR, or ANY), no data for another type, NXDOMAIN for an address nobody holds; nil for
    /// any other name (it goes upstream, as before).
    public func pointer(_ question: DNSQuestion) -> (code: DNSResponseCode, name: DNSName?)? {
        guard let address = ReverseNames.address(of: question.name), subnets.contains(where: { $0.contains(address) })
        else { return nil }
        guard let name = pointers[question.name] else { return (.nameError, nil) }
        let wanted = question.type == .ptr || question.type == DNSRecordType(rawValue: 255)
        return (.noError, wanted ? name : nil)
    }

    /// A named network's member's name (or alias): several members may share one, as
    /// podman's network aliases do, and the name then answers with all their addresses.
    public mutating func add(_ name: DNSName, _ addresses: [IPAddress]) {
        guard !name.labels.isEmpty, name != Self.gatewayName else { return }
        table[name, default: []].append(contentsOf: addresses.filter { !(table[name] ?? []).contains($0) })
    }

    /// Takes `addresses` off `name`; the name goes when none is left.
    public mutating func remove(_ name: DNSName, _ addresses: [IPAddress]) {
        guard name != Self.gatewayName, var current = table[name] else { return }
        current.removeAll { addresses.contains($0) }
        table[name] = current.isEmpty ? nil : current
    }

    /// The answer for `question` when the name is ours: the addresses of its type (none for
    /// other types: NOERROR with no data, RFC 2308 2.2), or NXDOMAIN inside our zone.
    public func answer(_ question: DNSQuestion) -> (code: DNSResponseCode, addresses: [IPAddress])? {
        guard let addresses = table[question.name] else {
            return question.name.isWithin(Self.zone) ? (.nameError, []) : nil
        }
        let any = DNSRecordType(rawValue: 255)
        switch question.type {
        case .a: return (.noError, addresses.filter(\.isV4))
        case .aaaa: return (.noError, addresses.filter { !$0.isV4 })
        case any: return (.noError, addresses)
        default: return (.noError, [])
        }
    }
}
