import CLauncher
import Glibc
import Logging
import Netlink
import Posix
import UserNet

/// The sandbox's init as the parent sees it, between its creation and the program's start:
/// its namespaces exist, nothing runs in them yet.
public struct SandboxChild: Sendable {
    /// The sandbox's init, in the launcher's pid namespace.
    public let pid: pid_t
    public let network: NetworkMode
    public let userNamespace: Bool
    /// A NETLINK_ROUTE socket opened inside the sandbox's network namespace (when the launcher
    /// was asked for one, and the sandbox has its own netns). Owned by the launcher: valid
    /// during `prepare` only; dup it to keep it. Requests on it configure the app's netns even
    /// rootless, because the launcher owns the sandbox's user namespace.
    public let netlinkSocket: Int32?
    /// With --net=user, the gateway's process (its counters, for instance).
    public let gateway: GatewayProcess?
    /// With `--network NAME`, the sandbox's membership of that network (its gateway is the
    /// network's, not the sandbox's: `gateway` is nil).
    public var networkAttachment: NetworkAttachment?
    /// What `sandbox update` changes the link faults through.
    public var adjustableLink: (any LinkFaultsAdjustable)? { gateway ?? networkAttachment }
    /// What the launcher removes when the sandbox ends, for whoever must do it if the launcher
    /// is killed first (a detached sandbox's `rm`): its cgroup directories and the directory of
    /// its network files.
    public var leftovers = SandboxLeftovers()

    /// /proc/<pid>/ns/<kind>, e.g. "net" or "user": open it to join or configure a namespace.
    public func namespacePath(_ kind: String) -> String { "/proc/\(pid)/ns/\(kind)" }
}

/// Host paths a sandbox's launcher makes and removes at its end.
public struct SandboxLeftovers: Sendable, Codable, Equatable {
    public var cgroupDirectories: [String] = []
    public var networkFiles: String?

    public init() {}

    /// Removes them (the sandbox's processes are gone): empty cgroups, the network files.
    public func remove() {
        CgroupPlacement(directories: cgroupDirectories).remove()
        if let networkFiles { NetworkFiles(directory: networkFiles).remove() }
    }
}

/// Runs one sandbox to completion.
///
/// The parent (this process) builds the mount plan, creates cgroups, then clones the sandbox's
/// init through the C child path (`sbx_spawn`). The init waits on a pipe while the parent
/// writes its id maps and moves it into its cgroups; then the parent says go, and init sets up
/// its root while the parent compiles the seccomp filter and calls `prepare` (where the network
/// half configures the app's network namespace). Init starts the program once the parent says
/// ready, sending the filter with it.
/// With --net=user the launcher itself wires the app's eth0 to the gateway's confined process
/// before `prepare` (GatewayWiring, GatewayProcess), fails closed if that process dies while
/// the program runs, and stops it when the program is gone.
/// Setup and exec failures come back through a second pipe; the program's exit status is
/// passed through (128+N when a signal ended it).
public struct Launcher: Sendable {
    public var configuration: SandboxConfiguration
    /// Runs after the namespaces exist and before the program starts.
    public var prepare: (@Sendable (SandboxChild) throws(SandboxError) -> Void)?

    /// Whether `prepare` gets a `netlinkSocket` in the sandbox's network namespace.
    public var wantsNetlinkSocket: Bool

    /// Runs once the sandbox is ready to start its program (its gateway serving), before the
    /// program starts: an OCI `create` reports "created" here and waits for `start`.
    /// Signals are not yet forwarded: one that ends this process ends the sandbox.
    public var beforeStart: (@Sendable (SandboxChild) throws(SandboxError) -> Void)?

    /// Runs once the program was executed (its init's setup is complete), while it runs.
    public var afterStart: (@Sendable (SandboxChild) -> Void)?

