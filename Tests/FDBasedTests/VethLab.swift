// A throwaway pair of network namespaces joined by a veth pair: the "inner" namespace is the
// kernel side (it has an address and sends real ARP/ICMP/UDP), the "outer" one holds the end
// the endpoint reads with AF_PACKET. Names carry the pid and a counter; both namespaces (and
// with them the veth pair) are deleted on deinit, which every test reaches through `defer` or
// scope exit, also when an expectation fails.

import CShims
import FDBased
import Foundation
import Glibc
import Synchronization
import Wire

final class VethLab: @unchecked Sendable {
    private static let counter = Mutex(0)

    let inner: String
    let outer: String
    let innerLink: String
    let outerLink: String
    let innerAddress: IPv4Address
    /// An address on the link that nobody holds: the endpoint plays it.
    let endpointAddress: IPv4Address
    let innerMAC: MACAddress
    private var created: [String] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init(mtu: Int = 1500) throws {
        let n = Self.counter.withLock { value in value += 1; return value }
        let pid = getpid()
        inner = "fdb-\(pid)-\(n)-in"
        outer = "fdb-\(pid)-\(n)-out"
        innerLink = "fdi\(pid % 100_000)x\(n)"
        outerLink = "fdo\(pid % 100_000)x\(n)"
        let third = UInt8(truncatingIfNeeded: n % 250 + 1)
        innerAddress = IPv4Address(10, 213, third, 1)
        endpointAddress = IPv4Address(10, 213, third, 2)
        do {
            for name in [inner, outer] {
                try Self.run(["ip", "netns", "add", name])
                created.append(name)
                // No IPv6 chatter (router solicitations, DAD) on the link: the tests count frames.
                try Self.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                              "net.ipv6.conf.default.disable_ipv6=1"])
            }
            try Self.run(["ip", "-n", inner, "link", "add", innerLink, "mtu", "\(mtu)", "type", "veth",
                          "peer", "name", outerLink, "mtu", "\(mtu)", "netns", outer])
            try Self.run(["ip", "-n", inner, "addr", "add", "\(innerAddress)/24", "dev", innerLink])
            try Self.run(["ip", "-n", inner, "link", "set", innerLink, "up"])
            try Self.run(["ip", "-n", outer, "link", "set", outerLink, "up"])
            let text = try Self.run(["ip", "netns", "exec", inner, "cat", "/sys/class/net/\(innerLink)/address"])
            guard let mac = MACAddress(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw Failure(description: "cannot read the MAC of \(innerLink): \(text)")
            }
            innerMAC = mac
        } catch {
            for name in created { _ = try? Self.run(["ip", "netns", "del", name]) }
            throw error
        }
    }

    deinit {
        for name in created { _ = try? Self.run(["ip", "netns", "del", name]) }
    }

    /// Runs a command to completion; throws with its output when it fails.
    @discardableResult
    static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let output = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(arguments.joined(separator: " ")) failed: \(output)")
        }
        return output
    }

    @discardableResult
    func inInner(_ arguments: [String]) throws -> String {
        try Self.run(["ip", "netns", "exec", inner] + arguments)
    }

    /// Runs `body` on a fresh thread that has entered namespace `name` (setns affects only the
    /// calling thread; sockets keep the namespace they were made in).
    static func inNamespace(_ name: String, _ body: @escaping @Sendable () -> Int32) -> Int32 {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Int32
            let namespace: String
            var result: Int32 = -1
            init(_ body: @escaping @Sendable () -> Int32, _ namespace: String) { self.body = body; self.namespace = namespace }
        }
        let box = Box(body, name)
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
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
        guard address.sll_ifindex != 0, bound == 0 else { close(fd); return -1 }
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
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else { close(fd); return -1 }
            return fd
        }
    }

    /// Link-level counters of a link, read inside its namespace.
    func linkCounter(inner isInner: Bool, _ name: String) throws -> UInt64 {
        let link = isInner ? innerLink : outerLink
        let text = try Self.run(["ip", "netns", "exec", isInner ? inner : outer, "cat",
                                 "/sys/class/net/\(link)/statistics/\(name)"])
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
        let n = counter.withLock { value in value += 1; return value }
        let output = "/tmp/fdbased-reference-\(getpid())-\(n)"
        try VethLab.run(["cc", "-O2", "-o", output, source])
        return output
    }
}
