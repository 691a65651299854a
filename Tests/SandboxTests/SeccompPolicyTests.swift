import Glibc
import Sandbox
import Testing

@Suite struct MaskedCoverTests {
    @Test(arguments: [
        Set<UInt64>([1, 2, 10, 16]), Set<UInt64>([0]), Set<UInt64>([0, 8, 0x20000, 0x20008, 0xffff_ffff]), Set<UInt64>()
    ])
    func coversExactlyTheComplement(_ allowed: Set<UInt64>) {
        let patterns = MaskedCover.complement(of: allowed)
        #expect(patterns.count <= max(1, 32 * allowed.count))
        // Every value in the low 16 bits, and a spread of larger ones, each with and without
        // high bits set: denied exactly when its low 32 bits are not allowed.
        var samples = Array(UInt64(0)...0xffff)
        samples += [0x1_0000, 0x2_0008, 0x2_0000, 0x7fff_ffff, 0x8000_0000, 0xffff_fffe, 0xffff_ffff]
        for low in samples {
            for high: UInt64 in [0, 1 << 32, 0xffff_ffff_0000_0000] {
                let value = low | high
                let denied = patterns.contains { $0.matches(value) }
                #expect(denied == !allowed.contains(low & 0xffff_ffff), "value \(String(value, radix: 16))")
            }
        }
    }

    @Test func patternsStayInTheLow32Bits() {
        for pattern in MaskedCover.complement(of: [1, 2, 10, 16]) {
            #expect(pattern.mask & 0xffff_ffff_0000_0000 == 0)
            #expect(pattern.value & ~pattern.mask == 0)
        }
    }
}

@Suite struct DefaultSeccompPolicyTests {
    let policy = DefaultSeccompPolicy.policy

    func verdict(_ syscall: String, _ arguments: [UInt64] = []) -> SeccompAction {
        DefaultSeccompPolicy.verdict(policy, syscall: syscall, arguments: arguments)
    }

    @Test func anAllowListWhoseDefaultIsENOSYS() {
        #expect(policy.defaultAction == .errno(ENOSYS))
        #expect(verdict("read") == .allow)
        #expect(verdict("openat", [0, 0, 0, 0]) == .allow)
        #expect(verdict("a_syscall_of_a_future_kernel") == .errno(ENOSYS))
        #expect(verdict("openat2") == .errno(ENOSYS)) // its mode sits behind a pointer
    }

    @Test func ptraceLikeAndObscureCallsStayClosed() {
        for name in [
            "modify_ldt", "pidfd_getfd", "kcmp", "process_madvise", "move_pages", "fanotify_init", "open_tree_attr"
        ] {
            #expect(verdict(name) == .errno(EPERM), "\(name)")
        }
    }

    @Test func socketpairOnlyLocal() {
        let stream = UInt64(SOCK_STREAM.rawValue)
        #expect(verdict("socketpair", [UInt64(AF_UNIX), stream, 0]) == .allow)
        for family in [UInt64(AF_INET), UInt64(AF_INET6), UInt64(AF_NETLINK), 40, (1 << 32) | UInt64(AF_INET)] {
            #expect(verdict("socketpair", [family, stream, 0]) == .errno(EAFNOSUPPORT), "family \(family)")
        }
        // High bits do not turn another family into AF_UNIX's verdict's opposite either.
        #expect(verdict("socketpair", [(1 << 32) | UInt64(AF_UNIX), stream, 0]) == .allow)
    }

