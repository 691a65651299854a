import CLauncher
import Glibc
import Posix

extension ContainerRuntime {
    /// Starts the supervisor of container `id` (this binary, `Supervisor.subcommand`), in a
    /// session of its own, and waits until it says the sandbox is created or why it is not.
    /// `options` go before the id, `arguments` after it. `logToState`: its stdio is /dev/null
    /// (it keeps its output in the state directory); otherwise it inherits this process's (an
    /// engine's pipes).
    func spawnSupervisor(
        id: String, record: ContainerRecord, options: [String] = [], arguments: [String], logToState: Bool
    )
        throws(SandboxError) -> pid_t
    {
        try store.write(record)
        var notify: [Int32] = [-1, -1]
        guard sbx_pipe_cloexec(&notify) == 0 else {
            throw .system(PosixError(call: "pipe2", errno: errno), detail: "(the supervisor's notify pipe)")
        }
        defer { SystemCalls.close(notify[0]) }
        let pid: pid_t
        do throws(SandboxError) {
            // Its pid is in the record before it can write there (it takes the same lock).
            let lock = try store.lock(id)
            defer { withExtendedLifetime(lock) {} }
            pid = try SessionSpawn.spawn(
                [executable, Supervisor.subcommand, "--root", store.root] + options + [id] + arguments,
                notifyFD: notify[1], stdio: logToState ? .null : .inherit)
            SystemCalls.close(notify[1])
            notify[1] = -1
            var started = record
            started.pid = pid
            started.pidStartTime = ProcessStartTime.of(pid) ?? 0
            try store.write(started)
        } catch {
            if notify[1] >= 0 { SystemCalls.close(notify[1]) }
            throw error
        }
        let message = SessionSpawn.readLine(notify[0])
        guard message == "ok" else {
            _ = Launcher.wait(for: pid)
            if message.hasPrefix("error: ") { throw .invalidArgument(String(message.dropFirst("error: ".count))) }
            throw .system(
                PosixError(call: "read", errno: EPIPE), detail: "(the supervisor of \(id) ended before it was ready)")
        }
        return pid
    }
}
