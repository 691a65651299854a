// The addresses of the host's own interfaces, read once as the gateway starts (in the
// namespace its host sockets use). A service bound to 0.0.0.0 or :: answers on each of them
// exactly as on loopback, so they are protected like loopback (DestinationMapping). An
// address the host gains later is not seen: the snapshot is what the README promises.

import Glibc
import Wire

public enum HostAddresses {
    /// Every IPv4 and IPv6 address of every interface, loopback included; empty if
    /// getifaddrs fails (the loopback and link-local protections do not depend on it).
    public static func snapshot() -> Set<IPAddress> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var out: Set<IPAddress> = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let address = entry.pointee.ifa_addr.flatMap(Self.address(of:)) { out.insert(address) }
            cursor = entry.pointee.ifa_next
        }
        return out
    }

    private static func address(of pointer: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        let family = Int32(pointer.pointee.sa_family)
        let length =
            family == AF_INET
            ? MemoryLayout<sockaddr_in>.size : family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : 0
        guard length > 0 else { return nil }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: length))
        }
        return SocketAddress(storage: storage)?.address
    }
}
