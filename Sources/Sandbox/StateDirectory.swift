import Glibc
import Posix

/// The launcher's own runtime state: /run/sandbox for root, $XDG_RUNTIME_DIR/sandbox otherwise
/// (the id-range locks, the compiled seccomp programs). The base is 0711, so a subdirectory
/// (0700) is reachable only by the name its owner gives it.
enum StateDirectory {
    /// The base directory for this caller, nil when a rootless caller has no runtime directory.
    static var base: String? {
        if geteuid() == 0 { return "/run/sandbox" }
        guard let runtime = getenv("XDG_RUNTIME_DIR"), runtime.pointee == UInt8(ascii: "/") else { return nil }
        return String(cString: runtime) + "/sandbox"
    }

    /// `base/name`, both made if missing (the subdirectory 0700); nil without a base.
    static func subdirectory(_ name: String) throws(SandboxError) -> String? {
        guard let base else { return nil }
        for (path, mode) in [(base, mode_t(0o711)), (base + "/" + name, mode_t(0o700))] {
            do throws(PosixError) { _ = try Posix.call("mkdir") { mkdir(path, mode) } } catch {
                if error.errno != EEXIST { throw .system(error, detail: path) }
            }
        }
        return base + "/" + name
    }
}
