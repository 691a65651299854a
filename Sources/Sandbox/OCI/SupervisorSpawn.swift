import CLauncher
import Glibc
import Posix

extension ContainerRuntime {
    /// POSIX_SPAWN_SETSID (spawn.h, under _GNU_SOURCE, so not imported into Swift).
    static let spawnSetsid: Int32 = 0x80

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
            pid = try spawn(
                [executable, Supervisor.subcommand, "--root", store.root] + options + [id] + arguments,
                notifyFD: notify[1],
                nullStdio: logToState)
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
        let message = Self.readLine(notify[0])
        guard message == "ok" else {
            _ = Launcher.wait(for: pid)
            if message.hasPrefix("error: ") { throw .invalidArgument(String(message.dropFirst("error: ".count))) }
            throw .system(
                PosixError(call: "read", errno: EPIPE), detail: "(the supervisor of \(id) ended before it was ready)")
        }
        return pid
    }

    /// posix_spawn with `notifyFD` at 3, a new session, an empty signal mask and default
    /// dispositions.
    private func spawn(_ argv: [String], notifyFD: Int32, nullStdio: Bool) throws(SandboxError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, notifyFD, Supervisor.notifyFD)
        if nullStdio {
            for fd: Int32 in 0...2 {
                posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
            }
        }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(Self.spawnSetsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arena = CArena()
        let args = arena.stringArray(argv)
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, UnsafeMutablePointer(mutating: args), environ)
        guard result == 0 else { throw .system(PosixError(call: "posix_spawn", errno: result), detail: argv[0]) }
        return pid
    }

    /// One message from the supervisor: up to a newline or EOF (its sandbox's init holds a
    /// copy of the pipe, so EOF comes only if both are gone).
    static func readLine(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 65_536, !bytes.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer.prefix(count)
        }
        return String(decoding: bytes.prefix(while: { $0 != UInt8(ascii: "\n") }), as: UTF8.self)
    }
}