    /// An idmapped writable volume is written as on-disk root: no set-id bit may be set there.
    @Test func noSetIDBitsOnFiles() {
        let creat = UInt64(O_CREAT), setuid = UInt64(S_ISUID), setgid = UInt64(S_ISGID)
        for (name, modeIndex) in [
            ("chmod", 1), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2), ("creat", 1), ("mknodat", 2)
        ] {
            var arguments: [UInt64] = [0, 0, 0, 0]
            arguments[modeIndex] = 0o755
            #expect(verdict(name, arguments) == .allow, "\(name) 0755")
            for bit in [setuid, setgid, setuid | setgid] {
                arguments[modeIndex] = 0o755 | bit
                #expect(verdict(name, arguments) == .errno(EPERM), "\(name) \(String(arguments[modeIndex], radix: 8))")
            }
        }
        #expect(verdict("openat", [0, 0, creat, 0o4755]) == .errno(EPERM))
        #expect(verdict("openat", [0, 0, 0o20000000 | 0o200000 /* O_TMPFILE */, 0o2755]) == .errno(EPERM))
        #expect(verdict("open", [0, creat, 0o4755]) == .errno(EPERM))
        #expect(verdict("openat", [0, 0, creat, 0o644]) == .allow)
        // Without O_CREAT the mode register is whatever the caller left there.
        #expect(verdict("openat", [0, 0, UInt64(O_RDONLY), 0o4755]) == .allow)
        #expect(verdict("mkdirat", [0, 0, 0o2775]) == .allow)
    }

    /// Allow and deny rules of one syscall match disjoint arguments, so the verdict never
    /// depends on the order libseccomp checks them in.
    @Test func argumentRulesNeverDisagree() {
        let interesting: [UInt64] = [
            0, 1, 2, 3, 5, 10, 16, 0o644, 0o2755, 0o4755, UInt64(O_CREAT), 0o20200000,
            0x5401, 0x5412, 0x541C, 0x8, 0x20000, 0x40_0000, 0x1000_0000, 0x4000_0011,
            0x003d_0f00, 1 << 32, (1 << 32) | 10, 0xffff_ffff
        ]
        let conditional = Set(policy.rules.filter { !$0.conditions.isEmpty }.map(\.syscall))
        for name in conditional {
            let rules = policy.rules(for: name)
            for a in interesting {
                for b in interesting {
                    for c in interesting.prefix(12) {
                        let arguments = [a, b, c, b, 0, 0]
                        let actions = Set(rules.filter { $0.matches(arguments) }.map(\.action))
                        #expect(actions.count <= 1, "\(name) \(arguments): \(actions)")
                    }
                }
            }
        }
    }

    @Test func socketFamilies() {
        let stream = UInt64(SOCK_STREAM.rawValue), dgram = UInt64(SOCK_DGRAM.rawValue)
        for family in [AF_UNIX, AF_INET, AF_INET6] {
            #expect(verdict("socket", [UInt64(family), stream, 0]) == .allow)
        }
        #expect(verdict("socket", [UInt64(AF_NETLINK), dgram, 0]) == .allow) // NETLINK_ROUTE
        for family in [AF_PACKET, 40 /* AF_VSOCK */, 38 /* AF_ALG */, 15 /* AF_KEY */, 0, 45, 46, 255] {
            #expect(verdict("socket", [UInt64(family), dgram, 0]) == .errno(EAFNOSUPPORT), "family \(family)")
        }
        // High bits set: the kernel reads the low 32 bits, and so must the filter.
        #expect(verdict("socket", [(1 << 32) | UInt64(AF_PACKET), dgram, 0]) == .errno(EAFNOSUPPORT))
        #expect(verdict("socket", [0xdead_beef_0000_0000 | UInt64(AF_NETLINK), dgram, 9]) == .errno(EAFNOSUPPORT))
    }

    @Test func netlinkOnlyRoute() {
        #expect(verdict("socket", [UInt64(AF_NETLINK), 3, 9 /* NETLINK_AUDIT */]) == .errno(EAFNOSUPPORT))
        #expect(verdict("socket", [UInt64(AF_NETLINK), 3, 16 /* NETLINK_GENERIC */]) == .errno(EAFNOSUPPORT))
        #expect(verdict("socket", [UInt64(AF_NETLINK), 3, (1 << 32) | 9]) == .errno(EAFNOSUPPORT))
        #expect(verdict("socket", [UInt64(AF_NETLINK), 3, 1 << 32]) == .allow) // low 32 bits: NETLINK_ROUTE
    }

    @Test func noRawOrPacketInetSockets() {
        let raw = UInt64(SOCK_RAW.rawValue), packet = UInt64(SOCK_PACKET.rawValue)
        let flags = UInt64(SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue)
        for family in [UInt64(AF_INET), UInt64(AF_INET6), (1 << 32) | UInt64(AF_INET)] {
            #expect(verdict("socket", [family, raw, 1]) == .errno(EPERM))
            #expect(verdict("socket", [family, raw | flags, 1]) == .errno(EPERM))
            #expect(verdict("socket", [family, packet, 0]) == .errno(EPERM))
            #expect(verdict("socket", [family, UInt64(SOCK_DGRAM.rawValue) | flags, 0]) == .allow)
        }
        #expect(verdict("socket", [UInt64(AF_UNIX), raw, 0]) == .allow) // harmless: the kernel has no raw unix sockets
    }

    @Test func namespaceCreationAndJoining() {
        for flag in DefaultSeccompPolicy.newNamespaceFlags {
            #expect(verdict("unshare", [flag]) == .errno(EPERM))
            #expect(verdict("clone", [flag | 0x11 /* SIGCHLD */]) == .errno(EPERM))
        }
        #expect(verdict("unshare", [0x80 /* CLONE_NEWTIME */]) == .errno(EPERM))
        #expect(verdict("unshare", [0x400 /* CLONE_FILES */]) == .allow)
        #expect(verdict("clone", [0x003d_0f00 /* glibc pthread_create flags */]) == .allow)
        #expect(verdict("clone", [0x0120_0011 /* glibc fork */]) == .allow)
        #expect(verdict("setns", [3, 0]) == .errno(EPERM))
        #expect(verdict("clone3") == .errno(ENOSYS))
    }

    @Test func deniedAndUnavailableCalls() {
        for name in [
            "mount", "umount2", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
            "pivot_root", "chroot", "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open",
            "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module",
            "finit_module", "delete_module", "reboot", "swapon", "swapoff", "acct", "settimeofday",
            "clock_settime", "adjtimex", "open_by_handle_at"
        ] {
            #expect(verdict(name) == .errno(EPERM), "\(name)")
        }
        for name in ["io_uring_setup", "io_uring_enter", "io_uring_register", "clone3"] {
            #expect(verdict(name) == .errno(ENOSYS), "\(name)")
        }
    }

    @Test func terminalInjection() {
        #expect(verdict("ioctl", [0, 0x5412]) == .errno(EPERM))
        #expect(verdict("ioctl", [0, (1 << 32) | 0x5412]) == .errno(EPERM))
        #expect(verdict("ioctl", [0, 0x541C]) == .errno(EPERM))
        #expect(verdict("ioctl", [0, 0x5401 /* TCGETS */]) == .allow)
    }

    @Test func personality() {
        for safe: UInt64 in [0, 8, 0x20000, 0x20008, 0xffff_ffff] { #expect(verdict("personality", [safe]) == .allow) }
        for unsafe: UInt64 in [
            0x0040_0000 /* ADDR_NO_RANDOMIZE */, 0x0100_0000 /* READ_IMPLIES_EXEC */, 1, 0x1_0000_0001
        ] {
            #expect(verdict("personality", [unsafe]) == .errno(EPERM))
        }
    }

    @Test func compilesForTheNativeArchitecture() throws {
        let program = try SeccompCompiler.compile(policy)
        #expect(program.instructionCount > 50)
        #expect(program.instructionCount <= 4096)
        #expect(program.bytes.count == program.instructionCount * 8)
        // Names newer than this machine's libseccomp are skipped (so left closed); the calls
        // every program makes must all be known.
        for name in ["read", "openat", "socket", "socketpair", "clone", "ioctl", "mmap", "execve", "chmod"] {
            #expect(!program.unknownSyscalls.contains(name), "\(name)")
        }
    }

    @Test func unknownSyscallsAreReportedNotFatal() throws {
        let program = try SeccompCompiler.compile(
            SeccompPolicy(
                defaultAction: .allow,
                rules: [
                    SeccompRule("no_such_syscall_xyz", .errno(EPERM)), SeccompRule("mount", .errno(EPERM))
                ]))
        #expect(program.unknownSyscalls == ["no_such_syscall_xyz"])
    }
}

