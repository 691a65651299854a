import Glibc
import Testing
import UserNet
import Wire

/// A tiny DNS server on 127.0.0.1 (UDP and TCP on the same port number), served from the test's
/// own event loop. It answers A queries with 192.0.2.1 (TTL 120), ignores `silent.test`, and
/// for `wrong.test` answers a different question.
final class LoopbackDNSServer {
    let udp: Int32
    let tcp: Int32
    let port: UInt16
    var udpQueriesSeen = 0
    var lastIDSeen: UInt16 = 0
    weak var loop: EventLoop?

    init(loop: EventLoop) throws {
        udp = socket(
            AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let udpFD = udp, tcpFD = tcp
        // Bind UDP to an ephemeral port, then TCP to the same number (retry a few times).
        var bound: UInt16 = 0
        for _ in 0..<20 {
            sin.sin_port = 0
            _ = withUnsafeMutablePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    bind(udpFD, sa, length) == 0 ? getsockname(udpFD, sa, &length) : -1
                }
            }
            let tcpBound = withUnsafeMutablePointer(to: &sin) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(tcpFD, $0, length) }
            }
            if tcpBound == 0 {
                bound = UInt16(bigEndian: sin.sin_port)
                break
            }
        }
        guard bound != 0, listen(tcp, 8) == 0 else {
            close(udp)
            close(tcp)
            throw TestFailure.setup("dns server", errno)
        }
        port = bound
        self.loop = loop
        _ = try loop.register(fd: udp, interest: .read) { [unowned self] _ in self.serveUDP() }
        _ = try loop.register(fd: tcp, interest: .read) { [unowned self] _ in self.serveTCP() }
    }

    deinit {
        close(udp)
        close(tcp)
    }

    var address: SocketAddress { SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port) }

    func answer(to query: [UInt8]) -> [UInt8]? {
        guard let message = try? query.withUnsafeBytes({ try DNSMessage.parse($0) }), let q = message.questions.first
        else { return nil }
        lastIDSeen = message.header.id
        switch q.name.description {
        case "silent.test": return nil
        case "wrong.test":
            return try? DNSTestMessages.response(
                id: message.header.id, name: "other.test", addresses: ["192.0.2.9"], ttl: 1)
        default:
            return try? DNSTestMessages.response(
                id: message.header.id, name: q.name.description, addresses: ["192.0.2.1"], ttl: 120)
        }
    }

    func serveUDP() {
        var buffer = [UInt8](repeating: 0, count: 2048)
        var from = sockaddr_storage()
        var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let n = withUnsafeMutablePointer(to: &from) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                recvfrom(udp, &buffer, buffer.count, 0, $0, &fromLength)
            }
        }
        guard n > 0 else { return }
        udpQueriesSeen += 1
        guard let reply = answer(to: Array(buffer[0..<n])) else { return }
        _ = withUnsafePointer(to: &from) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(udp, reply, reply.count, 0, $0, fromLength) }
        }
    }

    /// Accepts, then serves the connection when its query has arrived (on the same loop as
    /// the client, so nothing here may block waiting for it).
    func serveTCP() {
        let client = accept(tcp, nil, nil)
        guard client >= 0, let loop else { return }
        var registration: EventLoop.Registration?
        registration = try? loop.register(fd: client, interest: .read) { [unowned self] _ in
            if let registration { loop.unregister(registration) }
            defer { close(client) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            // The whole framed query arrives in one segment on loopback.
            let n = recv(client, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard n >= 2 else { return }
            let length = Int(buffer[0]) << 8 | Int(buffer[1])
            guard n == 2 + length, let reply = self.answer(to: Array(buffer[2..<n])) else { return }
            let framed = [UInt8(reply.count >> 8), UInt8(reply.count & 0xFF)] + reply
            _ = send(client, framed, framed.count, Int32(MSG_NOSIGNAL))
        }
    }
}

/// A UDP socket on loopback that reads nothing and answers nothing.
final class SilentUDPPeer {
    let fd: Int32
    let port: UInt16
    init() throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let fd = self.fd
        let rc = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, length) == 0 ? getsockname(fd, sa, &length) : -1
            }
        }
        guard rc == 0 else {
            close(fd)
            throw TestFailure.setup("bind", errno)
        }
        port = UInt16(bigEndian: sin.sin_port)
    }
    deinit { close(fd) }
    var address: SocketAddress { SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port) }
}

