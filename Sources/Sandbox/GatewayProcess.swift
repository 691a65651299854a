// The gateway as the launcher holds it: a process of its own (GatewayMain), started after the
// set-up that needs the launcher's privileges is done (veth and packet socket made, published
// ports bound, pcap and log files opened, resolv.conf read, in the network namespace its host
// sockets use), so that what parses the app's frames holds none of those privileges.
//
// Why a re-exec and not fork(): the launcher is a multi-threaded Swift process, and only
// async-signal-safe code may run in a forked copy of one. So the C path clones (already in the
// new namespaces), waits for its id maps, and execs this binary with the descriptors in place;
// the gateway's process is single-threaded until it has confined itself.

import CLauncher
import FDBased
import Glibc
import Posix
import Synchronization
import UserNet

public final class GatewayProcess: Sendable {
    /// How to start the gateway's process.
    public struct Launch: Sendable {
        /// The binary run as the gateway: the launcher's own. A program that links the
        /// launcher as a library (the tests) points it at a built `sandbox`.
        public var executable = "/proc/self/exe"
        /// The test hook behind `--debug-gateway-forbidden-syscall` (see GatewayHandoff).
        public var forbiddenSyscallAfterStart = false
        /// How the gateway's process logs (on the launcher's stderr): `--log-level`, `--log-format`.
        public var log = LogSettings()

        public init() {}
    }

    /// The gateway's process, in the launcher's pid namespace.
    public var pid: pid_t { monitor.pid }
    private let monitor: GatewayMonitor
    /// The write end of the control pipe; -1 once closed (which tells the gateway to stop).
    private let control: Mutex<Int32>
    /// The published ports (`-p`), each with the host port its socket is bound to.
    public let publishedPorts: [PublishedPort]

    // CLONE_* (linux/sched.h). No CLONE_NEWNET: the host sockets live in the launcher's namespace.
    static let cloneFlags: UInt64 =
        Launcher.cloneNewUser | Launcher.cloneNewNS | Launcher.cloneNewIPC
        | Launcher.cloneNewUTS | Launcher.cloneNewPID

    private let handover: GatewayHandover

    private init(monitor: GatewayMonitor, control: Int32, handover: GatewayHandover, publishedPorts: [PublishedPort]) {
        self.monitor = monitor
        self.control = Mutex(control)
        self.handover = handover
        self.publishedPorts = publishedPorts
    }

    /// Opens what needs privileges, starts the process over `packetSocket` (it gets a copy; the
    /// caller keeps and closes its own, and may bind it at once) and returns without waiting
    /// for it to be ready (`waitUntilReady`), so its start overlaps the sandbox's.
    /// `cgroups`: the sandbox's, which the gateway joins before it runs, so that `--memory` and
    /// `--pids-limit` cover its buffers and threads as well as the app's.
    /// `packetSocket` nil: the gateway serves a named network, whose members come later (`join`).
    static func start(
        options: UserNetOptions, packetSocket: Int32?, dispatch: PacketDispatchMode,
        cgroups: CgroupPlacement? = nil, launch: Launch
    ) throws(SandboxError) -> GatewayProcess {
        let resources: GatewayResources
        do { resources = try GatewayResources.open(for: options) } catch {
            throw .network("start the gateway: \(error)")
        }
        defer { resources.close() } // the gateway's process has its own copies
        let program = try SeccompCache.program(for: GatewaySeccompPolicy.policy)
        let root = geteuid() == 0
        let publishedPorts = resources.bound(options.publishedPorts)
        var handoff = GatewayHandoff(
            flags: options.flags, dispatch: dispatch, resources: resources, hostPorts: publishedPorts.map(\.hostPort),
            openFiles: openFileLimit(options, servesNetwork: packetSocket == nil), dropGroups: root,
            lastCapability: try Launcher.lastCapability(),
            forbiddenSyscallAfterStart: launch.forbiddenSyscallAfterStart,
            seccompProgram: program.bytes)
        handoff.packetSocketPrepared = true
        handoff.servesNetwork = packetSocket == nil
        handoff.log = launch.log
        let pipes = try Pipes()
        defer { pipes.closeAll() }
        let fds =
            [pipes.handoff[0], pipes.status[1], pipes.control[0]] + (packetSocket.map { [$0] } ?? []) + resources.all
        let pid = spawn(executable: launch.executable, fds: fds, syncFD: pipes.sync[0])
        guard pid > 0 else { throw .system(PosixError(call: "clone", errno: errno), detail: "(the gateway's process)") }
        do {
            try writeIDMaps(pid: pid, root: root)
            try cgroups?.add(pid: pid)
            try SystemCalls.writeAll(pipes.sync[1], [1], name: "gateway sync pipe")
        } catch {
            kill(pid, SIGKILL)
            _ = GatewayMonitor.reap(pid)
            throw error
        }
        // The ring, then the handoff, while the process execs (GatewayHandover).
        let socketCopy = packetSocket.map { fcntl($0, F_DUPFD_CLOEXEC, 0) } ?? -1
        let handover = GatewayHandover.start(
            handoff, packetSocket: socketCopy, pipeFD: pipes.take(\.handoff, 1), options: options)
        let monitor = GatewayMonitor(pid: pid, statusFD: pipes.take(\.status, 0))
        let process = GatewayProcess(
            monitor: monitor, control: pipes.take(\.control, 1), handover: handover,
            publishedPorts: publishedPorts)
        try monitor.start()
        return process
    }

