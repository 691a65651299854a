import Glibc
import Posix

/// Everything that can stop a sandbox from starting. Each case knows the exit status the CLI
/// reports, following docker and podman: 125 for the sandbox itself, 126 for a program that
/// cannot be executed, 127 for one that does not exist.
public enum SandboxError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A bad argument or configuration value (what was wrong, said for the user).
    case invalidArgument(String)
    /// A feature that is declared but not built yet; never pretended.
    case notAvailable(String)
    /// A system call in the launcher failed; `detail` says on what (a path, "(the gateway's
    /// pipes)"), when the call's name alone would not.
    case system(PosixError, detail: String = "")
    /// A step of the sandbox's setup failed inside the child (reported through the error pipe).
    case setupFailed(step: String, path: String, errno: Int32)
    /// The program could not be executed.
    case execFailed(path: String, errno: Int32)
    /// A resource limit cannot be enforced on this machine (no usable cgroup controller).
    case resourceControl(String)
    /// The user-mode network could not be wired or its gateway started.
    case network(String)
    /// The gateway's process died during the run (why, e.g. "signal 31 SIGSYS"); the app was
    /// stopped with it (fail closed).
    case gatewayDied(String)

    public var exitCode: Int32 {
        switch self {
        case .execFailed(_, let code): return code == ENOENT ? 127 : 126
        default: return 125
        }
    }

    public var description: String {
        switch self {
        case .invalidArgument(let message): return message
        case .notAvailable(let message): return message
        case .system(let error, let detail):
            return detail.isEmpty ? error.description : "\(error.call) \(detail): \(Posix.errnoText(error.errno))"
        case .setupFailed(let step, let path, let code):
            if step == "mkdir", code == EROFS {
                // A missing working directory (-w) or mount point under a host directory bound
                // read-only: say where a directory can be made instead.
                return "sandbox setup: cannot make \(path): it is under a host directory bound read-only; "
                    + "use a path under /tmp, or a volume (-v)"
            }
            return path.isEmpty
                ? "sandbox setup: \(step): \(Posix.errnoText(code))"
                : "sandbox setup: \(step) \(path): \(Posix.errnoText(code))"
        case .execFailed(let path, let code): return "cannot execute \(path): \(Posix.errnoText(code))"
        case .resourceControl(let message): return message
        case .network(let message): return message
        case .gatewayDied(let reason): return "the gateway died (\(reason)); stopping the sandbox"
        }
    }
}
