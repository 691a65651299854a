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
    }

    @Test func refusesBadFormsWithTheirReason() {
        #expect(throws: PublishedPortError.badSyntax("80")) { try PublishedPort(parsing: "80") }
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
