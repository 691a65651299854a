// The gateway's TCP admission, segment by segment and without root: a GatewayEngine over an
// in-memory link, with the host side's connects scripted (ScriptedHostConnector) and a
// connected host socket played by one end of a socketpair. What the app sees is checked as
// exact frames: the SYN held until the host connect settles, SYN-ACK, RST, ICMP unreachable.

import FDBased
import Glibc
import Link
import Netstack
import NetstackTesting
import Testing
import UserNet
import Wire

extension MemoryLink: GatewayLink {
    public var pollableFileDescriptors: [Int32] { [] }
    public func dispatchWaiting() -> Bool { false }
    public var statistics: FDBasedStatistics { FDBasedStatistics() }
    public func close() {}
}

/// Records each host connect; the test settles it when it likes.
final class ScriptedHostConnector: HostTCPConnecting {
    typealias Completion = (Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) -> Void
    private(set) var requests: [SocketAddress] = []
    private var completions: [Completion] = []

    func connect(
        to destination: SocketAddress, on loop: EventLoop, timeoutNanoseconds: UInt64, completion: @escaping Completion
    ) {
        requests.append(destination)
        completions.append(completion)
    }

    func settle(_ index: Int, _ result: Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) {
        completions[index](result)
    }
}

@Suite struct GatewayAdmissionTests {
    static let appMAC = MACAddress(0x02, 0, 0, 0, 0, 0x02)
    static let gatewayMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)
    static let remote = IPv4Address(198, 51, 100, 7)

    /// An engine on a MemoryLink whose app has announced itself (ARP), so answers go out at once.
    final class Harness {
        let loop: EventLoop
        let link = MemoryLink(linkAddress: GatewayAdmissionTests.gatewayMAC)
        let connector: any HostTCPConnecting
        let engine: GatewayEngine
        let app: IPv4Address
        var scripted: ScriptedHostConnector { connector as! ScriptedHostConnector }

        init(
            policy: [(flag: String, value: String)] = [], publish: [String] = [], resources: GatewayResources? = nil,
            connector: any HostTCPConnecting = ScriptedHostConnector()
        ) throws {
            loop = try EventLoop()
            self.connector = connector
            let options = try UserNetOptions(mtu: 1500, policyArguments: policy, publish: publish)
            app = options.network.appV4
            engine = try GatewayEngine(
                loop: loop, options: options, link: link, dnsUpstreams: [], resources: resources,
                hostConnector: connector)
            let announce = ARPRepr(
                operation: .request, senderHardwareAddress: GatewayAdmissionTests.appMAC, senderProtocolAddress: app,
                targetHardwareAddress: MACAddress(0, 0, 0, 0, 0, 0), targetProtocolAddress: options.network.gatewayV4)
            link.receive(frame: FrameBuilder.arp(announce, destination: .broadcast))
            _ = round()
        }

        deinit { engine.shutDown() }

        /// The end of a loop round (the engine flushes); returns what reached the app's link.
        func round() -> [DecodedFrame] {
            engine.endOfRound()
            return link.takeWrittenFrames().map(DecodedFrame.init)
        }

        func send(_ segment: TCPRepr, payload: [UInt8] = [], to destination: IPv4Address = GatewayAdmissionTests.remote)
            -> [DecodedFrame]
        {
            let bytes = FrameBuilder.tcp(
                segment, payload: payload, pseudoHeader: .v4(source: app, destination: destination))
            let packet = FrameBuilder.ipv4(source: app, destination: destination, protocolNumber: .tcp, payload: bytes)
            link.receive(
                frame: FrameBuilder.ethernet(
                    destination: GatewayAdmissionTests.gatewayMAC, source: GatewayAdmissionTests.appMAC,
                    etherType: .ipv4, payload: packet))
            return round()
        }
    }

    static func syn(seq: UInt32 = 1000) -> TCPRepr {
        TCPRepr(
            sourcePort: 40000, destinationPort: 443, sequenceNumber: SeqNumber(rawValue: seq),
            acknowledgmentNumber: SeqNumber(rawValue: 0), flags: .syn, window: 65535, urgentPointer: 0,
            options: TCPOptions(mss: 1460), payloadLength: 0)
    }

    static func tcp(_ frame: DecodedFrame) -> (ip: IPv4Repr, segment: TCPRepr, payload: [UInt8])? {
        guard case .ipv4(let ip, let payload, _) = frame, ip.protocolNumber == .tcp else { return nil }
        return payload.withUnsafeBytes { raw in
            guard let segment = try? TCPSegment(raw),
                let repr = try? TCPRepr.parse(segment, checksum: .v4(source: ip.source, destination: ip.destination))
            else { return nil }
            return (ip, repr, Array(segment.payload))
        }
    }

    /// A connected "host socket": one end of a socketpair, the other end for the test.
    static func hostSocketPair() throws -> (HostTCPSocket, Int32) {
        var pair: [Int32] = [-1, -1]
        try #require(
            socketpair(
                AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue),
                0, &pair) == 0)
        return (HostTCPSocket(adopting: pair[0]), pair[1])
    }

    @Test func synIsHeldUntilTheHostConnectsThenAnsweredWithSYNACK() throws {
        let h = try Harness()
        #expect(h.send(Self.syn()).isEmpty)
        #expect(h.scripted.requests == [SocketAddress(.v4(Self.remote), port: 443)])
        // The app's retransmission while the connect runs: no answer, no second connect.
        #expect(h.send(Self.syn()).isEmpty)
        #expect(h.scripted.requests.count == 1)

        let (socket, peer) = try Self.hostSocketPair()
        defer { Glibc.close(peer) }
        h.scripted.settle(0, .success((socket, nil)))
        let (ip, synAck, _) = try #require(h.round().compactMap(Self.tcp).first)
        #expect(ip.source == Self.remote && ip.destination == h.app)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.acknowledgmentNumber == SeqNumber(rawValue: 1001))

        // The handshake completes; the app's bytes reach the host socket.
        let ack = TCPRepr(
            sourcePort: 40000, destinationPort: 443, sequenceNumber: SeqNumber(rawValue: 1001),
            acknowledgmentNumber: synAck.sequenceNumber &+ 1, flags: [.ack, .psh], window: 65535, urgentPointer: 0,
            options: TCPOptions(), payloadLength: 5)
        _ = h.send(ack, payload: Array("hello".utf8))
        var received = [UInt8](repeating: 0, count: 16)
        let count = read(peer, &received, received.count)
        #expect(count == 5 && Array(received.prefix(5)) == Array("hello".utf8))
        #expect(h.engine.snapshot.flowsAllowed == 1)
    }

    @Test func refusedHostConnectResetsTheApp() throws {
        let h = try Harness()
        _ = h.send(Self.syn())
        h.scripted.settle(0, .failure(.failed(.refused)))
        let (ip, reset, _) = try #require(h.round().compactMap(Self.tcp).first)
        #expect(ip.source == Self.remote)
        #expect(reset.flags == [.rst, .ack])
        #expect(reset.acknowledgmentNumber == SeqNumber(rawValue: 1001))
        #expect(h.engine.snapshot.tcpResetsSent == 1)
        #expect(h.engine.snapshot.flowsFailed == 1)
    }

    /// RFC 1122 4.2.3.9: a host or network the gateway cannot reach is a soft error for the
    /// app's TCP: ICMP from the destination, quoting the SYN (ports and sequence number).
    @Test func unreachableHostAnswersWithICMPQuotingTheSYN() throws {
        let h = try Harness()
        _ = h.send(Self.syn(seq: 0x0A0B_0C0D))
        h.scripted.settle(0, .failure(.failed(.hostUnreachable)))
        let frame = try #require(h.round().first)
        guard case .ipv4(let ip, _, _) = frame else {
            Issue.record("not IPv4")
            return
        }
        #expect(ip.source == Self.remote && ip.destination == h.app)
        let (repr, quote) = try #require(frame.icmp)
        #expect(repr == .destinationUnreachable(code: .hostUnreachable, nextHopMTU: 0))
        #expect(Array(quote[20..<28]) == [0x9c, 0x40, 0x01, 0xbb, 0x0A, 0x0B, 0x0C, 0x0D])
    }

    /// Connected before the hook returned (a loopback connect can): the SYN-ACK goes out in
    /// the same round, once.
    @Test func connectThatSettlesAtOnceIsAnsweredInTheSameRound() throws {
        final class Immediate: HostTCPConnecting {
            let socket: HostTCPSocket
            init(_ socket: HostTCPSocket) { self.socket = socket }
            func connect(
                to destination: SocketAddress, on loop: EventLoop, timeoutNanoseconds: UInt64,
                completion: @escaping (Result<(HostTCPSocket, EventLoop.Registration?), HostConnectError>) -> Void
            ) {
                completion(.success((socket, nil)))
            }
        }
        let (socket, peer) = try Self.hostSocketPair()
        defer { Glibc.close(peer) }
        let h = try Harness(connector: Immediate(socket))
        let replies = h.send(Self.syn()).compactMap(Self.tcp)
        #expect(replies.map(\.segment.flags) == [[.syn, .ack]])
    }

    /// Refused by policy: RST at once, and no host connect is tried.
    @Test func deniedDestinationIsResetWithoutConnecting() throws {
        let h = try Harness(policy: [("--deny", "198.51.100.0/24")])
        let (_, reset, _) = try #require(h.send(Self.syn()).compactMap(Self.tcp).first)
        #expect(reset.flags == [.rst, .ack])
        #expect(h.scripted.requests.isEmpty)
        #expect(h.engine.snapshot.flowsDenied == 1)
    }

    /// A published port (`-p 127.0.0.1:P:8080`) inward: a loopback client connects to the host
    /// port, and the stack's SYN reaches the app from the gateway's address (a loopback client
    /// is shown as the gateway) with an MSS of MTU - 40; the app's RST resets the client.
    @Test func publishedPortConnectReachesTheAppAndItsRefusalResetsTheClient() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(listener, $0, length) == 0)
                try #require(getsockname(listener, $0, &length) == 0)
            }
        }
        try #require(listen(listener, 8) == 0)
        let hostPort = UInt16(bigEndian: address.sin_port)
        // Handed in as a prepared resource, as the confined gateway gets it; the engine owns it.
        let h = try Harness(
            publish: ["127.0.0.1:\(hostPort):8080"], resources: GatewayResources(publishedPortFDs: [listener]))
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { Glibc.close(client) }
        try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0)
            }
        }
        try h.loop.runOnce(blocking: false)
        let (ip, syn, _) = try #require(h.round().compactMap(Self.tcp).first)
        #expect(ip.source == IPv4Address(10, 0, 2, 2) && ip.destination == h.app)
        #expect(syn.flags == .syn && syn.destinationPort == 8080)
        #expect(syn.options.mss == 1460)
        #expect(h.engine.snapshot.inboundConnections == 1)

        // The app refuses: <SEQ=0><ACK=ISS+1><CTL=RST,ACK>. The host client is reset.
        let refusal = TCPRepr(
            sourcePort: 8080, destinationPort: syn.sourcePort, sequenceNumber: SeqNumber(rawValue: 0),
            acknowledgmentNumber: syn.sequenceNumber &+ 1, flags: [.rst, .ack], window: 0, urgentPointer: 0,
            options: TCPOptions(), payloadLength: 0)
        _ = h.send(refusal, to: IPv4Address(10, 0, 2, 2))
        var byte: UInt8 = 0
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let n = recv(client, &byte, 1, 0)
        #expect(n == -1 && errno == ECONNRESET)
    }
}