    public init(
        configuration: SandboxConfiguration, wantsNetlinkSocket: Bool = false,
        prepare: (@Sendable (SandboxChild) throws(SandboxError) -> Void)? = nil
    ) {
        self.configuration = configuration
        self.wantsNetlinkSocket = wantsNetlinkSocket
        self.prepare = prepare
    }

    /// Staging directory on the host: a tmpfs goes over it inside the sandbox's mount
    /// namespace only (as bubblewrap does with /tmp).
    static let stageDirectory = "/tmp"
    /// The launcher's own messages (`--log-level debug`: the set-up steps). Made on first use,
    /// after the command line set up logging.
    static let log = Logger(label: "sandbox")

    // CLONE_* values (linux/sched.h; the macros are not imported into Swift).
    static let cloneNewNS: UInt64 = 0x0002_0000, cloneNewCgroup: UInt64 = 0x0200_0000
    static let cloneNewUTS: UInt64 = 0x0400_0000, cloneNewIPC: UInt64 = 0x0800_0000
    static let cloneNewUser: UInt64 = 0x1000_0000, cloneNewPID: UInt64 = 0x2000_0000
    static let cloneNewNet: UInt64 = 0x4000_0000

    /// Runs the program and returns its exit status. Phases: the checks, the host side of the
    /// sandbox (network files, terminal, volumes, the mount plan), then `launch`.
    public func run() throws(SandboxError) -> Int32 {
        var config = configuration
        try config.validate()
        let identity = try SandboxIdentity(config)
        defer { withExtendedLifetime(identity) {} } // its id range's lock is the slot: held until the run ends
        let profilePolicy = try Self.checkInputs(config)

        let joined = try Self.joinNetwork(config)
        defer { withExtendedLifetime(joined) {} } // its connection is the membership: held until the run ends
        var userNet = joined?.1
        if userNet == nil, config.network == .user { userNet = try config.userNetOptions() }
        config.resolver.searchesOwnZoneFirst = joined != nil
        let networkFiles = try userNet.map { (options) throws(SandboxError) in
            try NetworkFiles.create(
                network: options.network, hostname: config.hostname, extraHosts: config.extraHosts,
                resolver: config.resolver)
        }
        defer { networkFiles?.remove() }

        let terminal = config.tty ? try TerminalRelay.open() : nil
        defer { terminal?.close() }
        let stdioRelay = config.tty ? nil : try StdioRelay.forTerminals()
        defer { stdioRelay?.close() }
        let idRange = identity.idRange
        // The app's root (inside uid 0, tty group 5) owns its terminal, as with runc's console.
        if let idRange, let terminal { _ = fchown(terminal.replicaFD, idRange.first, idRange.first + 5) }
        let volumeTrees = try idRange.map { (range) throws(SandboxError) in
            try IdmappedVolumes.open(config.volumes, range: range)
        }
        defer { withExtendedLifetime(volumeTrees) {} } // the clone inherits the descriptors
        let rootTree = try Self.writableRootTree(config, range: idRange)
        defer { withExtendedLifetime(rootTree) {} }
        // --net=host: no sysfs of our own can be mounted (the host's netns is not the
        // sandbox's); as root, show the host's /sys without the mounts below it.
        let hostSysfs = config.network == .host && identity.hostUID == 0 ? sbx_open_readonly_tree("/sys") : -1
        defer { if hostSysfs >= 0 { SystemCalls.close(hostSysfs) } }
        let mounts = Self.mountPlan(
            &config, identity: identity, networkVolumes: networkFiles?.volumes ?? [],
            volumeTrees: volumeTrees?.treeFDs ?? [], rootTree: rootTree?.0.treeFDs.first ?? -1,
            hostSysfs: hostSysfs, console: terminal?.replicaPath)
        if config.rootWritable, rootTree?.idmapped != true, let rootfs = config.rootfs {
            try Self.makeMountPoints(mounts, in: rootfs)
        }
        Self.log.debug(
            "set-up planned",
            metadata: [
                "network": "\(config.network)", "user-namespace": "\(identity.userNamespace)",
                "host-ids": "\(idRange.map { "\($0.first)+\(HostIDRange.size)" } ?? "none")",
                "mount-steps": "\(mounts.count)", "seccomp": "\(config.seccomp)"
            ])
        let status = try launch(
            config, identity: identity, mounts: mounts, userNet: userNet, network: joined?.0,
            profilePolicy: profilePolicy, networkFiles: networkFiles, terminal: terminal, stdioRelay: stdioRelay)
        Self.log.debug("sandbox ended", metadata: ["status": "\(status)"])
        return status
    }

