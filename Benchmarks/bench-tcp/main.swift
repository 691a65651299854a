// bench-tcp: bulk TCP throughput between the Swift stack (an in-process source and sink on the
// FDBased AF_PACKET endpoint) and Linux over a veth, beside kernel-to-kernel on the same veth
// in the same run, at MTU 1500 and 65520, both directions; with CPU seconds per GB moved. Run
// as root, on an idle machine:
//
//     swift build -c release --product bench-tcp && .build/release/bench-tcp [seconds per case]
//
// Two throwaway namespaces (pid in the names) joined by one veth, removed on every path:
//   kernel: 10.0.2.100/24, runs the Linux end (a python3 sink or source, the same in every case)
//   stack:  the other end; for the Swift cases it carries no address and the Swift stack
//           (10.0.2.2) reads and writes it through AF_PACKET (packet mmap ring); for the
//           kernel-to-kernel cases it gets 10.0.2.3/24 and runs the other python3 end.
// The veth keeps Linux's defaults (GSO on), as kernel-to-kernel runs; the Swift stack's
// endpoint speaks virtio_net_hdr (gsoMaxSize 65535): it takes the kernel's GSO super-frames
// and sends its own (TCPConfig.segmentationOffloadSize), which the kernel cuts at our MSS.
//
// Kernel-to-kernel runs twice on the same veth: with iperf3 at both ends, and with the python3
// peers the Swift cases use on the Linux side (4 MiB reads and writes; iperf3's 128 KiB ones
// are sometimes slower). The ratio is taken against the faster of the two, so neither tool's
// overhead flatters the Swift stack.
//
// Gbit/s is measured by the receiving end (python3 and Swift: first byte to EOF; iperf3: its
// own). CPU per GB is the time (user + system) of every process taking part: for Swift, this
// process (the whole stack runs on its main thread) plus the python3 peer; for kernel-to-kernel,
// both iperf3 processes. Softirq work the kernel does outside any process is in neither.

import FDBased
import Foundation
import Glibc
import Link
import Netstack
import NetstackTesting
import Synchronization
import UserNet
import Wire

let seconds = CommandLine.arguments.count > 1 ? (Double(CommandLine.arguments[1]) ?? 3) : 3
let pid = getpid()
let kernelNamespace = "btcp-k-\(pid)"
let stackNamespace = "btcp-s-\(pid)"
let kernelLink = "btk\(pid % 100_000)"
let stackLink = "bts\(pid % 100_000)"
let kernelAddress = IPv4Address(10, 0, 2, 100)
let swiftAddress = IPv4Address(10, 0, 2, 2)
let stackKernelAddress = "10.0.2.3"
/// Owns the namespaces (and the veth): `cleanup` and the signal handler remove them.
let lab = NamespaceLab()
nonisolated(unsafe) var peers: [Process] = []
/// Pids of running peers, for the signal handler (which runs on another thread).
final class PeerRegistry: Sendable {
    let pids = Mutex<Set<Int32>>([])
}
let peerPIDs = PeerRegistry()

struct Failure: Error, CustomStringConvertible { var description: String }

/// Peers run under timeout(1), which passes SIGTERM on to python3 (a SIGKILL would orphan it).
func cleanup() {
    for peer in peers where peer.isRunning {
        kill(peer.processIdentifier, SIGTERM)
        peer.waitUntilExit()
    }
    peers.removeAll()
    lab.removeAll()
}

