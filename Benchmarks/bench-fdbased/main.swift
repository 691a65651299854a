// bench-fdbased: FDBasedEndpoint against minimal C readers/writers of the same kernel
// interfaces (reference.c, compiled with cc in this run), over a veth pair between two
// throwaway network namespaces. Needs root. Prints figures; asserts nothing.
//
//   RX  frames/s and receiver CPU ns/frame, per dispatch mode, for 64 B, 1500 B, 64 KiB frames,
//       sent by a C sendmmsg loop on the kernel side of the veth
//   TX  frames/s of batched writes (writePacket x64 + flush = one sendmmsg), beside C sendmmsg
//       and C PACKET_TX_RING
//   wake-up latency of one lone frame, TPACKET_V2 vs TPACKET_V3
//   idle CPU of an attached endpoint with dispatcher threads

import FDBased
import Foundation
import Glibc
import Link
import Wire

let endpointMAC = MACAddress(0x02, 0, 0, 0, 0, 0x01)

// MARK: Processes and namespaces

/// Runs a command and waits; returns its exit status, stdout, and its CPU time (user + system).
@discardableResult
func run(_ arguments: [String], background: Bool = false) -> Spawned {
    let output = "/tmp/bench-fdbased-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    var pid: pid_t = 0
    let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    let result = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
    argv.forEach { free($0) }
    posix_spawn_file_actions_destroy(&actions)
    let spawned = Spawned(pid: result == 0 ? pid : -1, outputPath: output)
    if !background { spawned.wait() }
    return spawned
}

final class Spawned {
    let pid: pid_t
    let outputPath: String
    private(set) var status: Int32 = -1
    private(set) var cpuSeconds = 0.0
    private(set) var output = ""

    init(pid: pid_t, outputPath: String) {
        self.pid = pid
        self.outputPath = outputPath
    }

    func wait() {
        guard pid > 0 else { return }
        var raw: Int32 = 0
        var usage = rusage()
        while wait4(pid, &raw, 0, &usage) < 0 && errno == EINTR {}
        status = raw
        cpuSeconds = seconds(usage.ru_utime) + seconds(usage.ru_stime)
        output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        unlink(outputPath)
    }

    /// The number after `word` in the output ("received 123 seconds 0.5").
    func value(after word: String) -> Double? {
        let parts = output.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard let index = parts.firstIndex(where: { $0 == word }), index + 1 < parts.count else { return nil }
        return Double(parts[index + 1])
    }
}

func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

func threadCPU() -> Double {
    var usage = rusage()
    getrusage(1 /* RUSAGE_THREAD, a GNU name Glibc's module hides */, &usage)
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

func processCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// setns(2), which Glibc's Swift module does not export.
func setns(_ fd: Int32, _ type: Int32) -> Int32 {
    typealias Function = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "setns") else { return -1 }
    return unsafeBitCast(symbol, to: Function.self)(fd, type)
}

/// Opens an AF_PACKET socket bound to `link` inside namespace `namespace` (on a helper thread:
/// setns changes only the calling thread, and the socket keeps the namespace it was made in).
func packetSocket(namespace: String, link: String) -> Int32 {
    final class Box: @unchecked Sendable {
        let namespace: String, link: String
        var fd: Int32 = -1
        init(_ namespace: String, _ link: String) {
            self.namespace = namespace
            self.link = link
        }
    }
    let box = Box(namespace, link)
    var thread = pthread_t()
    pthread_create(
        &thread, nil,
        { argument in
            guard let argument else { return nil }
            let box = Unmanaged<Box>.fromOpaque(argument).takeUnretainedValue()
            let nsfd = open("/run/netns/\(box.namespace)", O_RDONLY | O_CLOEXEC)
            guard nsfd >= 0 else { return nil }
            defer { close(nsfd) }
            guard setns(nsfd, 0x4000_0000 /* CLONE_NEWNET */) == 0 else { return nil }
            let fd = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), Int32(UInt16(3 /* ETH_P_ALL */).bigEndian))
            guard fd >= 0 else { return nil }
            var address = [UInt8](repeating: 0, count: 20) // struct sockaddr_ll
            address[0] = UInt8(AF_PACKET)
            address[2] = 0
            address[3] = 3 // sll_protocol = htons(ETH_P_ALL)
            var index = Int32(if_nametoindex(box.link))
            withUnsafeBytes(of: &index) { for i in 0..<4 { address[4 + i] = $0[i] } }
            let bound = address.withUnsafeBytes { bind(fd, $0.baseAddress?.assumingMemoryBound(to: sockaddr.self), 20) }
            guard bound == 0 else {
                close(fd)
                return nil
            }
            box.fd = fd
            return nil
        }, Unmanaged.passUnretained(box).toOpaque())
    pthread_join(thread, nil)
    return box.fd
}

