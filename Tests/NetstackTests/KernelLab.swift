// A throwaway pair of network namespaces joined by a veth pair, for tests against the Linux
// kernel: the "kernel" namespace holds one end with the app's address (10.0.2.100/24), the
// "stack" namespace holds the other end, read and written by the Swift stack through an
// AF_PACKET socket (the FDBased endpoint). Neither namespace has any other link, so nothing
// can leak out. A NamespaceLab makes them (names with the pid and a counter) and deletes both
// (and the veth with them) when the KernelLab goes, which every test reaches on every path.

import CNetShims
import Foundation
import Glibc
import NetstackTesting
import Wire

final class KernelLab: @unchecked Sendable {
    let kernelNamespace: String
    let stackNamespace: String
    let kernelLink: String
    let stackLink: String
    let kernelAddress = IPv4Address(10, 0, 2, 100)
    /// With `bottleneckMTU`: a third namespace behind the kernel one, which then routes
    /// (10.0.3.0/24 via `kernelAddress`); its link's kernel end has the smaller MTU.
    private(set) var farNamespace: String?
    let farAddress = IPv4Address(10, 0, 3, 2)
    /// Owns the namespaces: they go with it, also when this initializer throws.
    private let lab: NamespaceLab

    /// With `ipv6` the kernel namespace keeps IPv6, as a host that autoconfigures from router
    /// advertisements (accept_ra on, forwarding off); the stack's namespace never runs IPv6.
    init(mtu: Int = 1500, ipv6: Bool = false, bottleneckMTU: Int? = nil) throws {
        let lab = NamespaceLab()
        self.lab = lab
        kernelNamespace = "nsk-\(lab.tag)"
        stackNamespace = "nss-\(lab.tag)"
        kernelLink = "nsk\(lab.shortTag)"
        stackLink = "nss\(lab.shortTag)"
        // Set on `default` before the veth exists, so its end inherits them.
        let kernelIPv6 = [
            "net.ipv6.conf.all.forwarding=0", "net.ipv6.conf.default.accept_ra=1",
            "net.ipv6.conf.default.disable_ipv6=0"
        ]
        try lab.addNamespace(kernelNamespace, sysctls: ipv6 ? kernelIPv6 : NamespaceLab.ipv6Off)
        try lab.addNamespace(stackNamespace, sysctls: NamespaceLab.ipv6Off)
        try lab.addVeth(kernelLink, in: kernelNamespace, peer: stackLink, in: stackNamespace, mtu: mtu)
        try lab.bringUp(kernelLink, in: kernelNamespace, addresses: ["\(kernelAddress)/24"])
        if ipv6 {
            // The veth end was born in the kernel namespace: make sure the stack's end never
            // runs kernel IPv6 (its RS/NS/DAD would reach the stack's packet socket).
            try lab.exec(in: stackNamespace, ["sysctl", "-qw", "net.ipv6.conf.\(stackLink).disable_ipv6=1"])
        }
        try lab.bringUp(stackLink, in: stackNamespace)
        if let bottleneckMTU { try addRouter(toward: bottleneckMTU) }
    }

    /// The router sends no ICMP at all (a policy rule routes every ICMP it originates to a
    /// blackhole): a path that drops big segments silently, as where ICMP is filtered.
    func filterRouterICMP() throws {
        try NamespaceLab.run(["ip", "-n", kernelNamespace, "rule", "add", "ipproto", "icmp", "table", "100"])
        try NamespaceLab.run(["ip", "-n", kernelNamespace, "route", "add", "blackhole", "default", "table", "100"])
    }

