import Glibc

/// The built-in seccomp policy (`--seccomp default`): an allow-list. The calls programs need
/// are allowed (`SeccompAllowList`, and the argument rules below); every other call answers
/// ENOSYS, the answer of a kernel that lacks it, so libc falls back and a syscall added by a
/// future kernel stays closed until reviewed. Calls that would let a program leave or weaken
/// the sandbox answer an errno it can understand: EPERM for privileged operations,
/// EAFNOSUPPORT for socket families.
///
/// Where a call is allowed only for some arguments, the allow rules and the deny rules match
/// disjoint sets of arguments, so no verdict depends on which rule libseccomp checks first.
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
        // ptrace-like: another process's descriptors, memory layout or pages; the local
        // descriptor table (16-bit segments, a classic kernel attack surface)
        "pidfd_getfd", "kcmp", "process_madvise", "move_pages", "migrate_pages", "modify_ldt",
        // file system wide notifications (CAP_SYS_ADMIN, and a view past the mount namespace)
        "fanotify_init", "fanotify_mark",
        // the rest of the new mount API, and the mount tree queries
        "open_tree_attr", "listmount", "statmount"
    ]

    /// Answered with ENOSYS so that libc falls back: clone3 cannot be filtered on its flags (they
    /// sit behind a pointer), glibc then uses clone; io_uring would run syscalls past the filter.
    public static let unavailableSyscalls = ["clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"]

    /// Socket families a program may open: local, IPv4, IPv6, and routing netlink (for
    /// getifaddrs and `ip addr` read-only views).
    public static let allowedSocketFamilies: Set<UInt64> = [
        UInt64(AF_UNIX), UInt64(AF_INET), UInt64(AF_INET6), UInt64(AF_NETLINK)
    ]
    public static let allowedNetlinkProtocols: Set<UInt64> = [0] // NETLINK_ROUTE

    /// Every CLONE_NEW* flag (CLONE_NEWTIME shares its bit with clone's exit signal, so it is
    /// checked for unshare only).
    public static let newNamespaceFlags: [UInt64] = [
        0x0002_0000, // CLONE_NEWNS
        0x0200_0000, // CLONE_NEWCGROUP
        0x0400_0000, // CLONE_NEWUTS
        0x0800_0000, // CLONE_NEWIPC
        0x1000_0000, // CLONE_NEWUSER
        0x2000_0000, // CLONE_NEWPID
        0x4000_0000 // CLONE_NEWNET
    ]
    public static let cloneNewTime: UInt64 = 0x80

    /// personality(2) values that change nothing security-relevant: PER_LINUX, PER_LINUX32,
    /// UNAME26 and the query 0xffffffff (the set docker allows).
    public static let allowedPersonalities: Set<UInt64> = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff]

    public static let deniedIoctls: [(name: String, request: UInt64)] = [
        ("TIOCSTI", 0x5412), // push input into a terminal: types commands into the caller's shell
        ("TIOCLINUX", 0x541C) // the same through the Linux console
    ]

    static let low32: UInt64 = 0xffff_ffff
    static let socketTypeMask: UInt64 = 0xf // SOCK_TYPE_MASK: the type without SOCK_NONBLOCK/CLOEXEC

    public static var policy: SeccompPolicy {
        var rules = SeccompAllowList.syscalls.map { SeccompRule($0, .allow) }
        rules += deniedSyscalls.map { SeccompRule($0, .errno(EPERM)) }
        rules += namespaceRules() + socketRules() + ioctlRules() + personalityRules() + FileModeRules.rules()
        return SeccompPolicy(defaultAction: .errno(ENOSYS), rules: rules)
    }

    /// clone and unshare: allowed when no CLONE_NEW* bit is set, EPERM for each one that is.
    static func namespaceRules() -> [SeccompRule] {
        let eperm = SeccompAction.errno(EPERM)
        let cloneBits = newNamespaceFlags.reduce(0, |)
        var rules = [
            SeccompRule("clone", .allow, [.masked(0, mask: cloneBits, equals: 0)]),
            SeccompRule("unshare", .allow, [.masked(0, mask: cloneBits | cloneNewTime, equals: 0)])
        ]
        for flag in newNamespaceFlags {
            rules.append(SeccompRule("unshare", eperm, [.masked(0, mask: flag, equals: flag)]))
            rules.append(SeccompRule("clone", eperm, [.masked(0, mask: flag, equals: flag)]))
        }
        rules.append(SeccompRule("unshare", eperm, [.masked(0, mask: cloneNewTime, equals: cloneNewTime)]))
        return rules
    }

    /// socket(family, type, protocol) and socketpair: the allowed families on the low 32 bits
    /// (see MaskedCover), everything else EAFNOSUPPORT; on inet only stream, datagram and
    /// seqpacket sockets (SOCK_RAW and SOCK_PACKET: EPERM; other types fall to ENOSYS).
    static func socketRules() -> [SeccompRule] {
        let eafnosupport = SeccompAction.errno(EAFNOSUPPORT)
        var rules: [SeccompRule] = [
            SeccompRule("socket", .allow, [.masked(0, mask: low32, equals: UInt64(AF_UNIX))]),
            SeccompRule(
                "socket", .allow,
                [.masked(0, mask: low32, equals: UInt64(AF_NETLINK)), .masked(2, mask: low32, equals: 0)]),
            SeccompRule("socketpair", .allow, [.masked(0, mask: low32, equals: UInt64(AF_UNIX))])
        ]
        for pattern in MaskedCover.complement(of: allowedSocketFamilies) {
            rules.append(SeccompRule("socket", eafnosupport, [.masked(0, mask: pattern.mask, equals: pattern.value)]))
        }
        for pattern in MaskedCover.complement(of: [UInt64(AF_UNIX)]) {
            rules.append(
                SeccompRule("socketpair", eafnosupport, [.masked(0, mask: pattern.mask, equals: pattern.value)]))
        }
        for pattern in MaskedCover.complement(of: allowedNetlinkProtocols) {
            rules.append(
                SeccompRule(
                    "socket", eafnosupport,
                    [
                        .masked(0, mask: low32, equals: UInt64(AF_NETLINK)),
                        .masked(2, mask: pattern.mask, equals: pattern.value)
                    ]))
        }
        let inetTypes = [UInt64(SOCK_STREAM.rawValue), UInt64(SOCK_DGRAM.rawValue), UInt64(SOCK_SEQPACKET.rawValue)]
        for family in [AF_INET, AF_INET6] {
            for type in inetTypes {
                rules.append(
                    SeccompRule(
                        "socket", .allow,
                        [
                            .masked(0, mask: low32, equals: UInt64(family)),
                            .masked(1, mask: socketTypeMask, equals: type)
                        ]))
            }
            for type in [UInt64(SOCK_RAW.rawValue), UInt64(SOCK_PACKET.rawValue)] {
                rules.append(
                    SeccompRule(
                        "socket", .errno(EPERM),
                        [
                            .masked(0, mask: low32, equals: UInt64(family)),
                            .masked(1, mask: socketTypeMask, equals: type)
                        ]))
            }
        }
        return rules
    }

    /// ioctl: every request but the terminal-injection ones (compared on the low 32 bits).
    static func ioctlRules() -> [SeccompRule] {
        let denied = Set(deniedIoctls.map(\.request))
        var rules = MaskedCover.complement(of: denied).map {
            SeccompRule("ioctl", .allow, [.masked(1, mask: $0.mask, equals: $0.value)])
        }
        for request in denied.sorted() { // sorted: the same policy, rule for rule, every run (SeccompCache)
            rules.append(SeccompRule("ioctl", .errno(EPERM), [.masked(1, mask: low32, equals: request)]))
        }
        return rules
    }

    /// personality: the harmless values allowed, every other EPERM.
    static func personalityRules() -> [SeccompRule] {
        var rules = allowedPersonalities.sorted().map {
            SeccompRule("personality", .allow, [.masked(0, mask: low32, equals: $0)])
        }
        for pattern in MaskedCover.complement(of: allowedPersonalities) {
            rules.append(
                SeccompRule("personality", .errno(EPERM), [.masked(0, mask: pattern.mask, equals: pattern.value)]))
        }
        return rules
    }

    /// What the policy answers for a call (first matching rule, else the default): the table's
    /// semantics without a kernel, for tests and `sandbox` diagnostics.
    public static func verdict(_ policy: SeccompPolicy, syscall: String, arguments: [UInt64]) -> SeccompAction {
        policy.rules(for: syscall).first(where: { $0.matches(arguments) })?.action ?? policy.defaultAction
    }
}
