import CLauncher
import Glibc
import Posix

/// config.json's hooks that run in the runtime's namespaces (runtime-spec config.md, "POSIX
/// platform hooks"): `createRuntime` and the older `prestart` once the sandbox's namespaces
/// exist, before the program starts (a failure fails the start); `poststart` once the program
/// runs and `poststop` when the container is deleted (a failure is reported, not fatal). Each
/// gets the container's state JSON on its stdin, its own args and env, and is killed when its
/// `timeout` (seconds) passes. `createContainer` and `startContainer`, which run inside the
/// container's namespaces, are refused by `OCIBundle`.
enum OCIHooks {
    /// The network namespace the runtime was started in (the supervisor joins the engine's):
    /// hooks are spawned from a thread that went back to it. -1: the current one.
    nonisolated(unsafe) static var runtimeNetwork: Int32 = -1

    /// Runs `hooks` in order; the first that fails (or times out) throws.
    static func run(_ hooks: [OCIConfig.Hook], phase: String, state: [UInt8]) throws(SandboxError) {
        for (index, hook) in hooks.enumerated() {
            let what = "hook \(phase)[\(index)] \(hook.path)"
            guard hook.path.hasPrefix("/") else { throw .invalidArgument("\(what): the path must be absolute") }
            let status = try runOne(hook, state: state, what: what)
            guard status == 0 else { throw .invalidArgument("\(what) failed (exit status \(status))") }
        }
    }

    /// Runs `hooks`, reporting failures on stderr instead of throwing.
    static func runReporting(_ hooks: [OCIConfig.Hook], phase: String, state: [UInt8]) {
        do { try run(hooks, phase: phase, state: state) } catch {
            try? Posix.writeAll(STDERR_FILENO, Array("sandbox: warning: \(error)\n".utf8))
        }
    }

    private static func runOne(_ hook: OCIConfig.Hook, state: [UInt8], what: String) throws(SandboxError) -> Int32 {
        // A socket pair rather than a pipe: MSG_NOSIGNAL, so a hook that exits without reading
        // its stdin cannot end this process with SIGPIPE.
        var input: [Int32] = [-1, -1]
        guard sbx_socketpair_cloexec(&input) == 0 else {
            throw .system(PosixError(call: "socketpair", errno: errno), detail: what)
        }
        defer { if input[1] >= 0 { SystemCalls.close(input[1]) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, input[0], STDIN_FILENO)
        let arena = CArena()
        let argv = arena.stringArray(hook.args ?? [hook.path])
        let envp = arena.stringArray(hook.env ?? [])
        var pid: pid_t = 0
        let result = inRuntimeNetwork {
            posix_spawn(
                &pid, hook.path, &actions, nil, UnsafeMutablePointer(mutating: argv),
                UnsafeMutablePointer(mutating: envp))
        }
        SystemCalls.close(input[0])
        guard result == 0 else { throw .system(PosixError(call: "posix_spawn", errno: result), detail: what) }
        // The state is small (one message); whether the hook reads it is its own affair.
        _ = state.withUnsafeBytes { send(input[1], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        SystemCalls.close(input[1])
        input[1] = -1
        return wait(pid, timeoutSeconds: hook.timeout)
    }

    /// Runs `body` on a thread of its own in `runtimeNetwork` (setns moves only the calling
    /// thread, and a process it spawns starts in that thread's namespace), then joins it.
    private static func inRuntimeNetwork(_ body: () -> Int32) -> Int32 {
        guard runtimeNetwork >= 0 else { return body() }
        return withoutActuallyEscaping(body) { body in
            final class Job: @unchecked Sendable {
                let body: () -> Int32
                var result: Int32 = EAGAIN
                init(_ body: @escaping () -> Int32) { self.body = body }
            }
            let job = Job(body)
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { raw in
                    guard let raw else { return nil }
                    let job = Unmanaged<Job>.fromOpaque(raw).takeUnretainedValue()
                    job.result = sbx_join_network_namespace(OCIHooks.runtimeNetwork) == 0 ? job.body() : errno
                    return nil
                }, Unmanaged.passUnretained(job).toOpaque())
            guard started == 0 else { return started }
            pthread_join(thread, nil)
            return withExtendedLifetime(job) { job.result }
        }
    }

    /// Waits for `pid`, killing it once `timeoutSeconds` (if any, > 0) have passed: 128+9 then.
    private static func wait(_ pid: pid_t, timeoutSeconds: Int?) -> Int32 {
        guard let timeoutSeconds, timeoutSeconds > 0 else { return Launcher.wait(for: pid) }
        let deadline = min(timeoutSeconds, 86_400) * 100
        for _ in 0..<deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                if sbx_wifexited(status) != 0 { return sbx_wexitstatus(status) }
                return 128 + sbx_wtermsig(status)
            }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        return Launcher.wait(for: pid)
    }
}
