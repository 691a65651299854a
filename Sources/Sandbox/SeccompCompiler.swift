import CLauncher
import CSeccomp
import Glibc
import Posix

/// A compiled seccomp program: the raw `struct sock_filter` array (8 bytes per instruction) to
/// load in the child with prctl(PR_SET_SECCOMP).
public struct SeccompProgram: Sendable, Equatable {
    public var bytes: [UInt8]
    public var instructionCount: Int { bytes.count / 8 }
    /// Rule syscalls this architecture does not have (skipped, as runc does).
    public var unknownSyscalls: [String]
}

/// Compiles a `SeccompPolicy` with libseccomp, in the parent, for the native architecture only:
/// a call made through any other ABI (x32, i386 int 0x80) kills the process.
public enum SeccompCompiler {
    public static func compile(_ policy: SeccompPolicy) throws(SandboxError) -> SeccompProgram {
        guard let context = seccomp_init(policy.defaultAction.libseccompValue) else {
            throw .system(PosixError(call: "seccomp_init", errno: EINVAL))
        }
        defer { seccomp_release(context) }
        try check(
            seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, SeccompAction.killProcess.libseccompValue),
            "seccomp_attr_set", "bad-arch action")
        // The child sets NO_NEW_PRIVS itself, right before loading the filter.
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set", "no_new_privs")
        // Binary-tree dispatch on the syscall number instead of a linear scan.
        try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2), "seccomp_attr_set", "optimize")

        var unknown: [String] = []
        for rule in policy.rules {
            let number = seccomp_syscall_resolve_name(rule.syscall)
            if number < 0 { // __NR_SCMP_ERROR, or a syscall this architecture does not have
                if !unknown.contains(rule.syscall) { unknown.append(rule.syscall) }
                continue
            }
            if rule.action == policy.defaultAction { continue } // libseccomp refuses those; they change nothing
            let comparisons = rule.conditions.map {
                scmp_arg_cmp(
                    arg: $0.argument, op: scmp_compare(rawValue: $0.op.rawValue), datum_a: $0.first, datum_b: $0.second)
            }
            let result = comparisons.withUnsafeBufferPointer {
                seccomp_rule_add_array(context, rule.action.libseccompValue, number, UInt32($0.count), $0.baseAddress)
            }
            try check(result, "seccomp_rule_add", rule.syscall)
        }

        var fds: [Int32] = [-1, -1]
        guard sbx_pipe_cloexec(&fds) == 0 else { throw .system(PosixError(call: "pipe2", errno: errno)) }
        defer { Posix.close(fds[0]) }
        // A BPF program is at most 4096 instructions (32 KiB): it fits a pipe's 64 KiB buffer,
        // so the export cannot block before the read.
        let exported = seccomp_export_bpf(context, fds[1])
        Posix.close(fds[1])
        try check(exported, "seccomp_export_bpf", "")
        let bytes = try SystemCalls.readAll(fds[0], limit: 4096 * 8 + 1, name: "seccomp program")
        guard !bytes.isEmpty, bytes.count % 8 == 0, bytes.count <= 4096 * 8 else {
            throw .system(
                PosixError(call: "seccomp_export_bpf", errno: E2BIG), detail: "program of \(bytes.count) bytes")
        }
        return SeccompProgram(bytes: bytes, unknownSyscalls: unknown)
    }

    /// libseccomp returns a negated errno.
    private static func check(_ result: Int32, _ name: String, _ detail: String) throws(SandboxError) {
        if result < 0 { throw .system(PosixError(call: name, errno: -result), detail: detail) }
    }
}
