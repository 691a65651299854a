// The source address an inward connection (or datagram) on a published port carries to the
// app. The app has IPv4 only as far as published ports go (docker-proxy's rule): an IPv4 client
// keeps its own address, so the app sees who called; a loopback client, or one over IPv6,
// appears as the gateway, which the app can answer.

import Wire

extension NetworkConfiguration {
    public func inboundSource(for client: IPAddress) -> IPv4Address {
        let v4: IPv4Address
        switch client {
        case .v4(let address): v4 = address
        case .v6(let address):
            // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d (RFC 4291 2.5.5.2).
            guard let mapped = address.ipv4Mapped else { return gatewayV4 }
            v4 = mapped
        }
        return v4.isLoopback ? gatewayV4 : v4
    }
}

extension SocketAddress {
    /// An IPv4 client of a dual-stack socket as IPv4 (`127.0.0.1:5000`, not
    /// `[::ffff:127.0.0.1]:5000`), for the connection log; any other address as it is.
    public var unmappingIPv4: SocketAddress {
        guard case .v6(let address) = self.address, let mapped = address.ipv4Mapped else { return self }
        return SocketAddress(.v4(mapped), port: port)
    }
}