@Suite struct OCISeccompProfileTests {
    @Test func dockerStyleProfile() throws {
        let json = """
            {
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 38,
              "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
              "syscalls": [
                {"names": ["read", "write", "exit_group"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}
              ]
            }
            """
        let policy = try OCISeccompProfile.parse(Array(json.utf8))
        #expect(policy.defaultAction == .errno(38))
        #expect(policy.rules(for: "read") == [SeccompRule("read", .allow)])
        #expect(
            policy.rules(for: "personality") == [
                SeccompRule("personality", .allow, [.masked(0, mask: 0xffff_ffff, equals: 8)])
            ])
        #expect(
            policy.rules(for: "clone").first?.conditions == [
                SeccompCondition(argument: 0, op: .maskedEqual, 2_114_060_288, 0)
            ])
        #expect(policy.rules(for: "mount").isEmpty) // needs a capability the app never has
        #expect(policy.rules(for: "arch_prctl").isEmpty) // another architecture
        #expect(policy.rules(for: "kill") == [SeccompRule("kill", .errno(1))])
        let program = try SeccompCompiler.compile(policy)
        #expect(program.instructionCount > 5)
    }

    /// `socket` NE 40 on the full 64 bits would let `(1<<32)|40` through: the kernel reads an int.
    @Test func intArgumentComparisonsLookAtTheLow32Bits() throws {
        let json = """
            {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 97, "syscalls": [
              {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
              {"names": ["kill"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]},
              {"names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 1, "value": 4096, "op": "SCMP_CMP_NE"}]}
            ]}
            """
        let policy = try OCISeccompProfile.parse(Array(json.utf8))
        func verdict(_ name: String, _ arguments: [UInt64]) -> SeccompAction {
            DefaultSeccompPolicy.verdict(policy, syscall: name, arguments: arguments)
        }
        #expect(verdict("socket", [2, 1, 0]) == .allow)
        #expect(verdict("socket", [40, 1, 0]) == .errno(97))
        #expect(verdict("socket", [(1 << 32) | 40, 1, 0]) == .errno(97))
        #expect(verdict("kill", [1, (1 << 32) | 9]) == .allow)
        // A pointer-sized argument keeps its 64-bit comparison: one rule, as written.
        #expect(policy.rules(for: "mmap").count == 1)
        #expect(policy.rules(for: "socket").count == 32)
        _ = try SeccompCompiler.compile(policy)
    }

    @Test(arguments: [
        "", "{", "[]", "{\"syscalls\": []}",
        "{\"defaultAction\": \"SCMP_ACT_WHATEVER\"}",
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_NOPE\"}]}",
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 9, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_SORTOF\"}]}]}",
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": -1, \"op\": \"SCMP_CMP_EQ\"}]}]}"
    ])
    func rejectsMalformedProfiles(_ json: String) {
        #expect(throws: SandboxError.self) { try OCISeccompProfile.parse(Array(json.utf8)) }
    }

    @Test func missingFileIsAnArgumentError() {
        #expect(throws: SandboxError.self) { try OCISeccompProfile.load(path: "/nonexistent/profile.json") }
    }
}

@Suite struct SeccompCacheTests {
    /// The cache key must be the same for the same policy in every process (Set iteration
    /// order is seeded per process, so a policy built from sets must not depend on it) and
    /// change with any rule.
    @Test func fingerprintIsStableAndSensitive() {
        let policy = DefaultSeccompPolicy.policy
        #expect(SeccompCache.fingerprint(policy) == SeccompCache.fingerprint(DefaultSeccompPolicy.policy))
        #expect(policy.rules == DefaultSeccompPolicy.policy.rules)
        var changed = policy
        changed.rules[changed.rules.count - 1].conditions[0].second ^= 1
        #expect(SeccompCache.fingerprint(changed) != SeccompCache.fingerprint(policy))
        changed = policy
        changed.defaultAction = .errno(EPERM)
        #expect(SeccompCache.fingerprint(changed) != SeccompCache.fingerprint(policy))
    }

    @Test func aCachedProgramIsTheCompiledOne() throws {
        let policy = DefaultSeccompPolicy.policy
        let compiled = try SeccompCompiler.compile(policy)
        #expect(try SeccompCache.program(for: policy).bytes == compiled.bytes)
        #expect(try SeccompCache.program(for: policy).bytes == compiled.bytes) // the second from the cache
    }
}
