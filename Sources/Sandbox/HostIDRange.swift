import Glibc
import Posix

/// The host ids of one sandbox's user namespace when root runs `sandbox run` (issue 13): the
/// app is uid 0 inside, an unprivileged host uid outside.
///
/// Why a range reserved for the tool and not /etc/subuid (podman's `--userns=auto`): subuid
/// entries are per user and a fresh machine has none for root; the reserved ranges sit at
/// 2^31 and above, far from the usual subordinate allocations (100000 + 65536 n) and from
/// every real account. Each running sandbox holds its own slot (an flock on a file under
/// /run/sandbox/ids, released by the kernel when the launcher and its init are gone, even by
/// SIGKILL), so two sandboxes never share a host uid: no shared RLIMIT_NPROC count, no
/// signals or files between them through a common owner.
final class HostIDRange {
    /// Ids per sandbox: inside 0...65535, the span of 16-bit ids that images assume.
    static let size: UInt32 = 65536
    static let base: UInt32 = 0x8000_0000
    /// The last slot would reach (uid_t)-1, which means "no id" to the kernel.
    static let slots: UInt32 = (UInt32.max - base) / size

    let first: UInt32
    private let lockFD: Int32

    private init(first: UInt32, lockFD: Int32) {
        self.first = first
        self.lockFD = lockFD
    }

    deinit { Posix.close(lockFD) }

    /// "0 FIRST 65536\n": the uid_map and gid_map line.
    var mapLine: String { "0 \(first) \(Self.size)\n" }

    /// Takes the first free slot, probing from one picked by the pid so that concurrent
    /// launchers rarely contend for the same lock. Root only (the caller maps the range).
    static func reserve() throws(SandboxError) -> HostIDRange {
        guard let lockDirectory = try StateDirectory.subdirectory("ids") else {
            throw .system(PosixError(call: "mkdir", errno: EINVAL), detail: "(no state directory for id-range locks)")
        }
        let start = UInt32(truncatingIfNeeded: getpid()) % slots
        for probe in 0..<slots {
            let slot = (start + probe) % slots
            let fd = try SystemCalls.open("\(lockDirectory)/\(slot)", O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return HostIDRange(first: base + slot * size, lockFD: fd) }
            let code = errno
            Posix.close(fd)
            if code != EWOULDBLOCK {
                throw .system(PosixError(call: "flock", errno: code), detail: "\(lockDirectory)/\(slot)")
            }
        }
        throw .invalidArgument("every host id range is in use (\(slots) sandboxes run): use --userns host")
    }
}
