// A throwaway pair of network namespaces joined by a veth pair: the "inner" namespace is the
// kernel side (it has an address and sends real ARP/ICMP/UDP), the "outer" one holds the end
// the endpoint reads with AF_PACKET. A NamespaceLab makes them (names with the pid and a
// counter) and deletes both (and with them the veth pair) when the VethLab goes, which every
// test reaches through `defer` or scope exit, also when an expectation fails.

import CNetShims
import FDBased
import Foundation
import Glibc
import NetstackTesting
import Synchronization
import Wire

final class VethLab: @unchecked Sendable {
    let inner: String
    let outer: String
    let innerLink: String
    let outerLink: String
    let innerAddress: IPv4Address
    /// An address on the link that nobody holds: the endpoint plays it.
    let endpointAddress: IPv4Address
    let innerMAC: MACAddress
    /// Owns the namespaces: they go with it, also when this initializer throws.
    private let lab: NamespaceLab

    init(mtu: Int = 1500) throws {
        let lab = NamespaceLab()
        self.lab = lab
        inner = "fdb-\(lab.tag)-in"
        outer = "fdb-\(lab.tag)-out"
        innerLink = "fdi\(lab.shortTag)"
        outerLink = "fdo\(lab.shortTag)"
        let third = UInt8(truncatingIfNeeded: lab.number % 250 + 1)
        innerAddress = IPv4Address(10, 213, third, 1)
        endpointAddress = IPv4Address(10, 213, third, 2)
        for name in [inner, outer] { try lab.addNamespace(name, sysctls: NamespaceLab.ipv6Off) }
        try lab.addVeth(innerLink, in: inner, peer: outerLink, in: outer, mtu: mtu)
        try lab.bringUp(innerLink, in: inner, addresses: ["\(innerAddress)/24"])
        try lab.bringUp(outerLink, in: outer)
        let text = try lab.exec(in: inner, ["cat", "/sys/class/net/\(innerLink)/address"])
        guard let mac = MACAddress(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw NamespaceLab.Failure(description: "cannot read the MAC of \(innerLink): \(text)")
        }
        innerMAC = mac
    }

    @discardableResult
    func inInner(_ arguments: [String]) throws -> String {
        try lab.exec(in: inner, arguments)
    }

    /// Runs `body` on a fresh thread that has entered namespace `name` (setns affects only the
    /// calling thread; sockets keep the namespace they were made in).
    static func inNamespace(_ name: String, _ body: @escaping @Sendable () -> Int32) -> Int32 {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Int32
            let namespace: String
            var result: Int32 = -1
            init(_ body: @escaping @Sendable () -> Int32, _ namespace: String) {
                self.body = body
                self.namespace = namespace
            }
        }
        let box = Box(body, name)
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                let box = Unmanaged<Box>.fromOpaque(argument).takeUnretainedValue()
                let nsfd = open("/run/netns/\(box.namespace)", O_RDONLY | O_CLOEXEC)
                guard nsfd >= 0 else { return nil }
                defer { close(nsfd) }
                guard LibC.setns(nsfd, LibC.cloneNewNet) == 0 else { return nil }
                box.result = box.body()
                return nil
            }, Unmanaged.passUnretained(box).toOpaque())
        guard created == 0 else { return -1 }
        pthread_join(thread, nil)
        return box.result
    }

    /// An AF_PACKET SOCK_RAW socket for every protocol, bound to the outer end of the veth.
    func outerPacketSocket() -> Int32 {
        let link = outerLink
        return Self.inNamespace(outer) { Self.packetSocket(link) }
    }

    /// The same on the inner end (a kernel-side raw sender).
    func innerPacketSocket() -> Int32 {
        let link = innerLink
        return Self.inNamespace(inner) { Self.packetSocket(link) }
    }

    static func packetSocket(_ link: String) -> Int32 {
        let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(LibC.ethernetAllProtocols.bigEndian))
        guard fd >= 0 else { return -1 }
        var address = sockaddr_ll()
        address.sll_family = UInt16(AF_PACKET)
        address.sll_protocol = LibC.ethernetAllProtocols.bigEndian
        address.sll_ifindex = Int32(if_nametoindex(link))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_ll>.size))
            }
        }
        guard address.sll_ifindex != 0, bound == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    /// A UDP socket bound to `port` on every address of the inner namespace.
    func innerUDPSocket(port: UInt16) -> Int32 {
        Self.inNamespace(inner) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return -1 }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else {
                close(fd)
                return -1
            }
            return fd
        }
    }

    /// Link-level counters of a link, read inside its namespace.
    func linkCounter(inner isInner: Bool, _ name: String) throws -> UInt64 {
        let link = isInner ? innerLink : outerLink
        let text = try lab.exec(in: isInner ? inner : outer, ["cat", "/sys/class/net/\(link)/statistics/\(name)"])
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}

/// The C frame blaster (Benchmarks/bench-fdbased/reference.c), compiled for one test; the
/// caller unlinks the returned path.
enum ReferenceProgram {
    private static let counter = Mutex(0)

    static func build() throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/bench-fdbased/reference.c").path
        let n = counter.withLock { value in
            value += 1
            return value
        }
        let output = "/tmp/fdbased-reference-\(getpid())-\(n)"
        // cc when the machine has one, else the clang that ships with the Swift toolchain.
        do { try NamespaceLab.run(["cc", "-O2", "-o", output, source]) } catch {
            try NamespaceLab.run(["clang", "-O2", "-o", output, source])
        }
        return output
    }
}
