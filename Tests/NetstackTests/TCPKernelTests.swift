// The Swift TCP against Linux's over a real veth (KernelLab's two namespaces): kernel client to
// Swift listener and Swift client to kernel listener, bulk transfers both ways with every byte
// checked against a shared pattern, at MTU 1500 and 65520; then the kernel closing (FIN),
// resetting (SO_LINGER 0) and stalling its reads (zero window) mid-stream.
//
// The bulk runs move 1 GiB each way and compare SHA-256 digests with the kernel peer's (about
// 65 s for the four on this 2-core machine); SANDBOX_TCP_INTEROP_BYTES sets another size.

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

/// What the Swift side of one interop run does, called on the stack's thread after every
/// dispatch. `isDone` stops the run.
protocol TCPKernelApplication: AnyObject {
    func run(_ transport: TCPTransport, now: NetstackInstant)
    var isDone: Bool { get }
}

/// A stack with TCP over an FDBased endpoint (`.packetMMap`, external driver) on its own
/// thread: poll the fd until the next TCP deadline, advance the clock, dispatch, run the
/// application, flush. Everything on the stack happens on that thread until `stop()` returns.
final class TCPStackRunner: @unchecked Sendable {
    let stack: Stack
    let endpoint: FDBasedEndpoint
    let tcp: TCPTransport
    let nic: NICID
    let fd: Int32
    let application: any TCPKernelApplication
    private let stopping = Atomic<Bool>(false)
    private let finished = Atomic<Bool>(false)
    private var thread = pthread_t()
    private var running = false

    /// `gsoMaxSize` > 0 takes the kernel's GSO super-frames (virtio_net_hdr) instead of plain frames.
    init(fd: Int32, address: IPv4Address, mtu: Int, gsoMaxSize: Int = 0, application: any TCPKernelApplication) throws {
        self.fd = fd
        self.application = application
        var options = FDBasedEndpoint.Options(
            fds: [fd], mtu: mtu, address: MACAddress(0x02, 0, 0, 0, 0, 0x02),
            gsoMaxSize: gsoMaxSize, dispatchMode: .packetMMap, driver: .external,
            ringSize: 16 << 20)
        // Without `gsoMaxSize` the lab caps the kernel's GSO at one segment (`lab(mtu:gso:)`), so
        // no super-frame comes: MTU-sized slots keep the ring ~40 times deeper for the ACK storm
        // of a 16 MB download (64 KiB slots dropped thousands of its ACKs and, at times, the FIN).
        options.receivesSuperFrames = gsoMaxSize > 0
        endpoint = try FDBasedEndpoint(options: options)
        stack = Stack()
        nic = stack.addNIC(endpoint, name: "veth")
        stack.addAddress(IPv4Subnet(address, prefixLength: 24), to: nic)
        tcp = TCPTransport(stack: stack)
        stack.advance(to: NetstackInstant(nanoseconds: Native.monotonicNow()))
    }

    var isDone: Bool { finished.load(ordering: .acquiring) }