struct Lab {
    let inner = "fdbench-\(getpid())-in"
    let outer = "fdbench-\(getpid())-out"
    let innerLink = "fbi\(getpid() % 100_000)"
    let outerLink = "fbo\(getpid() % 100_000)"

    func create() -> Bool {
        for name in [inner, outer] {
            guard run(["ip", "netns", "add", name]).status == 0 else { return false }
            run([
                "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1"
            ])
        }
        return run([
            "ip", "-n", inner, "link", "add", innerLink, "mtu", "65535", "type", "veth", "peer", "name",
            outerLink, "mtu", "65535", "netns", outer
        ]).status == 0
            && run(["ip", "-n", inner, "link", "set", innerLink, "up"]).status == 0
            && run(["ip", "-n", outer, "link", "set", outerLink, "up"]).status == 0
    }

    func remove() {
        run(["ip", "netns", "del", inner])
        run(["ip", "netns", "del", outer])
    }
}

// MARK: Measurements

final class Counter: NetworkDispatcher {
    var frames = 0
    var first = 0.0
    var last = 0.0
    func deliverNetworkPacket(_ protocolNumber: EtherType, _ packet: InboundPacket) { frames &+= 1 }
    func deliveryBatchEnded() {
        let t = now()
        if first == 0 { first = t }
        last = t
    }
}

struct Figure {
    var rate: Double // frames per second
    var cpuPerFrame: Double // receiver (or sender) CPU nanoseconds per frame
    var frames: Int
}

func modeName(_ mode: PacketDispatchMode, _ ring: PacketRingVersion) -> String {
    switch mode {
    case .readv: "readv"
    case .recvmmsg: "recvmmsg"
    case .packetMMap: ring == .v2 ? "mmap-v2" : "mmap-v3"
    }
}

/// The Swift endpoint receives `count` frames of `size` bytes sent by the C blaster.
func swiftReceive(lab: Lab, program: String, mode: PacketDispatchMode, ring: PacketRingVersion, size: Int, count: Int)
    -> Figure?
{
    let fd = packetSocket(namespace: lab.outer, link: lab.outerLink)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard
        let endpoint = try? FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: size - 14, address: endpointMAC, dispatchMode: mode, driver: .external,
                ringVersion: ring))
    else { return nil }
    defer { endpoint.close() }
    let counter = Counter()
    endpoint.attach(counter)
    let sender = run(
        ["ip", "netns", "exec", lab.inner, program, "send", lab.innerLink, "\(count)", "\(size)", "\(endpointMAC)"],
        background: true)
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    let cpuStart = threadCPU()
    while true {
        let ready = poll(&poller, 1, counter.frames == 0 ? 10_000 : 300)
        if ready < 0 && errno == EINTR { continue }
        if ready <= 0 { break }
        _ = endpoint.dispatchAvailable()
    }
    let cpu = threadCPU() - cpuStart
    sender.wait()
    let elapsed = counter.last - counter.first
    guard counter.frames > 1, elapsed > 0 else { return nil }
    return Figure(
        rate: Double(counter.frames) / elapsed, cpuPerFrame: cpu / Double(counter.frames) * 1e9, frames: counter.frames)
}

/// The C reader of the same mode receives the same traffic.
func cReceive(lab: Lab, program: String, mode: String, size: Int, count: Int) -> Figure? {
    let reader = run(
        ["ip", "netns", "exec", lab.outer, program, "rx-\(mode)", lab.outerLink, "\(size)"], background: true)
    usleep(300_000) // let it set up its socket and ring
    run(["ip", "netns", "exec", lab.inner, program, "send", lab.innerLink, "\(count)", "\(size)", "\(endpointMAC)"])
    reader.wait()
    guard let frames = reader.value(after: "received"), let elapsed = reader.value(after: "seconds"), frames > 1,
        elapsed > 0
    else { return nil }
    return Figure(rate: frames / elapsed, cpuPerFrame: reader.cpuSeconds / frames * 1e9, frames: Int(frames))
}