    private static func spawn(executable: String, fds: [Int32], syncFD: Int32) -> pid_t {
        let arena = CArena()
        var spec = sbx_gateway_spawn()
        spec.path = UnsafePointer(arena.string(executable))
        spec.argv = arena.stringArray([GatewayMain.processName, GatewayMain.subcommand])
        // Nothing of the launcher's environment. Without the Swift runtime's crash handler a
        // crash shows as its own signal: the handler would try to start swift-backtrace, which
        // the filter kills as SIGSYS.
        spec.envp = arena.stringArray(["SWIFT_BACKTRACE=enable=no"])
        spec.fds = arena.array(fds)
        spec.fd_count = UInt32(fds.count)
        spec.sync_fd = syncFD
        spec.clone_flags = cloneFlags
        return withExtendedLifetime(arena) { sbx_spawn_gateway(&spec) }
    }

    /// Outside its namespace the gateway is nobody (as root) or the caller; inside it is root of
    /// nothing but its own namespaces. As root the groups may be emptied; rootless,
    /// setgroups must be denied before a gid map can be written.
    private static func writeIDMaps(pid: pid_t, root: Bool) throws(SandboxError) {
        let uid = root ? 65534 : geteuid(), gid = root ? 65534 : getegid()
        try SystemCalls.writeFile("/proc/\(pid)/uid_map", "0 \(uid) 1\n")
        if !root { try SystemCalls.writeFile("/proc/\(pid)/setgroups", "deny\n") }
        try SystemCalls.writeFile("/proc/\(pid)/gid_map", "0 \(gid) 1\n")
    }

