// The host-socket calls the gateway makes, each through Posix (EINTR retried, failures named).
// Reads and sends on a non-blocking socket return IOResult: EAGAIN is an answer, not a failure.

import CNetShims
import Glibc
import Posix

enum Syscall {
    /// send() with MSG_NOSIGNAL, so a peer that went away gives EPIPE instead of killing us.
    static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) -> IOResult {
        try Posix.io("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }

    /// One send of two buffers, `first` then `second` (sendmsg with two iovecs; MSG_NOSIGNAL).
    static func send(_ fd: Int32, _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer)
        throws(PosixError) -> IOResult
    {
        guard second.count > 0 else { return try send(fd, first) }
        var vectors = (
            iovec(iov_base: UnsafeMutableRawPointer(mutating: first.baseAddress), iov_len: first.count),
            iovec(iov_base: UnsafeMutableRawPointer(mutating: second.baseAddress), iov_len: second.count)
        )
        return try withUnsafeMutableBytes(of: &vectors) { raw throws(PosixError) in
            var message = msghdr()
            message.msg_iov = raw.baseAddress?.assumingMemoryBound(to: iovec.self)
            message.msg_iovlen = 2
            return try Posix.io("sendmsg") { Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
        }
    }

    static func recv(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult {
        try Posix.io("recv") { Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
    }

    /// One receive into two buffers, `first` then `second` (recvmsg with two iovecs).
    static func recv(_ fd: Int32, _ first: UnsafeMutableRawBufferPointer, _ second: UnsafeMutableRawBufferPointer)
        throws(PosixError) -> IOResult
    {
        guard second.count > 0 else { return try recv(fd, first) }
        var vectors = (
            iovec(iov_base: first.baseAddress, iov_len: first.count),
            iovec(iov_base: second.baseAddress, iov_len: second.count)
        )
        return try withUnsafeMutableBytes(of: &vectors) { raw throws(PosixError) in
            var message = msghdr()
            message.msg_iov = raw.baseAddress?.assumingMemoryBound(to: iovec.self)
            message.msg_iovlen = 2
            return try Posix.io("recvmsg") { Glibc.recvmsg(fd, &message, Int32(MSG_DONTWAIT)) }
        }
    }

    /// Every AF_INET6 host socket is IPV6_V6ONLY: an IPv6 socket must never reach an IPv4
    /// destination through a mapped address (the policy judged it as IPv6).
    static func socket(_ domain: Int32, _ type: Int32, _ proto: Int32) throws(PosixError) -> Int32 {
        let flags = Int32(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        let fd = try Posix.call("socket") { Glibc.socket(domain, type | flags, proto) }
        guard domain == AF_INET6 else { return fd }
        do throws(PosixError) {
            try setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1, call: "setsockopt(IPV6_V6ONLY)")
        } catch {
            Posix.close(fd)
            throw error
        }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, call: String = "setsockopt")
        throws(PosixError)
    {
        var v = value
        _ = try Posix.call(call) { Glibc.setsockopt(fd, level, name, &v, socklen_t(MemoryLayout<Int32>.size)) }
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws(PosixError) {
        _ = try Posix.call("bind") { address.withSockAddr { Glibc.bind(fd, $0, $1) } }
    }

    static func connect(_ fd: Int32, _ address: SocketAddress) throws(PosixError) {
        _ = try Posix.call("connect") { address.withSockAddr { Glibc.connect(fd, $0, $1) } }
    }

    static func listen(_ fd: Int32, backlog: Int32) throws(PosixError) {
        _ = try Posix.call("listen") { Glibc.listen(fd, backlog) }
    }

    static func shutdown(_ fd: Int32, _ how: Int32) throws(PosixError) {
        _ = try Posix.call("shutdown") { Glibc.shutdown(fd, how) }
    }

    static func localAddress(_ fd: Int32) throws(PosixError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = try Posix.call("getsockname") {
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.getsockname(fd, $0, &length) }
            }
        }
        guard let address = SocketAddress(storage: storage) else {
            throw PosixError(call: "getsockname", errno: EAFNOSUPPORT)
        }
        return address
    }
}
