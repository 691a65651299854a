// Small loopback helpers for the tests: listeners, blocking clients, fds. Loopback only.

import Glibc
import UserNet
import Wire

enum TestFailure: Error { case setup(String, Int32) }

/// A listening TCP socket on 127.0.0.1, port chosen by the kernel; closed on deinit.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init(backlog: Int32 = 16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.fd = fd
        guard fd >= 0 else { throw TestFailure.setup("socket", errno) }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        let bound = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            close(fd)
            throw TestFailure.setup("bind/listen", errno)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: sin.sin_port)
    }

    deinit { close(fd) }

    var address: SocketAddress { SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: port) }

    /// Blocking accept.
    func accept() -> Int32 { Glibc.accept(fd, nil, nil) }
}

/// A port on 127.0.0.1 that nobody listens on: bind an ephemeral port, then close it.
func unusedLoopbackPort() throws -> UInt16 {
    let listener = try LoopbackListener()
    return listener.port
}

/// Blocking write of all of `text` to a connected fd.
func writeAll(_ fd: Int32, _ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if n <= 0 { return }
        offset += n
    }
}

/// Blocking read of everything until EOF (bounded to 1 MiB).
func readToEnd(_ fd: Int32) -> [UInt8] {
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while out.count < 1 << 20 {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return out
}

/// Whether the current process may open unprivileged ICMP sockets (net.ipv4.ping_group_range).
func pingSocketsAllowed() -> Bool {
    guard let file = fopen("/proc/sys/net/ipv4/ping_group_range", "r") else { return false }
    defer { fclose(file) }
    var low: Int64 = 0, high: Int64 = 0
    guard
        withUnsafeMutablePointer(
            to: &low,
            { l in
                withUnsafeMutablePointer(to: &high) { h in
                    withVaList([l, h]) { vfscanf(file, "%lld %lld", $0) }
                }
            }) == 2
    else { return false }
    let gid = Int64(getegid())
    if low <= gid && gid <= high { return true }
    var groups = [gid_t](repeating: 0, count: 256)
    let count = getgroups(Int32(groups.count), &groups)
    return count > 0 && groups[0..<Int(count)].contains { low <= Int64($0) && Int64($0) <= high }
}
