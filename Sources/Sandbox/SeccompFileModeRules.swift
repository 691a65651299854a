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
    /// denies or allows only under conditions of its own keeps the profile's rules. (A LOG
    /// action lets a call run, so it counts as allowing.) Calls whose mode no filter can see,
    /// openat2 (its mode is in a struct) and io_uring (its opens are not syscalls), become
    /// ENOSYS where the profile allows them: the C library falls back to openat, which is
    /// checked. (Recorded in the README's known limits: a profile with an allowing default
    /// leaves calls libseccomp cannot name here, such as fchmodat2 before 2.5.5, open.)
    func forbiddingSetIDFiles() -> SeccompPolicy {
        let modeRules = DefaultSeccompPolicy.FileModeRules.rules()
        let names = Set(modeRules.map(\.syscall))
        let unseen = ["openat2", "io_uring_setup", "io_uring_enter", "io_uring_register"]
        let outright = Set(names.union(unseen).filter(allowsOutright))
        var policy = self
        policy.rules.removeAll { outright.contains($0.syscall) }
        policy.rules += modeRules.filter { outright.contains($0.syscall) }
        policy.rules += unseen.filter(outright.contains).map { SeccompRule($0, .errno(ENOSYS)) }
        return policy
    }

    /// Whether `name` runs whatever its arguments: allowed (or logged) by rules without
    /// conditions, or by an allowing default when no rule names it.
    private func allowsOutright(_ name: String) -> Bool {
        let allowing: (SeccompAction) -> Bool = { $0 == .allow || $0 == .log }
        let own = rules(for: name)
        return own.isEmpty ? allowing(defaultAction) : own.allSatisfy { allowing($0.action) && $0.conditions.isEmpty }
    }
}
