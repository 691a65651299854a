/// An OCI profile's comparisons on `int` arguments, made to look at the low 32 bits as the
/// kernel does (issue 13). A profile rule `socket` with `SCMP_CMP_NE 40` compiled as a 64-bit
/// comparison is bypassed by `(1<<32)|40`: the kernel still sees family 40.
///
/// libseccomp has no 32-bit comparisons, so: EQ v becomes a masked equality on the low 32 bits;
/// MASKED_EQ keeps its mask's low 32 bits; NE v becomes one rule per masked pattern of the
/// complement of {v} (`MaskedCover`), whose union is "low 32 bits differ from v". Ordering
/// comparisons (LT, LE, GE, GT) are left as written: on an int argument they are what the
/// profile's author compiled for with runc too.
enum IntArgumentMasking {
    static let low32: UInt64 = 0xffff_ffff

    /// The `int`-typed arguments of the syscalls profiles filter on (x86_64 and arm64 share
    /// them): families, types, protocols, levels, option names, requests, commands, signals.
    static let intArguments: [String: Set<UInt32>] = [
        "socket": [0, 1, 2], "socketpair": [0, 1, 2], "setsockopt": [1, 2], "getsockopt": [1, 2],
        "personality": [0], "ioctl": [1], "fcntl": [1], "prctl": [0], "kill": [1], "tkill": [1],
        "tgkill": [2], "arch_prctl": [0], "bpf": [0], "flock": [1], "shutdown": [1], "listen": [1],
        "sched_setscheduler": [1], "ioprio_set": [0, 1], "keyctl": [0], "seccomp": [0]
    ]

    /// The condition lists to emit for one rule: one list when nothing needs splitting, the
    /// cartesian product of each NE's patterns otherwise.
    static func alternatives(_ syscall: String, _ conditions: [SeccompCondition]) -> [[SeccompCondition]] {
        let masked = intArguments[syscall] ?? []
        var result: [[SeccompCondition]] = [[]]
        for condition in conditions {
            let options = masked.contains(condition.argument) ? lowBits(condition) : [condition]
            result = result.flatMap { prefix in options.map { prefix + [$0] } }
        }
        return result
    }

    static func lowBits(_ condition: SeccompCondition) -> [SeccompCondition] {
        let argument = condition.argument
        switch condition.op {
        case .equal:
            return [.masked(argument, mask: low32, equals: condition.first & low32)]
        case .maskedEqual:
            return [
                .masked(argument, mask: condition.first & low32, equals: condition.second & condition.first & low32)
            ]
        case .notEqual:
            return MaskedCover.complement(of: [condition.first & low32]).map {
                .masked(argument, mask: $0.mask, equals: $0.value)
            }
        case .lessThan, .lessOrEqual, .greaterOrEqual, .greaterThan:
            return [condition]
        }
    }
}
