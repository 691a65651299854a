// The source an inward connection (or datagram) on a published port carries to the app. The
// app has IPv4 only as far as published ports go (docker-proxy's rule): an IPv4 client keeps its
// own address, so the app sees who called; a loopback client, or one over IPv6, appears as the
// gateway, which the app can answer. The client's port goes with it unless another client holds
// that four-tuple toward the app: then the gateway picks a free port, as a NAT would.

import Netstack
import Wire

extension NetworkConfiguration {
    public func inboundSource(for client: IPAddress) -> IPv4Address {
        guard case .v4(let v4) = client.unmappingIPv4, !v4.isLoopback else { return gatewayV4 }
        return v4
    }
}

/// One client of one published port: the key of its UDP flow, whose four-tuple toward the app
/// may carry a port the gateway chose.
struct InboundClient: Hashable {
    let publisher: ObjectIdentifier
    let address: SocketAddress
}

extension FlowKey {
    /// An inward flow's key, as the app's packets carry it: from the app's published port to
    /// the source the flow shows (`inboundSource`, `inboundSourcePort`).
    static func inbound(
        _ protocolNumber: IPProtocol, app: IPv4Address, appPort: UInt16, source: IPv4Address, sourcePort: UInt16
    ) -> FlowKey {
        FlowKey(
            protocolNumber: protocolNumber, source: .v4(app), sourcePort: appPort, destination: .v4(source),
            destinationPort: sourcePort)
    }
}

extension GatewayEngine {
    /// The dynamic ports (RFC 6335 6: 49152-65535), where a chosen source port comes from.
    static let inboundSourcePorts: ClosedRange<UInt16> = 49_152...65_535

    /// The source port for an inward flow whose client used `clientPort`: that port, when
    /// `isFree` says its four-tuple toward the app is unused; else the next free dynamic port.
    /// Two clients shown as the gateway (127.0.0.1:5000 and [::1]:5000), or one client of two
    /// host ports published to one app port, would otherwise share a four-tuple. Nil when every
    /// dynamic port is taken.
    func inboundSourcePort(preferring clientPort: UInt16, isFree: (UInt16) -> Bool) -> UInt16? {
        if isFree(clientPort) { return clientPort }
        for _ in Self.inboundSourcePorts {
            let candidate = nextInboundSourcePort
            nextInboundSourcePort =
                candidate == Self.inboundSourcePorts.upperBound ? Self.inboundSourcePorts.lowerBound : candidate + 1
            if isFree(candidate) {
                counters.inboundSourcePortsChosen &+= 1
                return candidate
            }
        }
        return nil
    }
}

extension IPAddress {
    /// `::ffff:a.b.c.d` (RFC 4291 2.5.5.2), what a dual-stack socket shows an IPv4 peer as, as
    /// the IPv4 address it is; any other address as it is.
    public var unmappingIPv4: IPAddress {
        guard case .v6(let address) = self, let mapped = address.ipv4Mapped else { return self }
        return .v4(mapped)
    }
}

extension SocketAddress {
    /// An IPv4 peer of a dual-stack socket as IPv4 (`127.0.0.1:5000`, not
    /// `[::ffff:127.0.0.1]:5000`); any other address as it is.
    public var unmappingIPv4: SocketAddress { SocketAddress(address.unmappingIPv4, port: port) }
}
