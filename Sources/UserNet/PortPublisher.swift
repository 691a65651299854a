// The host side of published ports: a listening TCP socket (or a bound UDP socket) per
// `-p`, on the event loop. Each accepted connection is handed over with the client's address,
// which the gateway keeps as the inward connection's source when it is not loopback.

import CNetShims
import Glibc
import Posix
import Wire

public final class PortPublisher {
    public struct Counters: Sendable, Equatable {
        public var accepted: UInt64 = 0
        public var acceptErrors: UInt64 = 0
        public var datagrams: UInt64 = 0
    }

    public typealias AcceptHandler = (_ connection: HostTCPSocket, _ client: SocketAddress, _ port: PublishedPort) ->
        Void
    public typealias DatagramHandler = (
        _ payload: UnsafeRawBufferPointer, _ client: SocketAddress, _ port: PublishedPort
    ) -> Void

    public let port: PublishedPort
    /// On a named network, the member the port leads to (its number and address); nil: the
    /// gateway's one app, at `NetworkConfiguration.appV4`.
    var member: (id: UInt32, address: IPv4Address)?
    public private(set) var counters = Counters()
    private let loop: EventLoop
    private var fd: Int32
    private var registration: EventLoop.Registration?
    private var receiveBuffer: UnsafeMutableRawBufferPointer?

    /// Accepts per readiness report before yielding to the loop (fairness to other fds).
    static let acceptBatch = 64

    /// Listens on `port`'s host address and port (TCP) and calls `onAccept` for each connection.
    public convenience init(
        tcp port: PublishedPort, loop: EventLoop, backlog: Int32 = 128, onAccept: @escaping AcceptHandler
    ) throws(EventLoopError) {
        try self.init(
            tcp: port, socket: try Self.openSocket(for: port, backlog: backlog), loop: loop, onAccept: onAccept)
    }

    /// Serves a socket `openSocket(for:)` made (perhaps in another process, before the gateway
    /// gave up the privilege to bind low ports): owned from here, closed on every path.
    public init(tcp port: PublishedPort, socket: Int32, loop: EventLoop, onAccept: @escaping AcceptHandler)
        throws(EventLoopError)
    {
        self.port = port
        self.loop = loop
        fd = socket
        registration = try register { [unowned self] in self.acceptReady(onAccept) }
    }

    /// Binds `port`'s host address and port (UDP) and calls `onDatagram` for each datagram.
    public convenience init(udp port: PublishedPort, loop: EventLoop, onDatagram: @escaping DatagramHandler)
        throws(EventLoopError)
    {
        try self.init(udp: port, socket: try Self.openSocket(for: port), loop: loop, onDatagram: onDatagram)
    }

    /// Serves a UDP socket `openSocket(for:)` made; owned from here.
    public init(udp port: PublishedPort, socket: Int32, loop: EventLoop, onDatagram: @escaping DatagramHandler)
        throws(EventLoopError)
    {
        self.port = port
        self.loop = loop
        fd = socket
        receiveBuffer = .allocate(byteCount: 65_535, alignment: 8)
        registration = try register { [unowned self] in self.datagramsReady(onDatagram) }
    }

    /// The host socket of one published port: bound to its host address and port, and listening
    /// when it is TCP. The caller owns it (until it hands it to an init above).
    public static func openSocket(for port: PublishedPort, backlog: Int32 = 128) throws(EventLoopError) -> Int32 {
        let fd = try boundSocket(port, type: Int32((port.transport == .tcp ? SOCK_STREAM : SOCK_DGRAM).rawValue))
        if port.transport == .tcp {
            do { try Syscall.listen(fd, backlog: backlog) } catch {
                Posix.close(fd)
                throw .system(error)
            }
        }
        return fd
    }

    deinit {
        close()
        receiveBuffer?.deallocate()
    }

    public func close() {
        if let registration { loop.unregister(registration) }
        registration = nil
        if fd >= 0 { Posix.close(fd) }
        fd = -1
    }

    /// Sends a datagram from the published UDP port to `client` (the app's answer to a
    /// datagram that came in on it). A full socket buffer drops it, as UDP may.
    public func send(_ payload: UnsafeRawBufferPointer, to client: SocketAddress) throws(PosixError) -> IOResult {
        try Posix.io("sendto") {
            client.withSockAddr {
                sendto(fd, payload.baseAddress, payload.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL), $0, $1)
            }
        }
    }

    /// The bound address (the real port when `hostPort` was chosen by the kernel in tests).
    public func localAddress() throws(PosixError) -> SocketAddress { try Syscall.localAddress(fd) }

    private func register(_ ready: @escaping () -> Void) throws(EventLoopError) -> EventLoop.Registration {
        do {
            return try loop.register(fd: fd, interest: .read) { _ in ready() }
        } catch {
            Posix.close(fd)
            fd = -1
            throw error
        }
    }

    private static func boundSocket(_ port: PublishedPort, type: Int32) throws(EventLoopError) -> Int32 {
        do throws(PosixError) {
            guard let address = port.hostAddress else {
                // Every address: one IPv6 socket that takes IPv4 too (whatever
                // net.ipv6.bindv6only says), or an IPv4 one where the host has no IPv6.
                do {
                    return try bound(SocketAddress(.v6(.any), port: port.hostPort), type: type, v6Only: false)
                } catch  where error.errno == EAFNOSUPPORT {
                    return try bound(SocketAddress(.v4(.any), port: port.hostPort), type: type, v6Only: false)
                }
            }
            // An IPv6 address given, [::] too, is that family only (docker's meaning).
            return try bound(SocketAddress(address, port: port.hostPort), type: type, v6Only: !address.isV4)
        } catch {
            throw .system(error)
        }
    }

    private static func bound(_ address: SocketAddress, type: Int32, v6Only: Bool) throws(PosixError) -> Int32 {
        let fd = try Syscall.socket(address.family, type, 0)
        do throws(PosixError) {
            try Syscall.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if address.family == AF_INET6 {
                try Syscall.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, v6Only ? 1 : 0)
            }
            try Syscall.bind(fd, address)
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    private func acceptReady(_ onAccept: AcceptHandler) {
        for _ in 0..<Self.acceptBatch {
            var storage = sockaddr_storage()
            let client: Int32
            do throws(PosixError) {
                client = try Posix.call("accept4") { usernet_accept_nonblocking(fd, &storage) }
            } catch {
                if error.errno == EAGAIN || error.errno == EWOULDBLOCK { return }
                if error.errno == ECONNABORTED { continue }
                // EMFILE and friends: count it; the pending connection stays queued.
                counters.acceptErrors &+= 1
                return
            }
            guard let from = SocketAddress(storage: storage) else {
                Posix.close(client)
                continue
            }
            counters.accepted &+= 1
            onAccept(HostTCPSocket(adopting: client), from, port)
        }
    }

    private func datagramsReady(_ onDatagram: DatagramHandler) {
        guard let buffer = receiveBuffer else { return }
        for _ in 0..<Self.acceptBatch {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            // Any failure, EAGAIN included, ends this batch; epoll calls again when more is ready.
            let received = try? Posix.io("recvfrom") {
                withUnsafeMutablePointer(to: &storage) { p in
                    p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT), $0, &length)
                    }
                }
            }
            guard case .done(let n)? = received else { return }
            guard let from = SocketAddress(storage: storage) else { continue }
            counters.datagrams &+= 1
            onDatagram(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), from, port)
        }
    }
}
