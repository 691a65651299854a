import CLauncher
import Glibc
import Posix

/// A process to start in a running sandbox (`sandbox exec`, the OCI `exec`).
public struct ExecRequest: Sendable {
    public var command: [String]
    public var environment: [EnvironmentVariable]
    public var workdir: String?
    public var uid: UInt32
    public var gid: UInt32
    public var groups: [UInt32]
    /// Give it a terminal of the sandbox's own devpts (its primary end comes back from `start`).
    public var terminal = false

    /// The sandbox program's own environment and identity, running `command`.
    public init(command: [String], record: ContainerRecord) {
        self.command = command
        environment = record.environment.compactMap { try? EnvironmentVariable.parse($0, lookup: { _ in nil }) }
        uid = record.uid
        gid = record.gid
        groups = record.groups
    }
}

/// Starts processes in a running sandbox: the C path (`sbx_exec_in`) joins the namespaces of
/// its init; the launcher puts the process in the sandbox's cgroups before it may run, and it
/// runs under the sandbox's seccomp filter, without capabilities.
public enum ContainerExec {
    /// A started process: its pid, and with `terminal` its terminal's primary end (owned by
    /// the caller).
    public struct Started: Sendable {
        public var pid: pid_t
        public var terminalFD: Int32
    }

    /// Starts `request` in the sandbox of `record` once it has executed its program. The
    /// process is reparented to this process's subreaper when its intermediate fork exits: call
    /// `becomeSubreaper` first to wait for it here.
    public static func start(_ request: ExecRequest, record: ContainerRecord) throws(SandboxError) -> Started {
        guard let program = request.command.first, !program.isEmpty else {
            throw .invalidArgument("exec: no command given")
        }
        let filter = try filterProgram(record.seccomp)
        // The init it joins is the sandbox's, not a process that took its pid since.
        guard ProcessStartTime.of(record.initPID) == record.initStartTime else {
            throw .invalidArgument("cannot exec in container \(record.id): it is stopped")
        }
        let arena = CArena()
        var spawn = sbx_spawn_config()
        spawn.path = UnsafePointer(arena.string(program))
        spawn.argv = arena.stringArray(request.command)
        spawn.envp = arena.stringArray(request.environment.map { "\($0.name)=\($0.value)" })
        spawn.search_path = arena.optionalString(request.environment.value(of: "PATH"))
        spawn.workdir = arena.optionalString(request.workdir)
        spawn.set_app_ids = geteuid() == 0 ? 1 : 0
        spawn.set_groups = spawn.set_app_ids
        spawn.app_uid = request.uid
        spawn.app_gid = request.gid
        let groups = [request.gid] + request.groups
        spawn.groups_count = UInt32(groups.count)
        spawn.groups = arena.array(groups)
        spawn.tty_fd = request.terminal ? SBX_EXEC_SANDBOX_TERMINAL : -1
        spawn.stdio_fds = (-1, -1, -1)
        spawn.new_session = request.terminal ? 0 : 1
        spawn.last_cap = try Launcher.lastCapability()
        let limits = resourceLimits(of: record.initPID)
        spawn.rlimit_count = UInt32(limits.count)
        spawn.rlimits = arena.array(limits)
        var result = sbx_exec_result()
        let target = namespaceHolder(record.initPID)
        let started = (filter?.bytes ?? []).withUnsafeBytes { bytes in
            sbx_exec_in(&spawn, target, bytes.baseAddress, UInt32(filter?.instructionCount ?? 0), &result)
        }
        guard started == 0 else {
            throw .system(PosixError(call: "exec", errno: errno), detail: "(join the sandbox of \(record.id))")
        }
        defer { SystemCalls.close(result.error_fd) }
        var handed = false
        defer { if !handed, result.terminal_fd >= 0 { SystemCalls.close(result.terminal_fd) } }
        guard result.pid > 0 else {
            SystemCalls.close(result.go_fd)
            throw try failure(result.error_fd) ?? .system(PosixError(call: "fork", errno: EIO), detail: "(exec)")
        }
        do throws(SandboxError) {
            guard ProcessStartTime.of(record.initPID) == record.initStartTime else {
                throw .invalidArgument("cannot exec in container \(record.id): it stopped meanwhile")
            }
            try joinCgroups(pid: result.pid, like: record.initPID)
            try SystemCalls.writeAll(result.go_fd, [1], name: "exec go pipe")
        } catch {
            SystemCalls.close(result.go_fd)
            kill(result.pid, SIGKILL)
            throw error
        }
        SystemCalls.close(result.go_fd)
        if let error = try failure(result.error_fd) { throw error }
        handed = true
        return Started(pid: result.pid, terminalFD: result.terminal_fd)
    }