/// The Swift endpoint writes `count` frames in batches of 64 (writePacket x64, flush).
func swiftTransmit(lab: Lab, size: Int, count: Int) -> Figure? {
    let fd = packetSocket(namespace: lab.outer, link: lab.outerLink)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard
        let endpoint = try? FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: size - 14, address: endpointMAC,
                driver: .external, txBatchSize: 64, txBufferSize: 64 * (size + 16)))
    else { return nil }
    defer { endpoint.close() }
    let payload = [UInt8](repeating: 0xA5, count: size - 14)
    let start = now()
    let cpuStart = threadCPU()
    payload.withUnsafeBytes { bytes in
        let packet = OutboundPacket(
            protocolNumber: EtherType(rawValue: 0x88B5), remoteLinkAddress: MACAddress(0x02, 0, 0, 0, 0, 0x09),
            header: bytes)
        var written = 0
        while written < count {
            let batch = min(64, count - written)
            for _ in 0..<batch { try? endpoint.writePacket(packet) }
            try? endpoint.flush()
            written += batch
        }
    }
    let elapsed = now() - start
    let cpu = threadCPU() - cpuStart
    let sent = Int(endpoint.statistics.sent)
    return Figure(rate: Double(sent) / elapsed, cpuPerFrame: cpu / Double(max(sent, 1)) * 1e9, frames: sent)
}

func cTransmit(lab: Lab, program: String, mode: String, size: Int, count: Int) -> Figure? {
    let writer = run([
        "ip", "netns", "exec", lab.outer, program, "tx-\(mode)", lab.outerLink, "\(count)", "\(size)",
        "02:00:00:00:00:09"
    ])
    guard let frames = writer.value(after: "sent"), let elapsed = writer.value(after: "seconds"), elapsed > 0 else {
        return nil
    }
    return Figure(rate: frames / elapsed, cpuPerFrame: writer.cpuSeconds / frames * 1e9, frames: Int(frames))
}

/// Median and 99th percentile of the time from sending one lone frame to its delivery.
func wakeLatency(lab: Lab, ring: PacketRingVersion, samples: Int) -> (median: Double, p99: Double)? {
    let fd = packetSocket(namespace: lab.outer, link: lab.outerLink)
    let sender = packetSocket(namespace: lab.inner, link: lab.innerLink)
    guard fd >= 0, sender >= 0 else { return nil }
    defer {
        close(fd)
        close(sender)
    }
    guard
        let endpoint = try? FDBasedEndpoint(
            options: .init(
                fds: [fd], mtu: 1500, address: endpointMAC, dispatchMode: .packetMMap,
                driver: .external, ringVersion: ring))
    else { return nil }
    defer { endpoint.close() }
    let counter = Counter()
    endpoint.attach(counter)
    var frame = [UInt8](repeating: 0, count: 64)
    for i in 0..<6 { frame[i] = endpointMAC.octet(i) }
    frame[12] = 0x88
    frame[13] = 0xB5
    var times: [Double] = []
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    for _ in 0..<samples {
        let before = counter.frames
        let start = now()
        _ = frame.withUnsafeBytes { send(sender, $0.baseAddress, $0.count, 0) }
        while counter.frames == before {
            if poll(&poller, 1, 1000) <= 0 { break }
            _ = endpoint.dispatchAvailable()
        }
        times.append(now() - start)
        usleep(2_000)
    }
    times.sort()
    return (times[times.count / 2], times[min(times.count - 1, times.count * 99 / 100)])
}

// MARK: Main