    /// One descriptor per flow at most, plus the gateway's own (ring, loop, files, ports, DNS),
    /// within the hard limit the launcher has.
    /// A named network's gateway also holds each member's packet socket and published ports.
    static func openFileLimit(_ options: UserNetOptions, servesNetwork: Bool = false) -> UInt64 {
        let members = servesNetwork ? UInt64(NetworkHolder.maximumConnections) * 2 : 0
        let wanted = UInt64(options.flowLimits.maxFlows) + UInt64(options.publishedPorts.count) + 64 + members
        var current = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &current) == 0 else { return wanted }
        return min(wanted, UInt64(current.rlim_max))
    }

    // MARK: The launcher's side of a running gateway

    /// Waits until the gateway is confined and serving; throws why not.
    public func waitUntilReady() throws(SandboxError) {
        do { try monitor.waitUntilReady() } catch {
            // A failed handover is the cause; the gateway only saw its settings missing.
            throw handover.error ?? error
        }
    }

    /// A snapshot of its counters; nil once stopped (or dead).
    public func counters() -> GatewayStatistics? {
        monitor.counters { sendControl(Array("c".utf8)) }
    }

    /// Replaces the running gateway's link faults (`sandbox update`): true once it took them;
    /// false if its link has no fault stage; nil if it is gone.
    public func setLinkFaults(_ faults: LinkFaults) -> Bool? {
        monitor.setFaults { sendControl(Array(("f" + faults.description).utf8)) }
    }

    /// A named network's gateway: puts `member` on its switch over `packetSocket` (bound to
    /// the member's veth, its ring set up; the caller keeps and closes its own). Nil once it is
    /// on; otherwise why not.
    public func join(_ member: NetworkMemberSpec, packetSocket: Int32) -> String? {
        let answer = monitor.memberAnswer { sendControl(Array(("j" + member.description).utf8), with: packetSocket) }
        guard let answer else { return "the network's gateway is gone" }
        return answer == "ok" ? nil : answer
    }

    /// Takes member `id` off the network's switch (its sandbox ended or left).
    public func leave(_ id: UInt32) { sendControl(Array("l\(id)".utf8)) }

    /// Replaces one member's link faults: true once taken; false if no such member; nil if gone.
    public func setLinkFaults(_ faults: LinkFaults, ofMember id: UInt32) -> Bool? {
        let message = Array("F\(id) \(faults)".utf8)
        return monitor.setFaults { sendControl(message) }
    }

    /// One request on the control socket, with `descriptor` (SCM_RIGHTS) when given; false if
    /// the gateway is gone (MSG_NOSIGNAL: a dead gateway is EPIPE, never SIGPIPE).
    @discardableResult
    private func sendControl(_ message: [UInt8], with descriptor: Int32? = nil) -> Bool {
        control.withLock { fd in
            guard fd >= 0 else { return false }
            return message.withUnsafeBytes { bytes in
                if let descriptor { return sbx_send_fd_with_data(fd, descriptor, bytes.baseAddress, bytes.count) == 0 }
                return Glibc.send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count
            }
        }
    }

    /// Hands the running gateway one more published port: `socket` (bound and listening here,
    /// in the namespace its host sockets use) goes with the port over the control socket.
    /// The caller keeps and closes its own `socket`. False if the gateway is gone.
    /// `member`: a named network's member the port leads to (`run --network NAME -p`); then
    /// true only once the gateway serves it.
    public func publish(_ port: PublishedPort, socket: Int32, toMember member: UInt32? = nil) -> Bool {
        let message = Array((member.map { "P\($0) " } ?? "p").utf8 + Array(port.description.utf8))
        guard member != nil else { return sendControl(message, with: socket) }
        return monitor.memberAnswer { sendControl(message, with: socket) } == "ok"
    }

    /// Stops the gateway (every flow closed and logged, the pcap flushed) and returns its final
    /// counters. Idempotent; a gateway that died gives nil. `untilExit` also waits for its
    /// process to be gone, and with it the veth (tens of ms: the kernel releases a packet
    /// socket after two RCU grace periods); without it, that happens after the caller moved on.
    @discardableResult
    public func stop(untilExit: Bool = false) -> GatewayStatistics? {
        monitor.stop(untilExit: untilExit) {
            control.withLock { fd in
                if fd >= 0 { Posix.close(fd) }
                fd = -1
            }
        }
    }

    /// Called once if the gateway dies while the run goes on (never after `stop` began).
    public func onDeath(_ handler: @escaping @Sendable (String) -> Void) { monitor.setDeathHandler(handler) }

    /// Why the gateway died ("signal 31 SIGSYS"), if it did without being stopped.
    public var deathReason: String? { monitor.deathReason }

    deinit { stop() }
}

/// The pipes between the launcher and the gateway's process, all close-on-exec. `take`
/// keeps one end past `closeAll`.
private final class Pipes {
    var handoff: [Int32] = [-1, -1], status: [Int32] = [-1, -1]
    var control: [Int32] = [-1, -1], sync: [Int32] = [-1, -1]

    init() throws(SandboxError) {
        for path in [\Pipes.handoff, \Pipes.status, \Pipes.control, \Pipes.sync] {
            var fds: [Int32] = [-1, -1]
            // Control is a socket pair so that a request to a dead gateway is EPIPE
            // (MSG_NOSIGNAL), never a SIGPIPE that would kill the launcher.
            let made = path == \Pipes.control ? sbx_socketpair_cloexec(&fds) : sbx_pipe_cloexec(&fds)
            guard made == 0 else {
                closeAll()
                throw .system(PosixError(call: "pipe2", errno: errno), detail: "(the gateway's pipes)")
            }
            self[keyPath: path] = fds
        }
    }

    func take(_ path: ReferenceWritableKeyPath<Pipes, [Int32]>, _ end: Int) -> Int32 {
        defer { self[keyPath: path][end] = -1 }
        return self[keyPath: path][end]
    }

    func closeAll() {
        for fd in handoff + status + control + sync where fd >= 0 { Posix.close(fd) }
        handoff = [-1, -1]
        status = [-1, -1]
        control = [-1, -1]
        sync = [-1, -1]
    }
}
