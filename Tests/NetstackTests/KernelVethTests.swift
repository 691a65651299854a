// The stack against the Linux kernel over a real veth (see KernelLab): the kernel pings the
// Swift stack and runs a UDP echo client against it, payloads 1 to 65,507 bytes at MTU 1500,
// so both sides fragment and reassemble.

import FDBased
import Foundation
import Glibc
import Link
import Netstack
import NetstackTesting
import Synchronization
import TestPrivileges
import Testing
import Wire

/// The endpoint reads the ring (`.packetMMap`): a kernel socket's UDP over veth carries only a
/// partial checksum (CHECKSUM_PARTIAL), and the ring's TP_STATUS_CSUMNOTREADY is what tells the
/// stack so; a plain read of the socket cannot, and the stack would rightly drop those datagrams.
///
/// Runs a stack over an FDBased endpoint on its own thread, in the owner's role: poll the fd,
/// advance the clock, dispatch, flush. Everything on the stack happens on that thread until
/// `stop()` returns.
final class StackRunner: @unchecked Sendable, UDPEndpointDelegate {
    let stack: Stack
    let endpoint: FDBasedEndpoint
    let nic: NICID
    let fd: Int32
    private let stopping = Atomic<Bool>(false)
    private var thread = pthread_t()
    private var running = false
    var echoed = 0

    init(fd: Int32, address: IPv4Address) throws {
        self.fd = fd
        endpoint = try FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: 1500, address: MACAddress(0x02, 0, 0, 0, 0, 0x02),
                dispatchMode: .packetMMap, driver: .external,
                ringSize: 4 << 20))
        stack = Stack()
        nic = stack.addNIC(endpoint, name: "veth")
        stack.addAddress(IPv4Subnet(address, prefixLength: 24), to: nic)
        _ = try stack.udp.open(localPort: 7, delegate: self)
        stack.advance(to: NetstackInstant(nanoseconds: Native.monotonicNow()))
    }

    func udpEndpoint(
        _ endpoint: UDPEndpoint, received payload: UnsafeRawBufferPointer, from source: IPAddress, port: UInt16,
        to destination: IPAddress, now: NetstackInstant
    ) {
        if (try? endpoint.send(payload, to: source, port: port)) != nil { echoed += 1 }
    }

    func start() {
        let started = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                Unmanaged<StackRunner>.fromOpaque(argument).takeUnretainedValue().loop()
                return nil
            }, Unmanaged.passUnretained(self).toOpaque())
        running = started == 0
    }

    private func loop() {
        var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while !stopping.load(ordering: .acquiring) {
            let ready = poll(&pollfd, 1, 20)
            stack.advance(to: NetstackInstant(nanoseconds: Native.monotonicNow()))
            if ready > 0 { _ = endpoint.dispatchAvailable() }
            stack.flush()
        }
    }

    func stop() {
        guard running else { return }
        stopping.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        running = false
        endpoint.close()
    }

    deinit {
        stop()
        close(fd)
    }
}