    /// Clones the sandbox's init with `mounts` and sees it through: network descriptors, id
    /// maps, cgroups, go; the seccomp program and the gateway while init sets up its root;
    /// `prepare`; ready with the filter; the program's exec; its exit status.
    func launch(
        _ config: SandboxConfiguration, identity: SandboxIdentity, mounts: [MountOperation],
        userNet: UserNetOptions?, network: NetworkAttachment?, profilePolicy: SeccompPolicy?,
        networkFiles: NetworkFiles?, terminal: TerminalRelay?, stdioRelay: StdioRelay?
    ) throws(SandboxError) -> Int32 {
        let arena = CArena()
        var spawn = try Self.spawnConfiguration(
            config, userNamespace: identity.userNamespace, rootMapped: identity.rootMapped,
            mounts: mounts, terminal: terminal, arena: arena)
        if let ends = stdioRelay?.programEnds { spawn.stdio_fds = (ends[0], ends[1], ends[2]) }

        let cgroups = config.resources.isEmpty ? nil : try Cgroups.create(config.resources)
        defer { cgroups?.remove() }
        spawn.go_at_once = !identity.userNamespace && cgroups == nil ? 1 : 0
        spawn.become_namespace_root = identity.idRange != nil ? 1 : 0

        // The network seam: a socketpair on which init sends back an rtnetlink socket.
        var channel: [Int32] = [-1, -1]
        if (wantsNetlinkSocket || userNet != nil) && config.network != .host {
            guard sbx_socketpair_cloexec(&channel) == 0 else {
                throw .system(PosixError(call: "socketpair", errno: errno))
            }
        }
        defer { for fd in channel where fd >= 0 { SystemCalls.close(fd) } }
        spawn.netlink_channel_fd = channel[1]
        spawn.outer_network_namespace = userNet != nil ? 1 : 0

        var result = try Self.clone(&spawn, userNamespace: identity.userNamespace)
        terminal?.closeReplica()
        try Self.handTerminal(terminal, to: config.consoleSocket, initPID: result.pid)
        stdioRelay?.closeProgramEnds()
        if channel[1] >= 0 {
            SystemCalls.close(channel[1])
            channel[1] = -1
        }
        var started = false
        defer {
            SystemCalls.close(result.error_fd)
            if !started {
                if result.go_fd >= 0 { SystemCalls.close(result.go_fd) }
                SystemCalls.close(result.ready_fd)
                kill(result.pid, SIGKILL)
                _ = Self.wait(for: result.pid)
            }
        }

        var received =
            channel[0] < 0
            ? []
            : try Self.receiveDescriptors(
                on: channel[0], count: userNet != nil ? 4 : 1,
                errorFD: result.error_fd)
        defer { for fd in received { SystemCalls.close(fd) } }
        let netlinkSocket = received.first

        if identity.userNamespace { try identity.writeMaps(pid: result.pid) }
        try cgroups?.add(pid: result.pid)
        // Init sets up its root while the network is wired; it starts the program on `ready_fd`.
        if result.go_fd >= 0 {
            try SystemCalls.writeAll(result.go_fd, [1], name: "go pipe")
            SystemCalls.close(result.go_fd)
            result.go_fd = -1
        }
        let program = try Self.seccompProgram(config, profilePolicy: profilePolicy)

        var gateway: GatewayProcess?
        defer { gateway?.stop() }
        if let userNet {
            gateway = try Self.startGateway(
                userNet, received: &received, config: config, cgroups: cgroups, network: network)
        }
        var child = SandboxChild(
            pid: result.pid, network: config.network, userNamespace: identity.userNamespace,
            netlinkSocket: netlinkSocket, gateway: gateway, networkAttachment: network)
        child.leftovers.cgroupDirectories = cgroups?.directories ?? []
        child.leftovers.networkFiles = networkFiles?.directory
        try prepare?(child)
        let initHandle = try gateway.map { (gateway) throws(SandboxError) in
            try Self.failClosed(gateway, initPID: child.pid)
        }
        defer {
            Self.stop(gateway) // first: once it returns, the death handler cannot use the pidfd
            initHandle.map { SystemCalls.close($0) }
        }
        try beforeStart?(child)
        _ = sbx_forward_signals_to(child.pid)
        defer { _ = sbx_forward_signals_to(0) }
        try Self.sendReady(result.ready_fd, program: program)
        started = true

        try Self.awaitExec(errorFD: result.error_fd, pid: child.pid)
        afterStart?(child)
        // The program runs: the sandbox's binds of these files are in place.
        networkFiles?.remove()
        if let terminal, config.consoleSocket == nil { terminal.relay(until: child.pid) }
        if let stdioRelay { stdioRelay.relay(until: child.pid) }
        let status = Self.wait(for: child.pid)
        if let reason = gateway?.deathReason { throw .gatewayDied(reason) }
        return status
    }

