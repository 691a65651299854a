import Glibc
import Testing
import UserNet
import Wire

@Suite struct PublishedPortTests {
    @Test func parsesEveryForm() throws {
        #expect(try PublishedPort(parsing: "8080:80") == PublishedPort(hostPort: 8080, appPort: 80))
        #expect(
            try PublishedPort(parsing: "127.0.0.1:8080:80/udp")
                == PublishedPort(
                    hostAddress: .v4(IPv4Address(127, 0, 0, 1)), hostPort: 8080, appPort: 80, transport: .udp))
        #expect(
            try PublishedPort(parsing: "[::1]:8443:443/tcp")
                == PublishedPort(hostAddress: .v6(.loopback), hostPort: 8443, appPort: 443, transport: .tcp))
        #expect(try PublishedPort(parsing: "[::1]:8443:443").description == "[::1]:8443:443/tcp")
        #expect(try PublishedPort(parsing: "8080:80").description == "8080:80/tcp")
    }

    @Test func noHostPortLeavesTheChoiceToTheKernel() throws {
        #expect(try PublishedPort(parsing: "80") == PublishedPort(hostPort: 0, appPort: 80))
        #expect(
            try PublishedPort(parsing: "127.0.0.1::53/udp")
                == PublishedPort(hostAddress: .v4(IPv4Address(127, 0, 0, 1)), hostPort: 0, appPort: 53, transport: .udp)
        )
        #expect(
            try PublishedPort(parsing: "[::1]::80")
                == PublishedPort(hostAddress: .v6(.loopback), hostPort: 0, appPort: 80))
    }

    @Test func rangesPublishEachPortInOrder() throws {
        let ports = try PublishedPort.parse("127.0.0.1:8080-8082:80-82/udp")
        #expect(ports.map(\.hostPort) == [8080, 8081, 8082])
        #expect(ports.map(\.appPort) == [80, 81, 82])
        #expect(ports.allSatisfy { $0.transport == .udp && $0.hostAddress == .v4(IPv4Address(127, 0, 0, 1)) })
        #expect(try PublishedPort.parse("80-81").map(\.hostPort) == [0, 0])
        #expect(throws: PublishedPortError.rangeMismatch("8080-8081:80")) { try PublishedPort.parse("8080-8081:80") }
        #expect(throws: PublishedPortError.badPort("90-80:90-80")) { try PublishedPort.parse("90-80:90-80") }
        #expect(throws: PublishedPortError.tooMany("1-2000:1-2000")) { try PublishedPort.parse("1-2000:1-2000") }
        #expect(throws: PublishedPortError.badSyntax("80-81:80-81")) { try PublishedPort(parsing: "80-81:80-81") }
    }

    @Test func refusesBadFormsWithTheirReason() {
        #expect(throws: PublishedPortError.badSyntax("[::1]:80")) { try PublishedPort(parsing: "[::1]:80") }
        #expect(throws: PublishedPortError.badPort(":80")) { try PublishedPort(parsing: ":80") }
        #expect(throws: PublishedPortError.badTransport("80:80/sctp")) { try PublishedPort(parsing: "80:80/sctp") }
        #expect(throws: PublishedPortError.badPort("0:80")) { try PublishedPort(parsing: "0:80") }
        #expect(throws: PublishedPortError.badPort("80:70000")) { try PublishedPort(parsing: "80:70000") }
        #expect(throws: PublishedPortError.badHostAddress("host:80:80")) { try PublishedPort(parsing: "host:80:80") }
        #expect(throws: PublishedPortError.badHostAddress("[1.2.3.4]:80:80")) {
            try PublishedPort(parsing: "[1.2.3.4]:80:80")
        }
        #expect(throws: PublishedPortError.badSyntax("1:2:3:4")) { try PublishedPort(parsing: "1:2:3:4") }
        #expect(PublishedPortError.badTransport("x").description.contains("tcp or udp"))
    }

    @Test func everyAddressIsOneSocketForBothFamilies() throws {
        let loop = try EventLoop()
        var clients: [SocketAddress] = []
        let publisher = try PortPublisher(tcp: PublishedPort(hostPort: 0, appPort: 80), loop: loop) { _, client, _ in
            clients.append(client)
        }
        let port = try publisher.localAddress().port
        for address in [IPAddress.v4(IPv4Address(127, 0, 0, 1)), .v6(.loopback)] {
            var result: Result<HostTCPSocket, HostConnectError>?
            HostConnector.connect(to: SocketAddress(address, port: port), on: loop, timeoutNanoseconds: 5_000_000_000) {
                result = $0
            }
            while result == nil || clients.count < (address.isV4 ? 1 : 2) { try loop.runOnce(blocking: true) }
            _ = try #require(result).get()
        }
        #expect(clients.map { "\($0.address)" } == ["::ffff:127.0.0.1", "::1"], "one dual-stack listener")
        let network = try NetworkConfiguration(cidr: "10.0.2.0/24", mtu: 1500)
        #expect(clients.map { network.inboundSource(for: $0.address) } == [network.gatewayV4, network.gatewayV4])
        #expect(network.inboundSource(for: .v4(IPv4Address(192, 0, 2, 7))) == IPv4Address(192, 0, 2, 7))
        #expect(network.inboundSource(for: try #require(IPAddress("::ffff:192.0.2.7"))) == IPv4Address(192, 0, 2, 7))
        #expect(clients.first?.unmappingIPv4.description.hasPrefix("127.0.0.1:") == true, "logged as IPv4")
        #expect(clients.last?.unmappingIPv4.description.hasPrefix("[::1]:") == true)
        publisher.close()
    }

    @Test func tcpListenerHandsOverAcceptedConnectionsWithTheClientAddress() throws {
        let loop = try EventLoop()
        var accepted: [(HostTCPSocket, SocketAddress)] = []
        // Port 0: the kernel picks one; the test reads it back.
        let publisher = try PortPublisher(
            tcp: PublishedPort(hostAddress: .v4(IPv4Address(127, 0, 0, 1)), hostPort: 1, appPort: 80).withHostPort(0),
            loop: loop
        ) { connection, client, port in
            accepted.append((connection, client))
            #expect(port.appPort == 80)
        }
        let listening = try publisher.localAddress()
        var client: Result<HostTCPSocket, HostConnectError>?
        HostConnector.connect(to: listening, on: loop, timeoutNanoseconds: 5_000_000_000) { client = $0 }
        // Both ends must have happened: the client's connect and the listener's accept.
        while client == nil || accepted.isEmpty { try loop.runOnce(blocking: true) }
        let clientSocket = try #require(client).get()
        #expect(accepted.count == 1)
        #expect(accepted.first?.1 == (try clientSocket.localAddress()), "the client's real address and port")
        #expect(publisher.counters.accepted == 1)
        publisher.close()
        #expect(loop.registrationCount == 0)
    }

    @Test func udpPortHandsOverDatagrams() throws {
        let loop = try EventLoop()
        var got: [([UInt8], SocketAddress)] = []
        let publisher = try PortPublisher(
            udp: PublishedPort(hostAddress: .v4(IPv4Address(127, 0, 0, 1)), hostPort: 1, appPort: 53, transport: .udp)
                .withHostPort(0),
            loop: loop
        ) { payload, client, _ in
            got.append((Array(payload), client))
            loop.handle.stop()
        }
        let sender = try HostUDPSocket(connectingTo: try publisher.localAddress())
        _ = try [UInt8]([1, 2, 3]).withUnsafeBytes { try sender.send($0) }
        try loop.run()
        #expect(got.map(\.0) == [[1, 2, 3]])
        #expect(got.first?.1 == (try sender.localAddress()))
    }
}

extension PublishedPort {
    /// The same mapping on another host port (0 lets the kernel choose, for tests).
    func withHostPort(_ port: UInt16) -> PublishedPort {
        var copy = self
        copy.hostPort = port
        return copy
    }
}