@Suite(.serialized, .tags(.root), .needsRoot) struct KernelVethTests {
    let stackAddress = IPv4Address(10, 0, 2, 2)

    @Test func hundredKernelPingsAreAllAnswered() throws {
        let lab = try KernelLab()
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let runner = try StackRunner(fd: fd, address: stackAddress)
        runner.start()
        defer { runner.stop() }
        let result = try lab.inKernelNamespace(["ping", "-c", "100", "-i", "0.01", "-W", "5", "-q", "\(stackAddress)"])
        runner.stop()
        #expect(result.status == 0, "ping: \(result.output)")
        #expect(
            result.output.contains("100 packets transmitted, 100 received, 0% packet loss"), "ping: \(result.output)")
        let counters = runner.stack.counters(of: runner.nic)
        #expect(counters.icmpEchoRepliesSent == 100)
        #expect(counters.arpRepliesSent >= 1)
    }

    @Test func udpEchoWithAKernelClientFromOneByteTo65507() throws {
        let lab = try KernelLab()
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let runner = try StackRunner(fd: fd, address: stackAddress)
        runner.start()
        defer { runner.stop() }
        var sizes = Array(stride(from: 1, through: 65_507, by: 1_021))
        sizes += [2, 7, 8, 9, 1472, 1473, 1480, 1481, 2952, 2953, 8972, 16_384, 32_768, 65_000, 65_506, 65_507]
        sizes.sort()
        let target = stackAddress
        let allSizes = sizes
        let failures: [String] =
            KernelLab.inNamespace(lab.kernelNamespace) { () -> [String] in
                let socketFD = socket(AF_INET, Native.datagramSocket, 0)
                guard socketFD >= 0 else { return ["socket: errno \(errno)"] }
                defer { close(socketFD) }
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = UInt16(7).bigEndian
                address.sin_addr.s_addr = target.rawValue.bigEndian
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        connect(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
                guard connected == 0 else { return ["connect: errno \(errno)"] }
                var problems: [String] = []
                var reply = [UInt8](repeating: 0, count: 65_536)
                for size in allSizes {
                    let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) }
                    let sent = payload.withUnsafeBytes { send(socketFD, $0.baseAddress, size, 0) }
                    guard sent == size else {
                        problems.append("\(size): send returned \(sent), errno \(errno)")
                        continue
                    }
                    let received = reply.withUnsafeMutableBytes { recv(socketFD, $0.baseAddress, $0.count, 0) }
                    if received != size || Array(reply[0..<max(0, received)]) != payload {
                        problems.append(
                            "\(size): got \(received) bytes\(received == size ? " (content differs)" : ""), errno \(errno)"
                        )
                    }
                }
                return problems
            } ?? ["could not enter \(lab.kernelNamespace)"]
        runner.stop()
        #expect(failures.isEmpty, "\(failures)")
        #expect(runner.echoed == sizes.count)
        let counters = runner.stack.counters(of: runner.nic)
        // Sizes above 1472 bytes arrive in fragments and leave in fragments.
        let fragmented = sizes.filter { $0 > 1472 }.count
        #expect(counters.datagramsReassembled == UInt64(fragmented))
        #expect(counters.fragmentsSent > UInt64(fragmented))
        #expect(runner.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(counters[drop: .udpBadChecksum] == 0)
    }

    @Test func hostileFramesFromTheWireStayWithinCapsAndPingStillWorks() throws {
        let lab = try KernelLab()
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let raw = lab.kernelPacketSocket()
        try #require(raw >= 0)
        defer { close(raw) }
        let runner = try StackRunner(fd: fd, address: stackAddress)
        runner.start()
        defer { runner.stop() }
        let stackMAC = runner.endpoint.linkAddress
        var generator = SeededGenerator(seed: 99)
        var frames: [[UInt8]] = []
        for i in 0..<6000 {
            if i % 2 == 0 {
                // A fragment of one of many datagrams that never complete.
                let id = UInt16.random(in: 0...4000, using: &generator)
                let offset = Int.random(in: 0...60_000, using: &generator) & ~7
                let packet = FrameBuilder.ipv4(
                    source: IPv4Address(10, 0, 2, UInt8.random(in: 3...250, using: &generator)),
                    destination: stackAddress, protocolNumber: .udp,
                    payload: bytes(8 * Int.random(in: 1...150, using: &generator)),
                    identification: id, moreFragments: true, fragmentOffset: offset)
                frames.append(
                    FrameBuilder.ethernet(
                        destination: stackMAC, source: MACAddress(0x02, 9, 9, 9, 9, 9),
                        etherType: .ipv4, payload: packet))
            } else {
                // Random bytes behind a plausible Ethernet header.
                let body = (0..<Int.random(in: 0...1400, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
                let type: EtherType = [.ipv4, .arp, EtherType(rawValue: 0x88B5)][i % 3]
                frames.append(
                    FrameBuilder.ethernet(
                        destination: i % 5 == 0 ? .broadcast : stackMAC,
                        source: MACAddress(0x02, 9, 9, 9, 9, 9), etherType: type, payload: body))
            }
        }
        var sent = 0
        for (index, frame) in frames.enumerated() {
            if frame.withUnsafeBytes({ send(raw, $0.baseAddress, $0.count, 0) }) == frame.count { sent += 1 }
            // Bursts of 32: the ring's slots hold 64 KiB super-frames, so a 4 MiB ring has about
            // 60 of them; an unpaced flood would mostly be dropped by the kernel before the
            // stack (whose caps this test is about) saw it.
            if index % 32 == 31 { usleep(500) }
        }
        #expect(sent == frames.count)
        let ping = try lab.inKernelNamespace(["ping", "-c", "5", "-i", "0.05", "-W", "5", "-q", "\(stackAddress)"])
        runner.stop()
        #expect(ping.output.contains("5 packets transmitted, 5 received"), "ping: \(ping.output)")
        let stats = runner.stack.reassemblyStatistics
        let caps = ReassemblyConfiguration()
        #expect(stats.peakDatagramsInProgress <= caps.maxDatagrams)
        #expect(stats.peakHeldBytes <= caps.maxHeldBytes)
        #expect(stats.reservedBytes <= caps.memoryBound)
        #expect(stats.completed == 0)
        // The flood reached the stack and the datagram cap is what held it.
        #expect(stats.evicted > 0)
        let counters = runner.stack.counters(of: runner.nic)
        #expect(counters.rxFrames > 1000)
        #expect(counters.totalDrops > 0)
        #expect(runner.stack.neighbourEntries(of: runner.nic).count <= NeighbourConfiguration().capacity)
    }
}