    /// Whose /proc/PID/ns to open: init's as root; rootless, its first child's (the program,
    /// in the same namespaces), because init is not dumpable and so its namespace files are
    /// closed to its unprivileged owner, while the program's are open to it after its exec.
    static func namespaceHolder(_ initPID: pid_t) -> pid_t {
        guard geteuid() != 0, let text = try? SystemCalls.readText("/proc/\(initPID)/task/\(initPID)/children"),
            let first = text.split(separator: " ").first.flatMap({ pid_t($0) })
        else { return initPID }
        return first
    }

    /// The sandbox's resource limits (its init's), which the exec'd process takes instead of
    /// this process's.
    static func resourceLimits(of initPID: pid_t) -> [sbx_rlimit] {
        ResourceLimit.names.compactMap { _, resource in
            var soft: UInt64 = 0, hard: UInt64 = 0
            guard sbx_get_rlimit(initPID, resource, &soft, &hard) == 0 else { return nil }
            return sbx_rlimit(resource: resource, soft: soft, hard: hard)
        }
    }

    /// Makes this process the reaper of its orphaned descendants, so that it can wait for an
    /// exec'd process (whose parent exits at once).
    public static func becomeSubreaper() {
        _ = sbx_become_subreaper()
    }

    /// Waits for `pid` (a child or, as subreaper, an orphaned descendant): its exit status.
    public static func wait(for pid: pid_t) -> Int32 { Launcher.wait(for: pid) }

    /// The error record of the step that failed, or nil at EOF (the program was executed).
    static func failure(_ errorFD: Int32) throws(SandboxError) -> SandboxError? {
        let report = try SystemCalls.readAll(
            errorFD, limit: MemoryLayout<sbx_child_error>.size, name: "exec error pipe")
        return report.isEmpty ? nil : Launcher.childError(report)
    }

    static func filterProgram(_ seccomp: String) throws(SandboxError) -> SeccompProgram? {
        switch SeccompChoice.parse(seccomp) {
        case .default: return try SeccompCache.program(for: DefaultSeccompPolicy.policy)
        case .unconfined: return nil
        case .profile(let path): return try SeccompCache.program(for: try OCISeccompProfile.load(path: path))
        }
    }

    /// Puts `pid` in every cgroup `initPID` is in that this process is not: the sandbox's
    /// limits cover what exec starts (/proc/PID/cgroup, matched to the mounted hierarchies).
    static func joinCgroups(pid: pid_t, like initPID: pid_t) throws(SandboxError) {
        let hierarchies = Cgroups.hierarchies(mountinfo: (try? SystemCalls.readText("/proc/self/mountinfo")) ?? "")
        let own = Cgroups.membership(procSelfCgroup: (try? SystemCalls.readText("/proc/self/cgroup")) ?? "")
        let sandbox = Cgroups.membership(procSelfCgroup: try SystemCalls.readText("/proc/\(initPID)/cgroup"))
        for entry in sandbox
        where !own.contains(where: { $0.controllers == entry.controllers && $0.path == entry.path }) {
            let named = entry.controllers.map { String($0.trimmingPrefix("name=")) }
            guard
                let hierarchy = hierarchies.first(where: { hierarchy in
                    entry.controllers.isEmpty
                        ? hierarchy.unified
                        : !hierarchy.unified && named.allSatisfy { hierarchy.controllers.contains($0) }
                }), entry.path.hasPrefix(hierarchy.root)
            else { continue }
            let relative = entry.path.dropFirst(hierarchy.root == "/" ? 0 : hierarchy.root.count)
            try SystemCalls.writeFile(hierarchy.mountPoint + relative + "/cgroup.procs", "\(pid)\n")
        }
    }
}
