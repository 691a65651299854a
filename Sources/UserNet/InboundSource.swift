// The source address an inward connection (or datagram) on a published port carries to the
// app. The app has IPv4 only as far as published ports go (docker-proxy's rule): an IPv4 client
// keeps its own address, so the app sees who called; a loopback client, or one over IPv6,
// appears as the gateway, which the app can answer.

import Wire

extension NetworkConfiguration {
    public func inboundSource(for client: IPAddress) -> IPv4Address {
        guard case .v4(let v4) = client.unmappingIPv4, !v4.isLoopback else { return gatewayV4 }
        return v4
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