/// The Linux end: one python3 process in a namespace. Modes:
///   listen PORT sink | listen PORT source SECONDS | connect HOST PORT sink | connect HOST PORT source SECONDS
/// A sink prints "BYTES SECONDS" (first byte to EOF); a source sends zeros for SECONDS, shuts
/// down writing, waits for the peer's close and prints "BYTES SECONDS".
let peerScript = #"""
    import socket, sys, time
    def sink(s):
        buf = bytearray(4 << 20); total = 0; start = None
        while True:
            n = s.recv_into(buf)
            if n == 0: break
            if start is None: start = time.monotonic()
            total += n
        print("%d %.6f" % (total, time.monotonic() - (start or time.monotonic())), flush=True)
    def source(s, seconds):
        data = memoryview(bytes(4 << 20)); total = 0; start = time.monotonic(); end = start + seconds
        while time.monotonic() < end:
            total += s.send(data)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536): pass
        print("%d %.6f" % (total, time.monotonic() - start), flush=True)
    args = sys.argv[1:]
    if args[0] == "listen":
        ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("0.0.0.0", int(args[1]))); ls.listen(1); ls.settimeout(30)
        s, _ = ls.accept(); ls.close(); rest = args[2:]
    else:
        s = None
        for _ in range(300):
            try: s = socket.create_connection((args[1], int(args[2])), timeout=5); break
            except OSError: time.sleep(0.02)
        rest = args[3:]
    s.settimeout(60)
    sink(s) if rest[0] == "sink" else source(s, float(rest[1]))
    s.close()
    """#

func startPeer(_ namespace: String, _ arguments: [String]) throws -> (Process, Pipe) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["ip", "netns", "exec", namespace, "timeout", "120", "python3", "-c", peerScript] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    peers.append(process)
    peerPIDs.pids.withLock { _ = $0.insert(process.processIdentifier) }
    return (process, pipe)
}

/// Waits for a peer; returns its (bytes, seconds) line.
func finish(_ peer: (Process, Pipe)) throws -> (bytes: Double, seconds: Double) {
    let text = String(decoding: peer.1.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    peer.0.waitUntilExit()
    peers.removeAll { $0 === peer.0 }
    peerPIDs.pids.withLock { _ = $0.remove(peer.0.processIdentifier) }
    let fields = text.split(whereSeparator: \.isWhitespace)
    guard peer.0.terminationStatus == 0, fields.count == 2, let bytes = Double(fields[0]), let time = Double(fields[1]),
        time > 0
    else {
        throw Failure(description: "peer: \(text)")
    }
    return (bytes, time)
}

/// User + system seconds of this process, or of its reaped children.
func cpuSeconds(_ who: Int32) -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(who), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
        usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

func monotonicNow() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

struct Measurement {
    var gbits: Double
    var cpuPerGB: Double
}

/// The Swift end of one case, on the calling thread: dial the kernel's listener, then either
/// write zeros for `seconds` and shut down (`sends`), or read to EOF; close once both halves end.
func swiftCase(mtu: Int, sends: Bool) throws -> Measurement {
    let namespaceFD = open("/run/netns/\(stackNamespace)", O_RDONLY | O_CLOEXEC)
    guard namespaceFD >= 0 else { throw Failure(description: "open netns: errno \(errno)") }
    defer { close(namespaceFD) }
    let fd = try Gateway.openPacketSocket(interface: stackLink, namespaceFD: namespaceFD)
    let endpoint = try FDBasedEndpoint(
        options: .init(
            fds: [fd], mtu: mtu, address: MACAddress(0x02, 0, 0, 0, 0, 0x02),
            gsoMaxSize: 65535, dispatchMode: .packetMMap, driver: .external,
            ringSize: 16 << 20))
    defer {
        endpoint.close()
        close(fd)
    }
    let stack = Stack()
    let nic = stack.addNIC(endpoint, name: "veth")
    stack.addAddress(IPv4Subnet(swiftAddress, prefixLength: 24), to: nic)
    let tcp = TCPTransport(stack: stack)
    var config = TCPConfig()
    config.mtu = mtu
    config.sendBufferSize = 4 << 20
    config.receiveBufferSize = 4 << 20
    // Segmentation offload up to the endpoint's GSO limit (headers aside).
    config.segmentationOffloadSize = 65535 - 100

    let peer = try startPeer(
        kernelNamespace, sends ? ["listen", "5001", "sink"] : ["listen", "5001", "source", "\(seconds)"])
    let cpuBefore = cpuSeconds(RUSAGE_SELF.rawValue)
    let childrenBefore = cpuSeconds(RUSAGE_CHILDREN.rawValue)
    let zeros = [UInt8](repeating: 0, count: 1 << 20)
    var scratch = [UInt8](repeating: 0, count: 1 << 20)
    var connection: TCPConnection?
    var port: UInt16 = 40_000
    var lastDial: UInt64 = 0
    var received = 0
    var firstByte: UInt64?
    var lastByte: UInt64 = 0
    var sendUntil: UInt64?
    var closed = false
    var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let giveUp = monotonicNow() + UInt64((seconds + 30) * 1e9)
    while monotonicNow() < giveUp {
        var timeout: Int32 = 10
        let current = monotonicNow()
        if let deadline = tcp.nextDeadline {
            timeout = Int32(
                min(UInt64(timeout), deadline.nanoseconds > current ? (deadline.nanoseconds - current) / 1_000_000 : 0))
        }
        let ready = poll(&pollfd, 1, timeout)
        let now = monotonicNow()
        stack.advance(to: NetstackInstant(nanoseconds: now))
        if ready > 0 { _ = endpoint.dispatchAvailable() }
        let instant = NetstackInstant(nanoseconds: now)
        // The kernel may not listen yet: redial from a new port every 20 ms while refused.
        if connection == nil || (connection?.error == .connectionRefused && now - lastDial > 20_000_000) {
            if let old = connection { tcp.demux.remove(old.flow) }
            port &+= 1
            lastDial = now
            let flow = TCPFlowID(
                local: TCPSocketAddress(.v4(swiftAddress), port), remote: TCPSocketAddress(.v4(kernelAddress), 5001))
            var output = tcp.output
            let dialed = try TCPConnection.connect(
                flow: flow, config: config, iss: SeqNumber(rawValue: UInt32(port) &* 2_654_435_761),
                now: instant, output: &output)
            tcp.demux.register(dialed)
            connection = dialed
        } else if let c = connection, c.state != .synSent, c.error == nil {
            if sends {
                if sendUntil == nil { sendUntil = now + UInt64(seconds * 1e9) }
                if let end = sendUntil, now < end {
                    while true {
                        let n = zeros.withUnsafeBytes { bytes -> Int in
                            do throws(TCPError) { return try c.write(bytes) } catch { return 0 }
                        }
                        if n == 0 { break }
                    }
                } else if c.state == .established {
                    c.shutdownWrite()
                }
            }
            while true {
                let n = scratch.withUnsafeMutableBytes { c.read(into: $0) }
                if n == 0 { break }
                if firstByte == nil { firstByte = now }
                lastByte = now
                received += n
            }
            // Close once the peer's FIN is in and (when sending) our time is up.
            if c.isReadClosed, c.state == .closeWait, !sends || sendUntil.map({ now >= $0 }) == true {
                var output = tcp.output
                c.close(now: instant, output: &output)
            }
            if c.state == .closed || c.state == .timeWait { closed = true }
        }
        tcp.pollAllConnections(now: NetstackInstant(nanoseconds: now))
        stack.flush()
        if closed || connection?.error != nil && connection?.error != .connectionRefused { break }
    }
    let cpu = cpuSeconds(RUSAGE_SELF.rawValue) - cpuBefore
    let result = try finish(peer)
    let peerCPU = cpuSeconds(RUSAGE_CHILDREN.rawValue) - childrenBefore
    guard closed, connection?.error == nil else {
        throw Failure(
            description:
                "Swift \(sends ? "send" : "receive") at MTU \(mtu) did not finish: \(connection?.state.description ?? "-")"
        )
    }
    let bytes: Double
    let elapsed: Double
    if sends {
        (bytes, elapsed) = result
    } else {
        bytes = Double(received)
        elapsed = Double(lastByte - (firstByte ?? lastByte)) / 1e9
        guard bytes == result.bytes, elapsed > 0 else {
            throw Failure(description: "received \(received) of \(result.bytes)")
        }
    }
    return Measurement(gbits: bytes * 8 / elapsed / 1e9, cpuPerGB: (cpu + peerCPU) / (bytes / 1e9))
}

/// Kernel to kernel on the same veth with iperf3 at both ends.
func iperfCase(sends: Bool) throws -> Measurement {
    try NamespaceLab.run(["ip", "-n", stackNamespace, "addr", "add", "\(stackKernelAddress)/24", "dev", stackLink])
    defer { _ = try? NamespaceLab.run(["ip", "-n", stackNamespace, "addr", "flush", "dev", stackLink]) }
    let childrenBefore = cpuSeconds(RUSAGE_CHILDREN.rawValue)
    let server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    server.arguments = [
        "ip", "netns", "exec", kernelNamespace, "timeout", "120", "iperf3", "-s", "-1", "-B", "\(kernelAddress)"
    ]
    server.standardOutput = FileHandle.nullDevice
    server.standardError = FileHandle.nullDevice
    try server.run()
    peers.append(server)
    peerPIDs.pids.withLock { _ = $0.insert(server.processIdentifier) }
    defer {
        if server.isRunning { kill(server.processIdentifier, SIGTERM) }
        server.waitUntilExit()
        peers.removeAll { $0 === server }
        peerPIDs.pids.withLock { _ = $0.remove(server.processIdentifier) }
    }
    // The client retries until the server listens (iperf3 -s takes a moment to start); iperf3
    // -J may report the refusal with exit status 0.
    var json = ""
    for _ in 0..<50 {
        do {
            json = try NamespaceLab.run(
                ["ip", "netns", "exec", stackNamespace, "iperf3", "-c", "\(kernelAddress)", "-t", "\(seconds)", "-J"]
                    + (sends ? [] : ["-R"]))
        } catch {
            json = "\(error)"
        }
        guard json.contains("Connection refused") else { break }
        usleep(100_000)
    }
    server.waitUntilExit()
    let cpu = cpuSeconds(RUSAGE_CHILDREN.rawValue) - childrenBefore
    guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
        let end = object["end"] as? [String: Any], let sum = end["sum_received"] as? [String: Any],
        let bits = sum["bits_per_second"] as? Double, let bytes = sum["bytes"] as? Double, bytes > 0
    else {
        throw Failure(description: "iperf3 output: \(json.prefix(300))")
    }
    return Measurement(gbits: bits / 1e9, cpuPerGB: cpu / (bytes / 1e9))
}

/// Kernel to kernel on the same veth with the Swift cases' python3 peer at both ends.
func kernelCase(sends: Bool) throws -> Measurement {
    try NamespaceLab.run(["ip", "-n", stackNamespace, "addr", "add", "\(stackKernelAddress)/24", "dev", stackLink])
    defer { _ = try? NamespaceLab.run(["ip", "-n", stackNamespace, "addr", "flush", "dev", stackLink]) }
    let childrenBefore = cpuSeconds(RUSAGE_CHILDREN.rawValue)
    // `sends`: the stack namespace's end sends, as the Swift stack does in its `sends` case.
    let listener = try startPeer(
        kernelNamespace, sends ? ["listen", "5001", "sink"] : ["listen", "5001", "source", "\(seconds)"])
    let dialer = try startPeer(
        stackNamespace,
        sends
            ? ["connect", "\(kernelAddress)", "5001", "source", "\(seconds)"]
            : ["connect", "\(kernelAddress)", "5001", "sink"])
    let listened = try finish(listener)
    let dialed = try finish(dialer)
    let cpu = cpuSeconds(RUSAGE_CHILDREN.rawValue) - childrenBefore
    let (bytes, elapsed) = sends ? listened : dialed
    return Measurement(gbits: bytes * 8 / elapsed / 1e9, cpuPerGB: cpu / (bytes / 1e9))
}

// Ctrl-C or kill: the namespaces go too (the main thread may be anywhere; deleting twice is harmless).
signal(SIGINT, SIG_IGN)
signal(SIGTERM, SIG_IGN)
// The handler runs on a dispatch thread: it captures values, never the main actor's globals.
let stopSignals = [SIGINT, SIGTERM].map { [peerPIDs, lab] number in
    let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
    source.setEventHandler { @Sendable in
        for pid in peerPIDs.pids.withLock({ $0 }) { kill(pid, SIGTERM) }
        lab.removeAll()
        print("bench-tcp: interrupted")
        exit(130)
    }
    source.resume()
    return source
}

do {
    defer { cleanup() }
    for name in [kernelNamespace, stackNamespace] { try lab.addNamespace(name, sysctls: NamespaceLab.ipv6Off) }
    // No MTU here: each round below sets it on both ends.
    try lab.addVeth(kernelLink, in: kernelNamespace, peer: stackLink, in: stackNamespace)
    try lab.bringUp(kernelLink, in: kernelNamespace, addresses: ["\(kernelAddress)/24"])
    try lab.bringUp(stackLink, in: stackNamespace)
    print("bulk TCP over a veth, \(seconds) s per case; Gbit/s at the receiver; CPU s/GB of all processes taking part")
    print(
        "kernel-to-kernel on the same veth: with iperf3, and with the python3 peers; ratio = Swift / the faster of the two"
    )
    print("MTU    direction        Swift Gbit/s  iperf3 Gbit/s  py Gbit/s  ratio   Swift CPU s/GB  iperf3 CPU s/GB")
    for mtu in [1500, 65520] {
        for (namespace, link) in [(kernelNamespace, kernelLink), (stackNamespace, stackLink)] {
            try NamespaceLab.run(["ip", "-n", namespace, "link", "set", link, "mtu", "\(mtu)"])
        }
        for sends in [true, false] {
            let kernel = try iperfCase(sends: sends)
            let python = try kernelCase(sends: sends)
            let swift = try swiftCase(mtu: mtu, sends: sends)
            let direction = sends ? "Swift -> Linux" : "Linux -> Swift"
            print(
                String(
                    format: "%-6d %-16@ %12.2f %14.2f %10.2f %5.2fx %16.2f %16.2f", mtu, direction as NSString,
                    swift.gbits,
                    kernel.gbits, python.gbits, swift.gbits / max(kernel.gbits, python.gbits), swift.cpuPerGB,
                    kernel.cpuPerGB))
        }
    }
} catch {
    cleanup()
    print("bench-tcp: \(error)")
    exit(1)
}
