// An IP address with a port: what a host socket binds or connects to, and its sockaddr form.

import Glibc
import Wire

/// An IP address and a port: what a host socket binds or connects to.
public struct SocketAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(_ address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String {
        switch address {
        case .v4(let a): "\(a):\(port)"
        case .v6(let a): "[\(a)]:\(port)"
        }
    }

    var family: Int32 {
        address.isV4 ? AF_INET : AF_INET6
    }

    /// Builds a sockaddr for `body` on the stack; nothing is allocated.
    func withSockAddr<R, E: Error>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws(E) -> R) throws(E) -> R {
        switch address {
        case .v4(let a):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr = in_addr(s_addr: a.rawValue.bigEndian)
            return try withUnsafePointer(to: &sin) { p throws(E) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(E) in
                    try body(sa, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        case .v6(let a):
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { bytes in
                bytes.storeBytes(of: a.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                bytes.storeBytes(of: a.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            return try withUnsafePointer(to: &sin6) { p throws(E) in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa throws(E) in
                    try body(sa, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        }
    }

    /// Reads an AF_INET / AF_INET6 sockaddr; nil for any other family.
    init?(storage: sockaddr_storage) {
        var copy = storage
        let parsed: SocketAddress? = withUnsafeBytes(of: &copy) { raw in
            switch Int32(storage.ss_family) {
            case AF_INET:
                let sin = raw.loadUnaligned(as: sockaddr_in.self)
                return SocketAddress(
                    .v4(IPv4Address(rawValue: UInt32(bigEndian: sin.sin_addr.s_addr))),
                    port: UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.loadUnaligned(as: sockaddr_in6.self)
                let (high, low) = withUnsafeBytes(of: sin6.sin6_addr) { b in
                    (
                        UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                        UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                    )
                }
                return SocketAddress(.v6(IPv6Address(high: high, low: low)), port: UInt16(bigEndian: sin6.sin6_port))
            default:
                return nil
            }
        }
        guard let parsed else { return nil }
        self = parsed
    }
}
