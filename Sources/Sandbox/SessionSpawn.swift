// Starting this binary as a long-lived helper that outlives its caller: a detached sandbox's
// supervisor (ContainerRuntime) and a named network's holder (NetworkClient). Each runs in a
// session of its own, with an empty signal mask and default dispositions, and says on a
// notify pipe (descriptor 3) when it is ready or why it is not.

import CLauncher
import Glibc
import Posix

enum SessionSpawn {
    /// Where the helper's stdin, stdout and stderr go.
    enum Stdio {
        /// The caller's (an engine's pipes).
        case inherit
        case null
    }

    /// The descriptor the helper finds its notify pipe on.
    static let notifyFD: Int32 = 3
    /// POSIX_SPAWN_SETSID (spawn.h, under _GNU_SOURCE, so not imported into Swift).
    static let setsid: Int32 = 0x80

    /// posix_spawn of `argv` with `notify` at descriptor 3, in a new session.
    static func spawn(_ argv: [String], notifyFD notify: Int32, stdio: Stdio) throws(SandboxError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, notify, notifyFD)
        switch stdio {
        case .inherit: break
        case .null:
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
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let arena = CArena()
        let args = arena.stringArray(argv)
        var pid: pid_t = 0
        let result = posix_spawn(&pid, argv[0], &actions, &attributes, UnsafeMutablePointer(mutating: args), environ)
        guard result == 0 else { throw .system(PosixError(call: "posix_spawn", errno: result), detail: argv[0]) }
        return pid
    }

    /// One message from the helper: up to a newline or EOF (its children may hold a copy of
    /// the pipe, so EOF comes only when all are gone).
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
