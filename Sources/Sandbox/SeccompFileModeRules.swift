import Glibc

extension DefaultSeccompPolicy {
    /// No set-user-ID or set-group-ID bit on a file the app makes or changes (EPERM). By default
    /// a writable volume is an idmapped mount on which the app's root writes as on-disk root:
    /// without this rule it could leave a setuid-root program on the host for any local user
    /// (the sandbox's own nosuid mount does not protect the host's view of the file).
    /// Directories keep S_ISGID (group inheritance grants nothing), so mkdir is not filtered.
    enum FileModeRules {
        static let setID: UInt64 = UInt64(S_ISUID | S_ISGID)
        /// O_TMPFILE without O_DIRECTORY (__O_TMPFILE): it creates an inode as O_CREAT does.
        static let creating: [UInt64] = [UInt64(O_CREAT), 0o20000000]

        static func rules() -> [SeccompRule] {
            var rules: [SeccompRule] = []
            // chmod(path, mode), fchmod(fd, mode), fchmodat(dirfd, path, mode[, flags])
            for (name, modeArgument) in [("chmod", UInt32(1)), ("fchmod", 1), ("fchmodat", 2), ("fchmodat2", 2)] {
                rules.append(SeccompRule(name, .allow, [.masked(modeArgument, mask: setID, equals: 0)]))
                rules += deny(name, modeArgument: modeArgument)
            }
            // mknod(path, mode, dev), mknodat(dirfd, path, mode, dev): devices need CAP_MKNOD anyway
            for (name, modeArgument) in [("mknod", UInt32(1)), ("mknodat", 2)] {
                rules.append(SeccompRule(name, .allow, [.masked(modeArgument, mask: setID, equals: 0)]))
                rules += deny(name, modeArgument: modeArgument)
            }
            // creat(path, mode) always creates; open(path, flags, mode) and openat(dirfd, path,
            // flags, mode) only with O_CREAT or O_TMPFILE (the mode register is junk otherwise).
            rules.append(SeccompRule("creat", .allow, [.masked(1, mask: setID, equals: 0)]))
            rules += deny("creat", modeArgument: 1)
            for (name, flagsArgument) in [("open", UInt32(1)), ("openat", 2)] {
                let modeArgument = flagsArgument + 1
                let anyCreation = creating.reduce(0, |)
                rules.append(SeccompRule(name, .allow, [.masked(flagsArgument, mask: anyCreation, equals: 0)]))
                rules.append(SeccompRule(name, .allow, [.masked(modeArgument, mask: setID, equals: 0)]))
                for flag in creating {
                    rules += deny(
                        name, modeArgument: modeArgument, also: [.masked(flagsArgument, mask: flag, equals: flag)])
                }
            }
            return rules
        }

        /// EPERM when the mode carries S_ISUID, and when it carries S_ISGID.
        static func deny(_ name: String, modeArgument: UInt32, also: [SeccompCondition] = []) -> [SeccompRule] {
            [UInt64(S_ISUID), UInt64(S_ISGID)].map { bit in
                SeccompRule(name, .errno(EPERM), also + [.masked(modeArgument, mask: bit, equals: bit)])
            }
        }
    }
}

extension SeccompPolicy {
    /// The default filter's rule against set-ID files, kept under a profile too (an engine's,
    /// or `--seccomp FILE`): idmapped volumes and roots make the app's root on-disk root for
    /// the host, whatever filter was chosen. A call the profile allows outright (by a rule
    /// without conditions, or by an allowing default) takes the file-mode rules instead; one it
    /// denies or allows only under conditions of its own keeps the profile's rules.
    func forbiddingSetIDFiles() -> SeccompPolicy {
        let modeRules = DefaultSeccompPolicy.FileModeRules.rules()
        let names = Set(modeRules.map(\.syscall))
        let outright = names.filter { name in
            let own = rules(for: name)
            return own.isEmpty
                ? defaultAction == .allow : own.allSatisfy { $0.action == .allow && $0.conditions.isEmpty }
        }
        var policy = self
        policy.rules.removeAll { outright.contains($0.syscall) }
        policy.rules += modeRules.filter { outright.contains($0.syscall) }
        return policy
    }
}
