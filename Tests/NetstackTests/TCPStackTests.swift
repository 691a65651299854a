// TCP plugged into the stack: two stacks over an in-memory Ethernet pair (ARP, IPv4, TCP
// checksums all real), and the gateway path that accepts a SYN for any destination.

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
        let result = try Self.transfer(client: (client, linkA, .v4(clientIP)), server: (server, linkB, .v4(serverIP)), config: config)
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
        let result = try Self.transfer(client: (client, linkA, .v6(clientIP)), server: (server, linkB, .v6(serverIP)), config: config)
        #expect(result == 1440)
    }

    /// Sends 300 kB from client to server and closes; checks the bytes and the counters and
    /// returns the client's MSS.
    static func transfer(client: (Stack, MemoryLink, IPAddress), server: (Stack, MemoryLink, IPAddress),
                         config: TCPConfig) throws -> Int {
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
        let connection = try TCPConnection.connect(flow: flow, config: config, iss: SeqNumber(rawValue: 77),
                                                   now: TCPInstant(stack: clock.now), output: &out)
        clientTCP.demux.register(connection)
        clientStack.flush()

        let upload = GeneratedStream(seed: 31, count: 300_000)
        let sender = try TransferEndpoint(source: upload)
        sender.connection = connection
        let receiver = try TransferEndpoint(source: GeneratedStream(seed: 0, count: 0))
        for _ in 0 ..< 20_000 {
            MemoryLink.pump(linkA, linkB)
            if receiver.connection == nil { receiver.connection = listener.accept() }
            sender.pump()
            receiver.pump()
            clientTCP.flushConnections(now: clock.now)
            serverTCP.flushConnections(now: clock.now)
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

    final class AcceptAll: GatewayFlowHook {
        var flows: [FlowKey] = []
        func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict {
            flows.append(flow)
            return flow.destinationPort == 443 ? .accept : .reject(.portUnreachable)
        }
    }

    static func tcpFrame(from source: IPv4Address, to destination: IPv4Address, _ segment: TCPRepr) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: segment.headerLength)
        bytes.withUnsafeMutableBytes {
            segment.emit(into: $0, payload: UnsafeRawBufferPointer(start: nil, count: 0),
                         pseudoHeader: .v4(source: source, destination: destination), checksum: .compute)
        }
        let packet = FrameBuilder.ipv4(source: source, destination: destination, protocolNumber: .tcp, payload: bytes)
        return FrameBuilder.ethernet(destination: MACAddress(0x02, 0, 0, 0, 0, 0x01), source: MACAddress(0x02, 0, 0, 0, 0, 0x02),
                                     etherType: .ipv4, payload: packet)
    }

    static func decodeTCP(_ frame: [UInt8]) -> (IPv4Repr, TCPRepr)? {
        guard case .ipv4(let ip, let payload, _) = DecodedFrame(frame), ip.protocolNumber == .tcp else { return nil }
        return payload.withUnsafeBytes { raw -> (IPv4Repr, TCPRepr)? in
            guard let segment = try? TCPSegment(raw),
                  let repr = try? TCPRepr.parse(segment, checksum: .v4(source: ip.source, destination: ip.destination)) else { return nil }
            return (ip, repr)
        }
    }

    @Test func gatewayAcceptsSynForAnyDestination() throws {
        var configuration = Stack.Configuration()
        configuration.gatewayMode = true
        let stack = Stack(configuration: configuration)
        let link = MemoryLink(linkAddress: MACAddress(0x02, 0, 0, 0, 0, 0x01))
        let nic = stack.addNIC(link)
        let app = IPv4Address(10, 0, 2, 100)
        stack.addAddress(IPv4Subnet(IPv4Address(10, 0, 2, 2), prefixLength: 24), to: nic)
        stack.addStaticNeighbour(app, MACAddress(0x02, 0, 0, 0, 0, 0x02), on: nic)
        let hook = AcceptAll()
        stack.gatewayHook = hook
        let tcp = TCPTransport(stack: stack)
        tcp.gatewayListener = TCPListener(config: TCPConfig(), secret: (5, 6))
        let remote = IPv4Address(93, 184, 216, 34)

        let syn = TCPRepr(sourcePort: 40000, destinationPort: 443, sequenceNumber: SeqNumber(rawValue: 9), acknowledgmentNumber: SeqNumber(rawValue: 0),
                          flags: .syn, window: 65535, urgentPointer: 0, options: TCPOptions(mss: 1460), payloadLength: 0)
        link.receive(frame: Self.tcpFrame(from: app, to: remote, syn))
        stack.flush()
        let replies = link.takeWrittenFrames().compactMap(Self.decodeTCP)
        #expect(replies.count == 1)
        let (ip, synAck) = try #require(replies.first)
        #expect(ip.source == remote)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.acknowledgmentNumber == SeqNumber(rawValue: 10))
        #expect(hook.flows.count == 1)

        let ack = TCPRepr(sourcePort: 40000, destinationPort: 443, sequenceNumber: SeqNumber(rawValue: 10),
                          acknowledgmentNumber: synAck.sequenceNumber &+ 1, flags: .ack, window: 65535, urgentPointer: 0,
                          options: TCPOptions(), payloadLength: 0)
        link.receive(frame: Self.tcpFrame(from: app, to: remote, ack))
        let accepted = try #require(tcp.gatewayListener?.accept())
        #expect(accepted.state == .established)
        #expect(accepted.flow.local == TCPSocketAddress(.v4(remote), 443))
        #expect(tcp.demux.connections.count == 1)
    }

    @Test func gatewayRejectAnswersWithReset() throws {
        var configuration = Stack.Configuration()
        configuration.gatewayMode = true
        let stack = Stack(configuration: configuration)
        let link = MemoryLink(linkAddress: MACAddress(0x02, 0, 0, 0, 0, 0x01))
        let nic = stack.addNIC(link)
        let app = IPv4Address(10, 0, 2, 100)
        stack.addAddress(IPv4Subnet(IPv4Address(10, 0, 2, 2), prefixLength: 24), to: nic)
        stack.addStaticNeighbour(app, MACAddress(0x02, 0, 0, 0, 0, 0x02), on: nic)
        stack.gatewayHook = AcceptAll()
        let tcp = TCPTransport(stack: stack)
        tcp.gatewayListener = TCPListener(config: TCPConfig(), secret: (5, 6))
        let syn = TCPRepr(sourcePort: 40000, destinationPort: 22, sequenceNumber: SeqNumber(rawValue: 9), acknowledgmentNumber: SeqNumber(rawValue: 0),
                          flags: .syn, window: 65535, urgentPointer: 0, options: TCPOptions(), payloadLength: 0)
        link.receive(frame: Self.tcpFrame(from: app, to: IPv4Address(93, 184, 216, 34), syn))
        stack.flush()
        let replies = link.takeWrittenFrames().compactMap(Self.decodeTCP)
        #expect(replies.map(\.1.flags) == [[.rst, .ack]])
        #expect(replies.first?.1.acknowledgmentNumber == SeqNumber(rawValue: 10))
        #expect(tcp.counters.gatewayRejected == 1)
    }
}