    /// `--console-socket`: the terminal's primary end goes to the engine, which relays it.
    static func handTerminal(_ terminal: TerminalRelay?, to socket: String?, initPID: pid_t) throws(SandboxError) {
        guard let terminal, let socket else { return }
        guard sbx_send_to_console_socket(socket, terminal.primaryFD) == 0 else {
            let code = errno
            kill(initPID, SIGKILL)
            _ = Self.wait(for: initPID)
            throw .system(PosixError(call: "sendmsg", errno: code), detail: "(--console-socket \(socket))")
        }
    }

    /// What can be refused before anything starts: the seccomp profile (read now; returned),
    /// the root file system and the volumes' host paths.
    static func checkInputs(_ config: SandboxConfiguration) throws(SandboxError) -> SeccompPolicy? {
        var profilePolicy: SeccompPolicy?
        if case .profile(let path) = config.seccomp { profilePolicy = try OCISeccompProfile.load(path: path) }
        for limit in config.rlimits { try limit.checkRaisable() }
        if let rootfs = config.rootfs, !SystemCalls.isDirectory(rootfs) {
            throw .invalidArgument("--rootfs \(rootfs) is not a directory")
        }
        for volume in config.volumes where !SystemCalls.fileExists(volume.hostPath) {
            throw .invalidArgument("--volume: \(volume.hostPath) does not exist on the host")
        }
        return profilePolicy
    }

    /// Clones the sandbox's init (`sbx_spawn`); a refusal in a user namespace says where to look.
    static func clone(_ spawn: inout sbx_spawn_config, userNamespace: Bool) throws(SandboxError) -> sbx_spawn_result {
        var result = sbx_spawn_result()
        guard sbx_spawn(&spawn, &result) == 0 else {
            let code = errno
            if code == EPERM || code == EACCES || code == ENOSPC, userNamespace {
                throw .system(
                    PosixError(call: "clone", errno: code),
                    detail:
                        "(user namespaces: is unprivileged user namespace creation allowed? see /proc/sys/user/max_user_namespaces)"
                )
            }
            throw .system(PosixError(call: "clone", errno: code))
        }
        log.debug("init cloned", metadata: ["pid": "\(result.pid)"])
        return result
    }

