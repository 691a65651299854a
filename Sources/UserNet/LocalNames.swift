// Names the sandbox owns, answered by the forwarder and never asked upstream (the host's
// resolver learns nothing of them): the sandbox's host name (the app's addresses) and, in
// the zone sandbox.internal, host.sandbox.internal (the gateway's addresses, which reach the
// host's loopback under --allow-host-loopback). Any other name in that zone is NXDOMAIN.

import Wire

public struct LocalNames: Sendable, Equatable {
    public static let zone = DNSName("sandbox.internal")!
    public static let gatewayName = DNSName("host.sandbox.internal")!

    private var table: [DNSName: [IPAddress]] = [:]

    public init(network: NetworkConfiguration) {
        table[Self.gatewayName] = [.v4(network.gatewayV4), .v6(network.gatewayV6)]
        if let hostname = network.hostname, let name = DNSName(hostname), !name.labels.isEmpty {
            table[name] = [.v4(network.appV4), .v6(network.appV6)]
        }
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