@Suite struct DNSForwarderTests {
    func forwarder(_ loop: EventLoop, _ upstreams: [SocketAddress], timeout: UInt64 = 2_000_000_000) throws
        -> DNSForwarder
    {
        var configuration = DNSForwarder.Configuration(upstreams: upstreams)
        configuration.timeoutNanoseconds = timeout
        return try DNSForwarder(loop: loop, configuration: configuration)
    }

    @Test func udpQueryIsAnsweredWithTheAppsIDRestored() throws {
        let loop = try EventLoop()
        let server = try LoopbackDNSServer(loop: loop)
        let dns = try forwarder(loop, [server.address])
        var learned = LearnedAddressTable()
        let policy = try EgressPolicy(arguments: [("--allow-domain", "*.example.com")])
        let network = try NetworkConfiguration()
        var reply: [UInt8]?
        DNSTestMessages.query(id: 0x1234, name: "www.example.com").withUnsafeBytes { query in
            dns.forward(query: query) { answer in
                reply = Array(answer.bytes)
                learned.learn(from: answer.message, policy: policy, network: network, now: 0)
                loop.handle.stop()
            }
        }
        try loop.run()
        let message = try #require(reply).withUnsafeBytes { try DNSMessage.parse($0) }
        #expect(message.header.id == 0x1234)
        #expect(message.answers.map(\.data) == [.a(IPv4Address(192, 0, 2, 1))])
        #expect(dns.counters.answers == 1 && dns.counters.queries == 1)
        #expect(dns.pendingCount == 0)
        #expect(loop.timerCount == 0, "the answered query's timer is cancelled")
        #expect(learned.isAdmitted(.v4(IPv4Address(192, 0, 2, 1)), byRule: 0, now: 1))
        dns.close()
    }

    @Test func silentUpstreamFailsOverToTheNextOne() throws {
        let loop = try EventLoop()
        let server = try LoopbackDNSServer(loop: loop)
        let silent = try SilentUDPPeer()
        let dns = try forwarder(loop, [silent.address, server.address], timeout: 200_000_000)
        var reply: [UInt8]?
        DNSTestMessages.query(id: 77, name: "a.test").withUnsafeBytes { query in
            dns.forward(query: query) {
                reply = Array($0.bytes)
                loop.handle.stop()
            }
        }
        try loop.run()
        #expect(reply != nil)
        #expect(dns.counters.timeouts == 1)
        #expect(dns.counters.answers == 1)
        dns.close()
    }

    @Test func queryNobodyAnswersIsDroppedAndCounted() throws {
        let loop = try EventLoop()
        let server = try LoopbackDNSServer(loop: loop)
        let dns = try forwarder(loop, [server.address], timeout: 100_000_000)
        var replies = 0
        DNSTestMessages.query(id: 5, name: "silent.test").withUnsafeBytes { query in
            dns.forward(query: query) { _ in replies += 1 }
        }
        _ = try loop.scheduleTimer(after: 400_000_000) { loop.handle.stop() }
        try loop.run()
        #expect(replies == 0)
        #expect(dns.counters.unanswered == 1)
        #expect(dns.pendingCount == 0)
        #expect(server.udpQueriesSeen == 1)
        dns.close()
    }

    @Test func answerToAnotherQuestionIsRejected() throws {
        let loop = try EventLoop()
        let server = try LoopbackDNSServer(loop: loop)
        let dns = try forwarder(loop, [server.address], timeout: 100_000_000)
        var replies = 0
        DNSTestMessages.query(id: 6, name: "wrong.test").withUnsafeBytes { query in
            dns.forward(query: query) { _ in replies += 1 }
        }
        _ = try loop.scheduleTimer(after: 400_000_000) { loop.handle.stop() }
        try loop.run()
        #expect(replies == 0)
        #expect(dns.counters.mismatchedAnswers == 1)
        dns.close()
    }