guard getuid() == 0 else {
    print("bench-fdbased needs root (network namespaces, AF_PACKET)")
    exit(1)
}
let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("reference.c").path
let program = "/tmp/bench-fdbased-reference-\(getpid())"
// cc when the machine has one, else the clang that ships with the Swift toolchain.
guard run(["cc", "-O2", "-o", program, source]).status == 0 || run(["clang", "-O2", "-o", program, source]).status == 0
else {
    print("cannot compile \(source) with cc or clang")
    exit(1)
}
defer { unlink(program) }
let lab = Lab()
guard lab.create() else {
    lab.remove()
    unlink(program)
    print("cannot create the veth lab")
    exit(1)
}
// Remove the namespaces on Ctrl-C too.
signal(SIGINT) { _ in
    let pid = getpid()
    _ = system(
        "ip netns del fdbench-\(pid)-in 2>/dev/null; ip netns del fdbench-\(pid)-out 2>/dev/null; rm -f /tmp/bench-fdbased-reference-\(pid)"
    )
    _exit(130)
}

func format(_ value: Double) -> String {
    if value >= 1e6 { return String(format: "%.2fM", value / 1e6) }
    if value >= 1e3 { return String(format: "%.1fk", value / 1e3) }
    return String(format: "%.0f", value)
}

func line(_ label: String, _ swift: Figure?, _ c: Figure?) {
    guard let swift, let c else {
        print("\(label.padding(toLength: 24, withPad: " ", startingAt: 0)) failed to measure")
        return
    }
    let name = label.padding(toLength: 24, withPad: " ", startingAt: 0)
    print(
        "\(name) swift \(format(swift.rate).padding(toLength: 7, withPad: " ", startingAt: 0)) fps "
            + "\(String(format: "%5.0f", swift.cpuPerFrame)) ns/frame | C \(format(c.rate).padding(toLength: 7, withPad: " ", startingAt: 0)) fps "
            + "\(String(format: "%5.0f", c.cpuPerFrame)) ns/frame | rate ratio \(String(format: "%.2f", swift.rate / c.rate))x"
            + "  cpu ratio \(String(format: "%.2f", c.cpuPerFrame / swift.cpuPerFrame))x")
}

let sizes = [(64, 1_000_000), (1500, 400_000), (65536, 30_000)]
print("RX (kernel C sendmmsg on the veth -> reader on the other end; ratio > 1 means Swift is ahead)")
for (size, count) in sizes {
    for (mode, ring) in [
        (PacketDispatchMode.readv, PacketRingVersion.v2), (.recvmmsg, .v2), (.packetMMap, .v2), (.packetMMap, .v3)
    ] {
        let name = modeName(mode, ring)
        let swift = swiftReceive(lab: lab, program: program, mode: mode, ring: ring, size: size, count: count)
        let c = cReceive(
            lab: lab, program: program, mode: name == "mmap-v2" ? "mmap2" : name == "mmap-v3" ? "mmap3" : name,
            size: size, count: count)
        line("\(size) B \(name)", swift, c)
    }
}
print("TX (batches of 64; Swift = writePacket x64 + flush -> sendmmsg)")
for (size, count) in sizes {
    let swift = swiftTransmit(lab: lab, size: size, count: count)
    line(
        "\(size) B vs C sendmmsg", swift,
        cTransmit(lab: lab, program: program, mode: "sendmmsg", size: size, count: count))
    line("\(size) B vs C TX_RING", swift, cTransmit(lab: lab, program: program, mode: "ring", size: size, count: count))
}
print("Wake-up latency of a lone 64 B frame (send on the veth -> delivered), 200 samples")
for ring in [PacketRingVersion.v2, .v3] {
    if let l = wakeLatency(lab: lab, ring: ring, samples: 200) {
        print(
            "  TPACKET_\(ring == .v2 ? "V2" : "V3"): median \(String(format: "%.1f", l.median * 1e6)) us, p99 \(String(format: "%.1f", l.p99 * 1e6)) us"
        )
    }
}
print("Idle CPU of an attached endpoint with dispatcher threads, over 2 s")
for mode in [PacketDispatchMode.readv, .recvmmsg, .packetMMap] {
    let fd = packetSocket(namespace: lab.outer, link: lab.outerLink)
    if fd >= 0,
        let endpoint = try? FDBasedEndpoint(
            options: .init(fds: [fd], mtu: 1500, address: endpointMAC, dispatchMode: mode))
    {
        endpoint.attach(Counter())
        let before = processCPU()
        sleep(2)
        let used = processCPU() - before
        endpoint.close()
        print("  \(modeName(mode, .v2)): \(String(format: "%.3f", used * 1000)) ms CPU")
    }
    if fd >= 0 { close(fd) }
}
lab.remove()
