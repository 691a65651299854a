import Glibc
import Testing
import UserNet
import Wire

@Suite struct HostSocketTests {
    /// Runs a connect on a fresh loop to its end and returns the outcome.
    func connectOutcome(to destination: SocketAddress, timeout: UInt64 = 5_000_000_000) throws -> Result<
        HostTCPSocket, HostConnectError
    > {
        let loop = try EventLoop()
        var outcome: Result<HostTCPSocket, HostConnectError>?
        HostConnector.connect(to: destination, on: loop, timeoutNanoseconds: timeout) { result in
            outcome = result
            loop.handle.stop()
        }
        if outcome == nil { try loop.run() }
        #expect(loop.registrationCount == 0, "the connector must leave nothing registered")
        #expect(loop.timerCount == 0, "the connector must leave no timer behind")
        return try #require(outcome)
    }

    @Test func connectToAListeningPortSucceeds() throws {
        let listener = try LoopbackListener()
        let result = try connectOutcome(to: listener.address)
        let socket = try result.get()
        let peer = listener.accept()
        defer { close(peer) }
        #expect(peer >= 0)
        #expect(try socket.localAddress().address == .v4(IPv4Address(127, 0, 0, 1)))
    }

    @Test func connectToAClosedPortIsRefusedAndMapsToReset() throws {
        let port = try unusedLoopbackPort()
        let result = try connectOutcome(to: SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port))
        guard case .failure(.failed(let failure)) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(failure == .refused)
        #expect(failure.appReply == .tcpReset)
    }

    @Test func connectThatNeverCompletesTimesOut() throws {
        // A listener whose accept queue is full drops further SYNs, so the connect hangs until
        // the gateway's own deadline.
        let listener = try LoopbackListener(backlog: 0)
        var fillers: [HostTCPSocket] = []
        var result: Result<HostTCPSocket, HostConnectError>?
        for _ in 0..<8 {
            let attempt = try connectOutcome(to: listener.address, timeout: 300_000_000)
            if case .success(let socket) = attempt {
                fillers.append(socket)
                continue
            }
            result = attempt
            break
        }
        _ = fillers
        guard case .failure(.failed(let failure)) = try #require(result) else {
            Issue.record("expected a timeout, got \(String(describing: result))")
            return
        }
        #expect(failure == .timedOut)
        #expect(failure.appReply == .icmpUnreachable(.host))
    }

    @Test func errnoMapsToTheReplyTheAppGets() {
        #expect(ConnectFailure(errno: ECONNREFUSED).appReply == .tcpReset)
        #expect(ConnectFailure(errno: EHOSTUNREACH) == .hostUnreachable)
        #expect(ConnectFailure(errno: EHOSTUNREACH).appReply == .icmpUnreachable(.host))
        #expect(ConnectFailure(errno: ENETUNREACH).appReply == .icmpUnreachable(.network))
        #expect(ConnectFailure(errno: ETIMEDOUT).appReply == .icmpUnreachable(.host))
        #expect(ConnectFailure(errno: EACCES).appReply == .icmpUnreachable(.administrativelyProhibited))
        #expect(UnreachableReason.administrativelyProhibited.icmpv4Code == 13)
        #expect(UnreachableReason.port.icmpv6Code == 4)
    }

    @Test func bytesFlowBothWaysAndHalfCloseDeliversEOF() throws {
        let listener = try LoopbackListener()
        let socket = try connectOutcome(to: listener.address).get()
        let peer = listener.accept()
        defer { close(peer) }
        let message = Array("hello host".utf8)
        let sent = try message.withUnsafeBytes { try socket.write($0) }
        #expect(sent == .done(message.count))
        try socket.shutdownWrite()
        #expect(readToEnd(peer) == message, "peer reads the bytes, then EOF from SHUT_WR")
        // The other direction still works after our half-close.
        writeAll(peer, "reply")
        shutdown(peer, Int32(SHUT_WR))
        var buffer = [UInt8](repeating: 0, count: 64)
        var received: [UInt8] = []
        let loop = try EventLoop()
        let registration = try loop.register(fd: socket.fd, interest: .read) { _ in loop.handle.stop() }
        try loop.run()
        loop.unregister(registration)
        while case .done(let n) = try buffer.withUnsafeMutableBytes({ try socket.read(into: $0) }), n > 0 {
            received += buffer[0..<n]
        }
        #expect(received == Array("reply".utf8))
    }

    @Test func abortiveCloseResetsThePeer() throws {
        let listener = try LoopbackListener()
        let socket = try connectOutcome(to: listener.address).get()
        let peer = listener.accept()
        defer { close(peer) }
        socket.abort()
        var byte: UInt8 = 0
        let n = read(peer, &byte, 1)
        #expect(n == -1 && errno == ECONNRESET, "SO_LINGER 0 close must reach the peer as RST")
    }

    @Test func udpSocketExchangesDatagramsAndReportsPortUnreachable() throws {
        // An echo peer on loopback.
        let peer = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(peer) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(peer, sa, length) == 0 ? getsockname(peer, sa, &length) : -1
            }
        }
        let peerAddress = SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: UInt16(bigEndian: sin.sin_port))
        let udp = try HostUDPSocket(connectingTo: peerAddress)
        let payload = Array("query".utf8)
        #expect(try payload.withUnsafeBytes { try udp.send($0) } == .done(5))
        var buffer = [UInt8](repeating: 0, count: 64)
        var from = sockaddr_storage()
        var fromLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &from) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                recvfrom(peer, &buffer, buffer.count, 0, $0, &fromLength)
            }
        }
        #expect(got == 5)
        _ = withUnsafePointer(to: &from) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(peer, "answer", 6, 0, $0, fromLength) }
        }
        let loop = try EventLoop()
        let registration = try loop.register(fd: udp.fd, interest: .read) { _ in loop.handle.stop() }
        try loop.run()
        #expect(try buffer.withUnsafeMutableBytes { try udp.receive(into: $0) } == .done(6))
        #expect(Array(buffer[0..<6]) == Array("answer".utf8))
        loop.unregister(registration)

        // Now to a closed port: the ICMP port unreachable lands in the error queue.
        let closed = try HostUDPSocket(
            connectingTo: SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: try unusedLoopbackPort()))
        _ = try? payload.withUnsafeBytes { try closed.send($0) }
        let errorRegistration = try loop.register(fd: closed.fd, interest: .read) { _ in loop.handle.stop() }
        try loop.run()
        loop.unregister(errorRegistration)
        let report = try #require(closed.readError())
        #expect(report.isV6 == false)
        #expect(report.type == 3 && report.code == 3, "ICMP destination unreachable, port unreachable")
        #expect(report.errno == ECONNREFUSED)
        #expect(closed.readError() == nil)
    }

    @Test func pingSocketWorksOrIsReportedForbidden() throws {
        let destination = IPAddress.v4(IPv4Address(127, 0, 0, 1))
        var opener = PingSocketOpener()
        if !pingSocketsAllowed() {
            // This machine's ping_group_range excludes us: the open must say exactly that,
            // and the opener must count it.
            #expect(throws: PingSocketError.forbiddenByPingGroupRange) {
                _ = try HostPingSocket(destination: destination)
            }
            let refused = opener.open(destination: destination)
            #expect(refused == nil)
            #expect(opener.counters == PingSocketOpener.Counters(opened: 0, forbidden: 1, failed: 0))
            return
        }
        let opened = opener.open(destination: destination)
        #expect(opened != nil)
        #expect(opener.counters.opened == 1)
        let ping = try HostPingSocket(destination: destination)
        var scratch = [UInt8](repeating: 0, count: 64)
        let data = Array("abcdefgh".utf8)
        let sent = try scratch.withUnsafeMutableBytes { s in
            try data.withUnsafeBytes { try ping.sendEcho(sequence: 42, data: $0, scratch: s) }
        }
        #expect(sent == .done(16))
        let loop = try EventLoop()
        _ = try loop.register(fd: ping.fd, interest: .read) { _ in loop.handle.stop() }
        try loop.run()
        var buffer = [UInt8](repeating: 0, count: 128)
        let received = try buffer.withUnsafeMutableBytes { try ping.receiveReply(into: $0) }
        #expect(received == .reply(HostPingSocket.EchoReply(sequence: 42, dataLength: 8)))
        #expect(Array(buffer[8..<16]) == data)
    }
}

@Suite struct HostAddressesTests {
    @Test func theSnapshotHoldsThisNamespacesAddresses() {
        let addresses = HostAddresses.snapshot()
        #expect(addresses.contains(.v4(IPv4Address(127, 0, 0, 1))), "loopback is an interface address")
        #expect(addresses.allSatisfy { !$0.isV4 || $0.ipv4 != IPv4Address.any })
    }
}