    @Test func malformedQueriesAndAFullTableAreCounted() throws {
        let loop = try EventLoop()
        let silent = try SilentUDPPeer()
        var configuration = DNSForwarder.Configuration(upstreams: [silent.address])
        configuration.maxPendingQueries = 2
        let dns = try DNSForwarder(loop: loop, configuration: configuration)
        [UInt8](repeating: 0xFF, count: 5).withUnsafeBytes { dns.forward(query: $0) { _ in } }
        try DNSTestMessages.response(id: 1, name: "a.b", addresses: [], ttl: 1).withUnsafeBytes {
            dns.forward(query: $0) { _ in }
        }
        #expect(dns.counters.malformedQueries == 2, "garbage and responses are not queries")
        for id in 0..<3 {
            DNSTestMessages.query(id: UInt16(id), name: "q.test").withUnsafeBytes { dns.forward(query: $0) { _ in } }
        }
        #expect(dns.pendingCount == 2)
        #expect(dns.counters.refusedPendingFull == 1)
        dns.close()
        #expect(loop.timerCount == 0)
    }

    @Test func tcpQueryIsForwardedOverTCP() throws {
        let loop = try EventLoop()
        let server = try LoopbackDNSServer(loop: loop)
        let dns = try forwarder(loop, [server.address])
        var answers: [DNSMessage] = []
        var reply: [UInt8]?
        DNSTestMessages.query(id: 0x4242, name: "tcp.example.com").withUnsafeBytes { query in
            dns.forwardOverTCP(query: query) {
                reply = Array($0.bytes)
                answers.append($0.message)
                loop.handle.stop()
            }
        }
        try loop.run()
        let message = try #require(reply).withUnsafeBytes { try DNSMessage.parse($0) }
        #expect(message.header.id == 0x4242)
        #expect(message.answers.map(\.data) == [.a(IPv4Address(192, 0, 2, 1))])
        #expect(answers.count == 1)
        #expect(dns.counters.tcpAnswers == 1 && dns.counters.tcpFailures == 0)
        #expect(loop.timerCount == 0)
        dns.close()
    }

    @Test func tcpToAClosedUpstreamFailsCleanly() throws {
        let loop = try EventLoop()
        let port = try unusedLoopbackPort()
        let dns = try forwarder(loop, [SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port)])
        var replies = 0
        DNSTestMessages.query(id: 1, name: "x.test").withUnsafeBytes {
            dns.forwardOverTCP(query: $0) { _ in replies += 1 }
        }
        try loop.runOnce(blocking: false)
        #expect(replies == 0)
        #expect(dns.counters.tcpFailures == 1)
        dns.close()
    }

    @Test func streamFramerSplitsAndJoinsMessages() throws {
        let a = DNSTestMessages.query(id: 1, name: "a.test")
        let b = DNSTestMessages.query(id: 2, name: "b.test")
        let stream =
            try #require(a.withUnsafeBytes { DNSStreamFramer.frame($0) })
            + (try #require(b.withUnsafeBytes { DNSStreamFramer.frame($0) }))
        var framer = DNSStreamFramer()
        var messages: [[UInt8]] = []
        // Feed in 3-byte pieces: messages come out whole, in order.
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 3, stream.count)
            let out = try stream[offset..<end].withUnsafeBytes { try framer.append($0) }
            #expect(out.consumed == end - offset)
            messages += out.messages
            offset = end
        }
        #expect(messages == [a, b])
        #expect(framer.bufferedByteCount == 0)
        var bad = DNSStreamFramer()
        #expect(throws: DNSFramingError.badLength(3)) {
            _ = try [UInt8]([0, 3, 1, 2, 3]).withUnsafeBytes { try bad.append($0) }
        }
    }

    @Test func resolvConfNameservers() {
        let text = """
            # generated
            search example.org
            nameserver 127.0.0.53
            nameserver   ::1
            nameserver fe80::1%eth0
            nameserver bogus
            options edns0
            nameserver 10.0.0.1
            nameserver 10.0.0.2
            """
        #expect(
            ResolvConf.nameservers(in: text) == [
                .v4(IPv4Address(127, 0, 0, 53)), .v6(.loopback), .v4(IPv4Address(10, 0, 0, 1))
            ])
    }
}