    /// What init sends on the netlink channel: the rtnetlink socket of the app's namespace, then
    /// (--net=user) the gateway's namespace (OuterNetwork's three descriptors), in that order.
    static func receiveDescriptors(on channel: Int32, count: Int, errorFD: Int32) throws(SandboxError) -> [Int32] {
        var received: [Int32] = []
        for _ in 0..<count {
            let fd = sbx_receive_fd(channel)
            if fd < 0 {
                let code = errno
                for fd in received { SystemCalls.close(fd) }
                // init failed before sending: its error record says why.
                let report =
                    (try? SystemCalls.readAll(errorFD, limit: MemoryLayout<sbx_child_error>.size, name: "error pipe"))
                    ?? []
                if report.count == MemoryLayout<sbx_child_error>.size { throw Self.childError(report) }
                throw .system(
                    PosixError(call: "recvmsg", errno: code), detail: "(network descriptors from the sandbox)")
            }
            received.append(fd)
        }
        return received
    }

    /// libseccomp needs milliseconds for the allow-list: a cached program (SeccompCache) is
    /// read instead when there is one; either way this runs while init mounts its root.
    static func seccompProgram(_ config: SandboxConfiguration, profilePolicy: SeccompPolicy?) throws(SandboxError)
        -> SeccompProgram?
    {
        if let profilePolicy { return try SeccompCache.program(for: profilePolicy) }
        return config.seccomp == .default ? try SeccompCache.program(for: DefaultSeccompPolicy.policy) : nil
    }

    /// Tells init to start the program under `program`. EPIPE: init failed during its setup,
    /// and the error pipe carries why (`awaitExec`).
    static func sendReady(_ readyFD: Int32, program: SeccompProgram?) throws(SandboxError) {
        let sent = (program?.bytes ?? []).withUnsafeBytes {
            sbx_send_ready(readyFD, $0.baseAddress, UInt32(program?.instructionCount ?? 0))
        }
        if sent < 0, errno != EPIPE, errno != ECONNRESET {
            throw .system(PosixError(call: "send", errno: errno), detail: "(ready channel to the sandbox's init)")
        }
        SystemCalls.close(readyFD)
    }

    /// The error pipe reaches EOF when the program was executed (close-on-exec), or carries the
    /// record of the step that failed: then init is reaped and the record thrown.
    static func awaitExec(errorFD: Int32, pid: pid_t) throws(SandboxError) {
        let report = try SystemCalls.readAll(errorFD, limit: MemoryLayout<sbx_child_error>.size, name: "error pipe")
        guard !report.isEmpty else {
            log.debug("program started")
            return
        }
        _ = Self.wait(for: pid)
        // The record is written at once and is smaller than PIPE_BUF: a short one is a bug.
        guard report.count == MemoryLayout<sbx_child_error>.size else {
            throw .system(
                PosixError(call: "read", errno: EIO), detail: "error pipe (short record of \(report.count) bytes)")
        }
        throw Self.childError(report)
    }