    /// Makes the kernel namespace a router to `farNamespace`, over a veth whose router end has
    /// MTU `bottleneck` (the far end keeps `mtu`): what we send larger is dropped there with an
    /// ICMP "fragmentation needed", while the far host's MSS does not give the bottleneck away.
    private func addRouter(toward bottleneck: Int) throws {
        let far = "nsf-\(lab.tag)"
        try lab.addNamespace(far, sysctls: NamespaceLab.ipv6Off)
        farNamespace = far
        let routerLink = "nsr\(lab.shortTag)"
        let farLink = "nsf\(lab.shortTag)"
        try lab.addVeth(routerLink, in: kernelNamespace, peer: farLink, in: far)
        try lab.exec(in: kernelNamespace, ["ip", "link", "set", routerLink, "mtu", "\(bottleneck)"])
        try lab.exec(in: kernelNamespace, ["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        try lab.bringUp(routerLink, in: kernelNamespace, addresses: ["10.0.3.1/24"])
        try lab.bringUp(farLink, in: far, addresses: ["\(farAddress)/24"])
        try lab.exec(in: far, ["ip", "route", "add", "default", "via", "10.0.3.1"])
    }

    /// Starts `process` with no signal blocked. posix_spawn (under Foundation's Process) hands
    /// the child the calling thread's signal mask, and Swift Testing's worker threads block most
    /// signals: a long-running child started from one (tcpdump) would ignore SIGINT/SIGTERM
    /// for good. The calling thread's mask is restored afterwards.
    static func runWithSignalsUnblocked(_ process: Process) throws {
        var empty = sigset_t()
        var saved = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
    }

    /// Runs a command inside the kernel namespace; returns its output and exit status.
    func inKernelNamespace(_ arguments: [String]) throws -> (output: String, status: Int32) {
        try NamespaceLab.execute(["ip", "netns", "exec", kernelNamespace] + arguments)
    }

    /// Runs `body` on a fresh thread inside namespace `name` (setns changes only the calling
    /// thread; sockets keep the namespace they were made in).
    static func inNamespace<T: Sendable>(_ name: String, _ body: @escaping @Sendable () -> T) -> T? {
        let slot = ResultSlot<T>()
        runInNamespace(name) { slot.value = body() }
        return slot.value
    }

    /// The non-generic part: a C thread callback cannot capture a generic context.
    private static func runInNamespace(_ name: String, _ work: @escaping @Sendable () -> Void) {
        let job = NamespaceJob(work, name)
        var thread = pthread_t()
        let started = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                let job = Unmanaged<NamespaceJob>.fromOpaque(argument).takeUnretainedValue()
                let nsfd = open("/run/netns/\(job.namespace)", O_RDONLY | O_CLOEXEC)
                guard nsfd >= 0 else { return nil }
                defer { close(nsfd) }
                guard Native.setns(nsfd, Native.cloneNewNet) == 0 else { return nil }
                job.work()
                return nil
            }, Unmanaged.passUnretained(job).toOpaque())
        guard started == 0 else { return }
        pthread_join(thread, nil)
    }

    /// An AF_PACKET socket bound to the stack's end of the veth, or -1.
    func stackPacketSocket() -> Int32 {
        packetSocket(namespace: stackNamespace, link: stackLink)
    }

    /// An AF_PACKET socket on the kernel's end (a raw sender of hostile frames), or -1.
    func kernelPacketSocket() -> Int32 {
        packetSocket(namespace: kernelNamespace, link: kernelLink)
    }

    private func packetSocket(namespace: String, link: String) -> Int32 {
        Self.packetSocket(namespace: namespace, link: link)
    }

    /// An AF_PACKET socket bound to `link` in `namespace`, or -1.
    static func packetSocket(namespace: String, link: String) -> Int32 {
        inNamespace(namespace) {
            let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(Native.ethernetAllProtocols.bigEndian))
            guard fd >= 0 else { return -1 }
            var address = sockaddr_ll()
            address.sll_family = UInt16(AF_PACKET)
            address.sll_protocol = Native.ethernetAllProtocols.bigEndian
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
        } ?? -1
    }
}

/// What a namespace thread runs.
private final class NamespaceJob: @unchecked Sendable {
    let work: @Sendable () -> Void
    let namespace: String
    init(_ work: @escaping @Sendable () -> Void, _ namespace: String) {
        self.work = work
        self.namespace = namespace
    }
}

/// Where a namespace thread leaves its result (read after the join).
private final class ResultSlot<T>: @unchecked Sendable {
    var value: T?
}

/// GNU bits the Glibc module does not export.
enum Native {
    nonisolated(unsafe) private static let handle = dlopen(nil, RTLD_NOW)
    /// <sched.h> CLONE_NEWNET, <linux/if_ether.h> ETH_P_ALL.
    static let cloneNewNet: Int32 = 0x4000_0000
    static let ethernetAllProtocols: UInt16 = 0x0003
    /// SOCK_DGRAM (the Glibc overlay hides it once CNetShims pulls in <sys/socket.h>).
    static let datagramSocket: Int32 = 2

    static func setns(_ fd: Int32, _ type: Int32) -> Int32 {
        typealias Function = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(handle, "setns") else { return -1 }
        return unsafeBitCast(symbol, to: Function.self)(fd, type)
    }

    static func monotonicNow() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
