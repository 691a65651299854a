// Thin wrappers, one per syscall the gateway uses: each retries EINTR and turns -1 into a
// PosixError carrying errno and the call's name (the swift-nio / swift-system habit).
// Calls that may legitimately say "not now" (EAGAIN, EINPROGRESS) return that as a value,
// because for a non-blocking fd it is an answer, not a failure.

import CShims
import Posix
import Glibc

/// Runs `body` until it returns something other than -1 with EINTR.
@inlinable
func retryingEINTR<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(PosixError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw PosixError(call: call, errno: code)
    }
}

/// The outcome of a non-blocking read or write.
public enum IOResult: Equatable, Sendable {
    /// This many bytes moved (0 on a read means end of stream).
    case done(Int)
    /// EAGAIN / EWOULDBLOCK: try again when epoll says so.
    case wouldBlock
}

enum Syscall {
    static func close(_ fd: Int32) {
        // close() must not be retried on EINTR on Linux: the fd is gone either way.
        _ = Glibc.close(fd)
    }

    static func read(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return .done(n) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw PosixError(call: "read", errno: code)
        }
    }

    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) -> IOResult {
        while true {
            let n = Glibc.write(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return .done(n) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw PosixError(call: "write", errno: code)
        }
    }

    /// send() with MSG_NOSIGNAL, so a peer that went away gives EPIPE instead of killing us.
    static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) -> IOResult {
        while true {
            let n = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL))
            if n >= 0 { return .done(n) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw PosixError(call: "send", errno: code)
        }
    }

    static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, flags: Int32 = 0) throws(PosixError) -> IOResult {
        while true {
            let n = Glibc.recv(fd, buffer.baseAddress, buffer.count, flags | Int32(MSG_DONTWAIT))
            if n >= 0 { return .done(n) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK { return .wouldBlock }
            throw PosixError(call: "recv", errno: code)
        }
    }

    /// Every AF_INET6 host socket is IPV6_V6ONLY: an IPv6 socket must never reach an IPv4
    /// destination through a mapped address (the policy judged it as IPv6).
    static func socket(_ domain: Int32, _ type: Int32, _ proto: Int32) throws(PosixError) -> Int32 {
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let fd = try retryingEINTR("socket") { Glibc.socket(domain, type | flags, proto) }
        guard domain == AF_INET6 else { return fd }
        do { try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, call: "setsockopt(IPV6_V6ONLY)") } catch {
            close(fd)
            throw error
        }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, call: String = "setsockopt") throws(PosixError) {
        var v = value
        _ = try retryingEINTR(call) {
            Glibc.setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size))
        }
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws(PosixError) {
        _ = try address.withSockAddr { (sa, len) throws(PosixError) in
            try retryingEINTR("bind") { Glibc.bind(fd, sa, len) }
        }
    }

    static func listen(_ fd: Int32, backlog: Int32) throws(PosixError) {
        _ = try retryingEINTR("listen") { Glibc.listen(fd, backlog) }
    }

    static func shutdown(_ fd: Int32, _ how: Int32) throws(PosixError) {
        _ = try retryingEINTR("shutdown") { Glibc.shutdown(fd, how) }
    }

    static func localAddress(_ fd: Int32) throws(PosixError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try withUnsafeMutablePointer(to: &storage) { p throws(PosixError) in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(PosixError) in
                try retryingEINTR("getsockname") { Glibc.getsockname(fd, sa, &length) }
            }
        }
        guard let address = SocketAddress(storage: storage) else {
            throw PosixError(call: "getsockname", errno: EAFNOSUPPORT)
        }
        return address
    }
}
