import Glibc

/// The built-in seccomp policy (`--seccomp default`): everything is allowed except what lets a
/// program leave or weaken the sandbox, reach the kernel's rarely-audited corners, or change the
/// host. Each denial answers an errno (never a silent allow, never a kill a libc cannot handle):
/// EPERM for privileged operations, EAFNOSUPPORT for socket families, ENOSYS where libc is
/// expected to fall back to an older call (clone3 -> clone, io_uring -> plain syscalls).
public enum DefaultSeccompPolicy {
    /// Denied outright with EPERM.
    public static let deniedSyscalls = [
        // mount family: the file system view is fixed before exec
        "mount", "umount2", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
        "pivot_root", "chroot",
        // other processes' memory, tracing, kernel programs
        "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open", "userfaultfd",
        // kernel keyrings are not namespaced
        "keyctl", "add_key", "request_key",
        // the machine itself
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
        "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
        "iopl", "ioperm", "syslog", "quotactl", "lookup_dcookie", "uselib", "vhangup", "nfsservctl",
        // file handles bypass the mount namespace's view
        "open_by_handle_at",
        // joining a namespace by fd
        "setns",
    ]

    /// Answered with ENOSYS so that libc falls back: clone3 cannot be filtered on its flags (they
    /// sit behind a pointer), glibc then uses clone; io_uring would run syscalls past the filter.
    public static let unavailableSyscalls = ["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"]

    /// Socket families a program may open: local, IPv4, IPv6, and routing netlink (for
    /// getifaddrs and `ip addr` read-only views).
    public static let allowedSocketFamilies: Set<UInt64> = [UInt64(AF_UNIX), UInt64(AF_INET), UInt64(AF_INET6), UInt64(AF_NETLINK)]
    public static let allowedNetlinkProtocols: Set<UInt64> = [0]  // NETLINK_ROUTE

    /// Every CLONE_NEW* flag (CLONE_NEWTIME shares its bit with clone's exit signal, so it is
    /// checked for unshare only).
    public static let newNamespaceFlags: [UInt64] = [
        0x0002_0000, // CLONE_NEWNS
        0x0200_0000, // CLONE_NEWCGROUP
        0x0400_0000, // CLONE_NEWUTS
        0x0800_0000, // CLONE_NEWIPC
        0x1000_0000, // CLONE_NEWUSER
        0x2000_0000, // CLONE_NEWPID
        0x4000_0000, // CLONE_NEWNET
    ]
    public static let cloneNewTime: UInt64 = 0x80

    /// personality(2) values that change nothing security-relevant: PER_LINUX, PER_LINUX32,
    /// UNAME26 and the query 0xffffffff (the set docker allows).
    public static let allowedPersonalities: Set<UInt64> = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]

    public static let deniedIoctls: [(name: String, request: UInt64)] = [
        ("TIOCSTI", 0x5412),   // push input into a terminal: types commands into the caller's shell
        ("TIOCLINUX", 0x541C), // the same through the Linux console
    ]

    static let low32: UInt64 = 0xffff_ffff
    static let socketTypeMask: UInt64 = 0xf  // SOCK_TYPE_MASK: the type without SOCK_NONBLOCK/CLOEXEC

    public static var policy: SeccompPolicy {
        var rules: [SeccompRule] = []
        let eperm = SeccompAction.errno(EPERM)
        rules += deniedSyscalls.map { SeccompRule($0, eperm) }
        rules += unavailableSyscalls.map { SeccompRule($0, .errno(ENOSYS)) }

        for flag in newNamespaceFlags {
            rules.append(SeccompRule("unshare", eperm, [.masked(0, mask: flag, equals: flag)]))
            rules.append(SeccompRule("clone", eperm, [.masked(0, mask: flag, equals: flag)]))
        }
        rules.append(SeccompRule("unshare", eperm, [.masked(0, mask: cloneNewTime, equals: cloneNewTime)]))

        // socket(family, type, protocol): families outside the allowed set, compared on the
        // low 32 bits (see MaskedCover).
        let eafnosupport = SeccompAction.errno(EAFNOSUPPORT)
        for pattern in MaskedCover.complement(of: allowedSocketFamilies) {
            rules.append(SeccompRule("socket", eafnosupport, [.masked(0, mask: pattern.mask, equals: pattern.value)]))
        }
        for pattern in MaskedCover.complement(of: allowedNetlinkProtocols) {
            rules.append(SeccompRule("socket", eafnosupport, [
                .masked(0, mask: low32, equals: UInt64(AF_NETLINK)),
                .masked(2, mask: pattern.mask, equals: pattern.value),
            ]))
        }
        // No raw IP or link-level packets: SOCK_RAW and SOCK_PACKET on AF_INET and AF_INET6.
        for family in [AF_INET, AF_INET6] {
            for type in [UInt64(SOCK_RAW.rawValue), UInt64(SOCK_PACKET.rawValue)] {
                rules.append(SeccompRule("socket", eperm, [
                    .masked(0, mask: low32, equals: UInt64(family)),
                    .masked(1, mask: socketTypeMask, equals: type),
                ]))
            }
        }

        for (_, request) in deniedIoctls {
            rules.append(SeccompRule("ioctl", eperm, [.masked(1, mask: low32, equals: request)]))
        }
        for pattern in MaskedCover.complement(of: allowedPersonalities) {
            rules.append(SeccompRule("personality", eperm, [.masked(0, mask: pattern.mask, equals: pattern.value)]))
        }
        return SeccompPolicy(defaultAction: .allow, rules: rules)
    }

    /// What the policy answers for a call (first matching rule, else the default): the table's
    /// semantics without a kernel, for tests and `sandbox` diagnostics.
    public static func verdict(_ policy: SeccompPolicy, syscall: String, arguments: [UInt64]) -> SeccompAction {
        policy.rules(for: syscall).first(where: { $0.matches(arguments) })?.action ?? policy.defaultAction
    }
}