    func start() {
        let started = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                Unmanaged<TCPStackRunner>.fromOpaque(argument).takeUnretainedValue().loop()
                return nil
            }, Unmanaged.passUnretained(self).toOpaque())
        running = started == 0
    }

    private func loop() {
        var pollfd = Glibc.pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var now = Native.monotonicNow()
        while !stopping.load(ordering: .acquiring) {
            var timeout: Int32 = 10
            if let deadline = tcp.nextDeadline {
                let wait = deadline.nanoseconds > now ? (deadline.nanoseconds - now) / 1_000_000 : 0
                timeout = Int32(min(UInt64(timeout), wait))
            }
            let ready = poll(&pollfd, 1, timeout)
            now = Native.monotonicNow()
            stack.advance(to: NetstackInstant(nanoseconds: now))
            if ready > 0 { _ = endpoint.dispatchAvailable() }
            application.run(tcp, now: NetstackInstant(nanoseconds: now))
            tcp.pollAllConnections(now: NetstackInstant(nanoseconds: now))
            stack.flush()
            if application.isDone { finished.store(true, ordering: .releasing) }
        }
    }

    /// Waits (on the calling thread) until the application is done, at most `limit`.
    func waitUntilDone(limit: Duration) {
        let end = Native.monotonicNow() + UInt64(limit.components.seconds) * 1_000_000_000
        while !isDone, Native.monotonicNow() < end { usleep(10_000) }
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

/// The Swift end of a transfer: writes `sendTotal` pattern bytes once `startSending` says so,
/// then shuts down writing; reads to EOF checking every byte.
final class PatternEndpoint {
    let pattern: TCPPattern
    let sendTotal: Int
    var connection: TCPConnection?
    var sent = 0
    var received = 0
    var mismatchAt: Int?
    var sawEOF = false
    /// `sent` when EOF was first seen.
    var sentAtEOF: Int?
    /// Whether to start writing only after reading EOF (the echo-back side).
    let sendAfterEOF: Bool
    var shutDown = false
    /// SHA-256 of every byte written and read, compared with the kernel peer's.
    let sentDigest: SHA256Hasher
    let receivedDigest: SHA256Hasher
    private var buffer = [UInt8](repeating: 0, count: 65_536)

    init(pattern: TCPPattern, sendTotal: Int, sendAfterEOF: Bool) throws {
        sentDigest = try SHA256Hasher()
        receivedDigest = try SHA256Hasher()
        self.pattern = pattern
        self.sendTotal = sendTotal
        self.sendAfterEOF = sendAfterEOF
    }

    func pump() {
        // Nothing is written before the handshake completes: a refused dial (the kernel not
        // listening yet) would take queued bytes with it, and the redial starts from offset 0.
        guard let c = connection, c.state != .synSent, c.error != .connectionRefused else { return }
        while mismatchAt == nil {
            let n = buffer.withUnsafeMutableBytes { c.read(into: $0) }
            if n == 0 { break }
            let ok = buffer.withUnsafeBytes { all in
                let data = UnsafeRawBufferPointer(rebasing: all[..<n])
                receivedDigest.update(data)
                return pattern.matches(data, at: received)
            }
            if !ok { mismatchAt = received }
            received += n
        }
        if c.isReadClosed, !sawEOF {
            sawEOF = true
            sentAtEOF = sent
        }
        guard !sendAfterEOF || sawEOF else { return }
        while sent < sendTotal {
            let n = pattern.withBytes(at: sent, limit: sendTotal - sent) { bytes -> Int in
                let written: Int
                do throws(TCPError) { written = try c.write(bytes) } catch { written = 0 }
                sentDigest.update(UnsafeRawBufferPointer(rebasing: bytes[..<written]))
                return written
            }
            if n == 0 { break }
            sent += n
        }
        if sent == sendTotal, !shutDown, c.state == .established || c.state == .closeWait {
            c.shutdownWrite()
            shutDown = true
        }
    }
}

/// The Swift side as a listener on port 5001: accept one connection, run it through `endpoint`.
final class ListenerApplication: TCPKernelApplication {
    let listener: TCPListener
    let endpoint: PatternEndpoint
    init(config: TCPConfig, endpoint: PatternEndpoint, synBacklog: Int = 256) {
        listener = TCPListener(config: config, synBacklog: synBacklog, secret: (21, 23))
        self.endpoint = endpoint
    }
    var registered = false
    func run(_ transport: TCPTransport, now: NetstackInstant) {
        if !registered {
            transport.demux.listen(listener, port: 5001)
            registered = true
        }
        if endpoint.connection == nil { endpoint.connection = listener.accept() }
        endpoint.pump()
    }
    var isDone: Bool {
        guard let c = endpoint.connection else { return false }
        return c.state == .closed || c.state == .timeWait
    }
}

/// The Swift side as a client of the kernel's listener on 10.0.2.100:5001; it redials (from a
/// new port, every 20 ms, for up to 20 s) while the kernel is not listening yet.
final class ClientApplication: TCPKernelApplication {
    let config: TCPConfig
    let endpoint: PatternEndpoint
    let local: IPv4Address
    let remote: IPv4Address
    var port: UInt16 = 40_000
    var attempts = 0
    var lastDial: NetstackInstant?
    /// Closes the connection (our FIN) once the peer's FIN arrived and everything was sent.
    let closeAfterEOF: Bool
    init(
        config: TCPConfig, endpoint: PatternEndpoint, local: IPv4Address, remote: IPv4Address,
        closeAfterEOF: Bool = false
    ) {
        self.config = config
        self.endpoint = endpoint
        self.local = local
        self.remote = remote
        self.closeAfterEOF = closeAfterEOF
    }
    func run(_ transport: TCPTransport, now: NetstackInstant) {
        if endpoint.connection == nil || (endpoint.connection?.error == .connectionRefused && attempts < 1000) {
            if let last = lastDial, now.nanoseconds - last.nanoseconds < 20_000_000 { return }
            lastDial = now
            if let old = endpoint.connection { transport.demux.remove(old.flow) }
            attempts += 1
            port &+= 1
            let flow = TCPFlowID(local: TCPSocketAddress(.v4(local), port), remote: TCPSocketAddress(.v4(remote), 5001))
            var output = transport.output
            guard
                let connection = try? TCPConnection.connect(
                    flow: flow, config: config, iss: SeqNumber(rawValue: UInt32(port) &* 2_654_435_761),
                    now: now, output: &output)
            else { return }
            transport.demux.register(connection)
            endpoint.connection = connection
            return
        }
        endpoint.pump()
        if closeAfterEOF, endpoint.sawEOF, let c = endpoint.connection, c.state == .closeWait,
            endpoint.sent == endpoint.sendTotal
        {
            var output = transport.output
            c.close(now: now, output: &output)
        }
    }
    var isDone: Bool {
        guard let c = endpoint.connection else { return false }
        return c.state == .closed && c.error != .connectionRefused || c.state == .timeWait
    }
}

@Suite(.serialized, .tags(.root), .needsRoot) struct TCPKernelTests {
    static let stackAddress = IPv4Address(10, 0, 2, 2)
    static let pattern = TCPPattern()
    static var bulkBytes: Int {
        ProcessInfo.processInfo.environment["SANDBOX_TCP_INTEROP_BYTES"].flatMap(Int.init) ?? 1 << 30
    }

    static func config(mtu: Int) -> TCPConfig {
        var config = TCPConfig()
        config.mtu = mtu
        config.sendBufferSize = 4 << 20
        config.receiveBufferSize = 4 << 20
        return config
    }

    /// A lab whose kernel end sends no GSO super-frames (the stack reads plain frames) unless
    /// `gso`, and the stack runner on the other end.
    static func lab(mtu: Int, gso: Bool = false) throws -> KernelLab {
        let lab = try KernelLab(mtu: mtu)
        if !gso {
            try NamespaceLab.run(["ip", "-n", lab.kernelNamespace, "link", "set", lab.kernelLink, "gso_max_segs", "1"])
        }
        return lab
    }

    /// Starts the kernel peer; returns its process and output pipe.
    static func startPeer(_ lab: KernelLab, _ arguments: [String]) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "ip", "netns", "exec", lab.kernelNamespace, "timeout", "600", "/usr/bin/python3", "-c",
                TCPKernelPeer.script
            ] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        return (process, pipe)
    }

    static func finish(_ peer: (Process, Pipe)) -> String {
        let data = peer.1.fileHandleForReading.readDataToEndOfFile()
        peer.0.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Our listener `app` serves the kernel peer as a client sending and reading `total` bytes;
    /// returns the peer's report once the runner has stopped.
    static func serveKernelClient(
        _ app: ListenerApplication, lab: KernelLab, mtu: Int, total: Int, gsoMaxSize: Int = 0
    ) throws -> (output: String, runner: TCPStackRunner) {
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let runner = try TCPStackRunner(
            fd: fd, address: stackAddress, mtu: mtu, gsoMaxSize: gsoMaxSize, application: app)
        runner.start()
        defer { runner.stop() }
        let output = finish(try startPeer(lab, ["client", "\(stackAddress)", "5001", "\(total)"]))
        runner.waitUntilDone(limit: .seconds(30))
        runner.stop()
        return (output, runner)
    }

    /// One run of our client against the kernel peer in `peerArguments` (listening on 5001):
    /// the client sends `total` bytes of the pattern; returns once the peer has reported and
    /// the runner has stopped. The lab lives as long as the result.
    struct ClientRun {
        let lab: KernelLab
        let output: String
        let endpoint: PatternEndpoint
        let app: ClientApplication
        let runner: TCPStackRunner
    }

    static func runClient(mtu: Int, total: Int, peer peerArguments: [String], closeAfterEOF: Bool = false) throws
        -> ClientRun
    {
        let lab = try Self.lab(mtu: mtu)
        let fd = lab.stackPacketSocket()
        try #require(fd >= 0)
        let peer = try Self.startPeer(lab, peerArguments)
        let endpoint = try PatternEndpoint(pattern: Self.pattern, sendTotal: total, sendAfterEOF: false)
        let app = ClientApplication(
            config: Self.config(mtu: mtu), endpoint: endpoint, local: Self.stackAddress,
            remote: lab.kernelAddress, closeAfterEOF: closeAfterEOF)
        let runner = try TCPStackRunner(fd: fd, address: Self.stackAddress, mtu: mtu, application: app)
        runner.start()
        defer { runner.stop() }
        let output = Self.finish(peer)
        runner.waitUntilDone(limit: .seconds(30))
        runner.stop()
        return ClientRun(lab: lab, output: output, endpoint: endpoint, app: app, runner: runner)
    }

    /// The peer's report of a bulk run ("OK received=N sent=N" then both SHA-256 digests)
    /// against what the Swift side wrote and read, byte-checked against the pattern on the way.
    static func expectMatchingTransfer(
        output: String, total: Int, endpoint: PatternEndpoint,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let lines = output.split(separator: "\n").map(String.init)
        #expect(lines.first == "OK received=\(total) sent=\(total)", "peer: \(output)", sourceLocation: sourceLocation)
        #expect(endpoint.received == total, sourceLocation: sourceLocation)
        #expect(endpoint.sent == total, sourceLocation: sourceLocation)
        #expect(endpoint.mismatchAt == nil, sourceLocation: sourceLocation)
        let ours =
            "received_sha256=\(endpoint.sentDigest.hexDigest()) sent_sha256=\(endpoint.receivedDigest.hexDigest())"
        #expect(lines.count == 2 && lines[1] == ours, "peer: \(output)", sourceLocation: sourceLocation)
    }

    @Test(arguments: [1500, 65520])
    func kernelClientToSwiftListenerBothWays(mtu: Int) throws {
        let lab = try Self.lab(mtu: mtu)
        let total = Self.bulkBytes
        let endpoint = try PatternEndpoint(pattern: Self.pattern, sendTotal: total, sendAfterEOF: true)
        let app = ListenerApplication(config: Self.config(mtu: mtu), endpoint: endpoint)
        let (output, runner) = try Self.serveKernelClient(app, lab: lab, mtu: mtu, total: total)
        Self.expectMatchingTransfer(output: output, total: total, endpoint: endpoint)
        #expect(app.isDone)
        let connection = try #require(endpoint.connection)
        #expect(connection.error == nil)
        #expect(connection.maximumSegmentSize == mtu - 40)
        #expect(runner.tcp.counters.sendFailures == 0)
        #expect(runner.tcp.counters.badChecksum == 0)
    }

    @Test(arguments: [1500, 65520])
    func swiftClientToKernelListenerBothWays(mtu: Int) throws {
        let total = Self.bulkBytes
        let run = try Self.runClient(mtu: mtu, total: total, peer: ["serve", "5001", "\(total)"])
        let (output, endpoint, app, runner) = (run.output, run.endpoint, run.app, run.runner)
        Self.expectMatchingTransfer(output: output, total: total, endpoint: endpoint)
        #expect(app.isDone)
        let connection = try #require(endpoint.connection)
        #expect(connection.error == nil)
        #expect(runner.tcp.counters.sendFailures == 0)
    }

    /// The veth as Linux sets it up (GSO on) and our endpoint speaking virtio_net_hdr, as
    /// bench-tcp runs: the kernel hands us segments of up to 64 KB at MTU 1500, which the stack
    /// takes whole (they were never on a wire), and we send ours with segmentation offload,
    /// up to 64 KB for the kernel to cut at our MSS.
    @Test func gsoSuperFramesBothWaysWithKernelClient() throws {
        let lab = try Self.lab(mtu: 1500, gso: true)
        let total = 64 << 20
        let endpoint = try PatternEndpoint(pattern: Self.pattern, sendTotal: total, sendAfterEOF: true)
        var config = Self.config(mtu: 1500)
        config.segmentationOffloadSize = 65535 - 100
        let app = ListenerApplication(config: config, endpoint: endpoint)
        let (output, runner) = try Self.serveKernelClient(app, lab: lab, mtu: 1500, total: total, gsoMaxSize: 65535)
        Self.expectMatchingTransfer(output: output, total: total, endpoint: endpoint)
        #expect(app.isDone)
        #expect(endpoint.connection?.error == nil)
        #expect(endpoint.connection?.maximumSegmentSize == 1460)
        // Super-frames came in: fewer frames than 1448-byte segments would need.
        #expect(runner.endpoint.statistics.received < UInt64(total / 1448))
        #expect(runner.tcp.counters.badChecksum == 0)
        #expect(runner.tcp.counters.sendFailures == 0)
        #expect(runner.endpoint.statistics.sendRejected == 0)
        // Offloaded segments went down: fewer frames than 1460-byte segments would need.
        #expect(runner.endpoint.statistics.sent < UInt64(total / 1460))
    }

    /// The kernel shuts down its writing half (FIN) while our data still streams in: we see
    /// EOF mid-stream, keep sending to the end, and everything arrives.
    @Test func kernelSendsFinMidStream() throws {
        let total = 16 << 20
        let run = try Self.runClient(mtu: 1500, total: total, peer: ["fin", "5001", "\(1 << 20)"], closeAfterEOF: true)
        let (output, endpoint) = (run.output, run.endpoint)
        #expect(output == "OK received=\(total) sent=0")
        #expect(endpoint.sawEOF)
        #expect((endpoint.sentAtEOF ?? total) < total, "EOF came after everything was written")
        #expect(endpoint.sent == total)
        let connection = try #require(endpoint.connection)
        #expect(connection.error == nil)
        #expect(connection.state == .closed || connection.state == .timeWait)
    }

    /// The kernel closes with SO_LINGER 0 mid-stream: its RST ends our connection with
    /// `connectionReset`, and nothing is left registered.
    @Test func kernelResetsMidStream() throws {
        let total = 1 << 40
        let run = try Self.runClient(mtu: 1500, total: total, peer: ["reset", "5001", "\(1 << 20)"])
        let (output, endpoint, runner) = (run.output, run.endpoint, run.runner)
        #expect(output == "OK received=\(1 << 20) sent=0")
        let connection = try #require(endpoint.connection)
        #expect(connection.state == .closed)
        #expect(connection.error == .connectionReset)
        #expect(endpoint.sent > 1 << 20)
        #expect(runner.tcp.demux.connections.isEmpty)
    }

    /// The kernel stops reading for a while with a small receive buffer: its window closes, we
    /// probe it (RFC 9293 3.8.6.1) and resume when it reopens; every byte arrives in order.
    @Test func kernelStallsItsReadsAndWeProbeTheZeroWindow() throws {
        let total = 8 << 20
        let run = try Self.runClient(
            mtu: 1500, total: total, peer: ["stall", "5001", "\(1 << 20)", "2"], closeAfterEOF: true)
        let (output, endpoint) = (run.output, run.endpoint)
        #expect(output == "OK received=\(total) sent=0")
        let connection = try #require(endpoint.connection)
        #expect(connection.counters.zeroWindowProbesSent > 0)
        #expect(connection.error == nil)
        #expect(endpoint.sent == total)
    }
}
