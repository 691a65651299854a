// TCP plugged into the stack: two stacks over an in-memory Ethernet pair (ARP, IPv4, TCP
// checksums all real). The gateway path is TCPGatewayAdmissionTests'.

import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct TCPStackTests {
    @Test func transferBetweenTwoStacksOverMemoryLink() throws {
        let (linkA, linkB) = MemoryLink.pair(mtu: 1500, capacity: 512)
        let clientIP = IPv4Address(10, 0, 2, 100)
        let serverIP = IPv4Address(10, 0, 2, 2)
        let client = Stack()
        let server = Stack()
        client.addAddress(IPv4Subnet(clientIP, prefixLength: 24), to: client.addNIC(linkA))
        server.addAddress(IPv4Subnet(serverIP, prefixLength: 24), to: server.addNIC(linkB))
        var config = TCPConfig()
        config.mtu = 1500
        let result = try Self.transfer(
            client: (client, linkA, .v4(clientIP)), server: (server, linkB, .v4(serverIP)), config: config)
        #expect(result == 1460)
    }

    /// The same transfer over IPv6 (NDP resolves both sides): the segments carry the IPv6
    /// pseudo-header checksum (a wrong one would be dropped as bad), and the MSS leaves room for
    /// the 40-byte IPv6 header.
    @Test func transferBetweenTwoStacksOverIPv6() throws {
        let (linkA, linkB) = MemoryLink.pair(mtu: 1500, capacity: 512)
        let clientIP = v6("fd00::100")
        let serverIP = v6("fd00::2")
        let client = Stack()
        let server = Stack()
        client.addAddress(IPv6Subnet(clientIP, prefixLength: 64), to: client.addNIC(linkA))
        server.addAddress(IPv6Subnet(serverIP, prefixLength: 64), to: server.addNIC(linkB))
        var config = TCPConfig()
        config.mtu = 1500
        let result = try Self.transfer(
            client: (client, linkA, .v6(clientIP)), server: (server, linkB, .v6(serverIP)), config: config)
        #expect(result == 1440)
    }

    /// Sends 300 kB from client to server and closes; checks the bytes and the counters and
    /// returns the client's MSS.
    static func transfer(
        client: (Stack, MemoryLink, IPAddress), server: (Stack, MemoryLink, IPAddress),
        config: TCPConfig
    ) throws -> Int {
        let (clientStack, linkA, clientIP) = client
        let (serverStack, linkB, serverIP) = server
        let clientTCP = TCPTransport(stack: clientStack)
        let serverTCP = TCPTransport(stack: serverStack)
        let clock = FakeClock()
        clientStack.advance(to: clock.now)
        serverStack.advance(to: clock.now)

        let listener = TCPListener(config: config, secret: (11, 13))
        serverTCP.demux.listen(listener, port: 80)
        let flow = TCPFlowID(local: TCPSocketAddress(clientIP, 40000), remote: TCPSocketAddress(serverIP, 80))
        var out = clientTCP.output
        let connection = try TCPConnection.connect(
            flow: flow, config: config, iss: SeqNumber(rawValue: 77),
            now: clock.now, output: &out)
        clientTCP.demux.register(connection)
        clientStack.flush()

        let upload = GeneratedStream(seed: 31, count: 300_000)
        let sender = try TransferEndpoint(source: upload)
        sender.connection = connection
        let receiver = try TransferEndpoint(source: GeneratedStream(seed: 0, count: 0))
        for _ in 0..<20_000 {
            MemoryLink.pump(linkA, linkB)
            if receiver.connection == nil { receiver.connection = listener.accept() }
            sender.pump()
            receiver.pump()
            clientTCP.pollAllConnections(now: clock.now)
            serverTCP.pollAllConnections(now: clock.now)
            clientStack.flush()
            serverStack.flush()
            if receiver.received == upload.count, receiver.connection?.isReadClosed == true { break }
            if linkA.queuedFrameCount == 0, linkB.queuedFrameCount == 0 {
                clock.runTimers(upTo: .milliseconds(50), stacks: clientStack, serverStack)
                clock.advance(by: .milliseconds(1), stacks: clientStack, serverStack)
            }
        }
        #expect(receiver.received == upload.count)
        #expect(receiver.receivedDigest.hexDigest() == sender.sentDigest.hexDigest())
        #expect(connection.counters.retransmittedSegments == 0)
        #expect(clientTCP.counters.sendFailures == 0)
        #expect(serverTCP.counters.badChecksum == 0)
        #expect(serverTCP.counters.malformed == 0)
        return connection.maximumSegmentSize
    }
}