    /// The plain-data configuration the C child path runs from (everything but the seccomp
    /// program and the netlink channel, which the caller adds).
    static func spawnConfiguration(
        _ config: SandboxConfiguration, userNamespace: Bool, rootMapped: Bool,
        mounts: [MountOperation], terminal: TerminalRelay?,
        arena: CArena
    ) throws(SandboxError) -> sbx_spawn_config {
        var spawn = sbx_spawn_config()
        spawn.clone_flags =
            Self.cloneNewNS | Self.cloneNewPID | Self.cloneNewUTS | Self.cloneNewIPC
            | (userNamespace ? Self.cloneNewUser : 0) | (config.network == .host ? 0 : Self.cloneNewNet)
        spawn.unshare_cgroup = 1
        spawn.set_app_ids = rootMapped && (config.user != nil || !config.supplementaryGroups.isEmpty) ? 1 : 0
        spawn.app_uid = config.user?.uid ?? 0
        spawn.app_gid = config.user?.gid ?? 0
        spawn.set_groups = rootMapped ? 1 : 0
        let groups = [config.user?.gid ?? 0] + config.supplementaryGroups
        spawn.groups_count = UInt32(groups.count)
        spawn.groups = arena.array(groups)
        spawn.hostname = UnsafePointer(arena.string(config.hostname))
        spawn.loopback_up = config.network == .host ? 0 : 1
        // ping works through the gateway's echo forwarding; a published port may be below 1024.
        spawn.user_network_sysctls = config.network == .user ? 1 : 0
        spawn.stage_dir = UnsafePointer(arena.string(Self.stageDirectory))
        let operations = mounts.map { op in
            sbx_mount_op(
                kind: op.kind.rawValue, optional: op.optional ? 1 : 0, recursive: op.recursive ? 1 : 0,
                readonly: op.readOnly ? 1 : 0, create_target: op.createTarget ? 1 : 0, mode: op.mode,
                flags: op.flags, source: arena.optionalString(op.source),
                target: UnsafePointer(arena.string(op.target)), data: arena.optionalString(op.data),
                source_fd: op.sourceFD)
        }
        spawn.mount_count = UInt32(operations.count)
        spawn.mounts = arena.array(operations)
        let rlimits = config.rlimits.map { sbx_rlimit(resource: $0.resource, soft: $0.soft, hard: $0.hard) }
        spawn.rlimit_count = UInt32(rlimits.count)
        spawn.rlimits = arena.array(rlimits)
        spawn.path = UnsafePointer(arena.string(config.command[0]))
        spawn.argv = arena.stringArray(config.command)
        spawn.envp = arena.stringArray(config.environment.map { "\($0.name)=\($0.value)" })
        spawn.search_path = arena.optionalString(config.environment.value(of: "PATH"))
        spawn.workdir = arena.optionalString(config.workdir)
        spawn.new_session = 1
        spawn.stop_timeout_ms = config.stopTimeoutSeconds.map { Int32($0) * 1000 } ?? -1
        spawn.tty_fd = terminal?.replicaFD ?? -1
        spawn.stdio_fds = (-1, -1, -1)
        spawn.last_cap = try Self.lastCapability()
        spawn.netlink_channel_fd = -1
        spawn.outer_network_namespace = 0
        return spawn
    }

    /// Waits for `pid` and turns its status into an exit code (128+N for signal N).
    static func wait(for pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return 125 }
        }
        if sbx_wifexited(status) != 0 { return sbx_wexitstatus(status) }
        if sbx_wifsignaled(status) != 0 { return 128 + sbx_wtermsig(status) }
        return 125
    }

    static func childError(_ bytes: [UInt8]) -> SandboxError {
        var record = sbx_child_error()
        withUnsafeMutableBytes(of: &record) { $0.copyBytes(from: bytes.prefix($0.count)) }
        let step = withUnsafeBytes(of: record.step) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        var path = withUnsafeBytes(of: record.path) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        if record.exec_failed != 0 { return .execFailed(path: path, errno: record.error) }
        // Show sandbox paths as the app will see them.
        if path.hasPrefix(MountPlan.newRoot + "/") { path = String(path.dropFirst(MountPlan.newRoot.count)) }
        if step == "bind mount", record.error == EROFS {
            // A volume whose mount point is missing from the read-only root cannot be created.
            return .setupFailed(
                step: "create the volume mount point (the root file system is read-only: "
                    + "use a path that exists in it, or one under /tmp)", path: path, errno: record.error)
        }
        if record.error == ELOOP {
            // The child refuses a mount point behind a symlink that does not resolve in the root.
            return .setupFailed(
                step: step + " (a symlink on the path dangles or leads out of the root file system)",
                path: path, errno: record.error)
        }
        return .setupFailed(step: step, path: path, errno: record.error)
    }

    /// The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap).
    static func lastCapability() throws(SandboxError) -> Int32 {
        let text = try SystemCalls.readText("/proc/sys/kernel/cap_last_cap")
        guard let value = Int32(text.trimmingWhitespace()), value >= 0, value < 64 else {
            throw .system(PosixError(call: "read", errno: EINVAL), detail: "/proc/sys/kernel/cap_last_cap")
        }
        return value
    }
}

extension String {
    func trimmingWhitespace() -> String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
