import CSeccomp
import Glibc
import Posix

/// Compiled filters kept between runs. libseccomp needs about 7 ms for the built-in allow-list
/// (some 700 rules; its rule database grows worse than linearly), more than the rest of a
/// `--net=none` start-up; the program it makes depends only on the policy, libseccomp's
/// version, the kernel (libseccomp probes its API level) and the architecture, so a run whose
/// fingerprint matches loads the bytes it compiled before.
///
/// The cache is trusted only where only the caller can write: /run/sandbox/seccomp for root,
/// $XDG_RUNTIME_DIR/sandbox/seccomp otherwise, each directory the caller's own and not group-
/// or world-writable (checked on the opened descriptor), the files read and written through it.
/// Without such a directory every run compiles, as before.
public enum SeccompCache {
    public static func program(for policy: SeccompPolicy) throws(SandboxError) -> SeccompProgram {
        guard let directory = openDirectory() else { return try SeccompCompiler.compile(policy) }
        defer { Posix.close(directory) }
        let name = "\(String(fingerprint(policy), radix: 16)).bpf"
        if let bytes = read(name, in: directory) { return SeccompProgram(bytes: bytes, unknownSyscalls: []) }
        let program = try SeccompCompiler.compile(policy)
        write(program.bytes, name: name, in: directory)
        return program
    }

    /// FNV-1a over every field of every rule, then the environment the program depends on.
    public static func fingerprint(_ policy: SeccompPolicy) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ value: UInt64) {
            for shift in stride(from: 0, to: 64, by: 8) {
                hash = (hash ^ (value >> UInt64(shift) & 0xff)) &* 0x100_0000_01b3
            }
        }
        func mix(_ text: String) {
            for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            mix(UInt64(text.utf8.count))
        }
        mix(UInt64(policy.defaultAction.libseccompValue))
        for rule in policy.rules {
            mix(rule.syscall)
            mix(UInt64(rule.action.libseccompValue))
            mix(UInt64(rule.conditions.count))
            for condition in rule.conditions {
                mix(UInt64(condition.argument) << 32 | UInt64(condition.op.rawValue))
                mix(condition.first)
                mix(condition.second)
            }
        }
        if let version = seccomp_version() {
            mix(
                UInt64(version.pointee.major) << 32 | UInt64(version.pointee.minor) << 16
                    | UInt64(version.pointee.micro))
        }
        var name = utsname()
        if uname(&name) == 0 {
            mix(withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) })
            mix(withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) })
        }
        return hash
    }

    private static func openDirectory() -> Int32? {
        guard let path = try? StateDirectory.subdirectory("seccomp") else { return nil }
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o022 == 0 else {
            Posix.close(fd)
            return nil
        }
        return fd
    }

    /// A cached program, if it is there and has the shape of one (whole instructions, at most
    /// the kernel's 4096).
    private static func read(_ name: String, in directory: Int32) -> [UInt8]? {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Posix.close(fd) }
        guard let bytes = try? SystemCalls.readAll(fd, limit: 4096 * 8 + 1, name: name),
            !bytes.isEmpty, bytes.count % 8 == 0, bytes.count <= 4096 * 8
        else { return nil }
        return bytes
    }

    /// Written under a temporary name and renamed, so a reader never sees half a program.
    /// Failures only cost the next run a compile.
    private static func write(_ bytes: [UInt8], name: String, in directory: Int32) {
        let temporary = "\(name).\(getpid()).tmp"
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let written = (try? SystemCalls.writeAll(fd, bytes, name: temporary)) != nil
        Posix.close(fd)
        if !written || renameat(directory, temporary, directory, name) != 0 { _ = unlinkat(directory, temporary, 0) }
    }
}
