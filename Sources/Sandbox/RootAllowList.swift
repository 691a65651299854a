/// The default root (no `--rootfs`) and the current-directory rule of `sandbox run`.
extension MountPlan {
    /// An empty tmpfs as the root, holding only: the host's allow-listed directories bound
    /// read-only (merged-/usr symlinks recreated as symlinks), the mount points the plan needs,
    /// and fresh /tmp, /run (with /var/run -> ../run) and /var/tmp. No /root, /home, /var/lib,
    /// /var/log, /mnt, /media, /srv: what is not created here does not exist in the sandbox.
    static func allowListRoot(_ host: HostRoot) -> [MountOperation] {
        var ops = [MountOperation(.tmpfs, target: newRoot, data: "mode=0755", flags: nosuid | nodev)]
        for entry in host.entries {
            switch entry {
            case .symlink(let path, let target):
                ops.append(MountOperation(.symlink, source: target, target: newRoot + path))
            case .directory(let path):
                ops.append(MountOperation(.mkdir, target: newRoot + path))
                var bind = MountOperation(.bind, source: oldRoot + path, target: newRoot + path, flags: nosuid | nodev)
                bind.recursive = true
                bind.readOnly = true
                ops.append(bind)
            }
        }
        for path in ["/dev", "/proc", "/sys", "/var"] {
            ops.append(MountOperation(.mkdir, target: newRoot + path))
        }
        for (path, mode) in privateDirectories {
            ops.append(MountOperation(.mkdir, target: newRoot + path))
            ops.append(MountOperation(.tmpfs, target: newRoot + path, data: "mode=" + mode, flags: nosuid | nodev))
        }
        ops.append(MountOperation(.symlink, source: "../run", target: newRoot + "/var/run"))
        return ops
    }

    /// The directories the default root makes fresh and private (tmpfs), with their modes.
    static let privateDirectories = [("/tmp", "1777"), ("/run", "0755"), ("/var/tmp", "1777")]

    /// Where `sandbox run` (default root) starts the app, given the launcher's directory.
    public struct StartDirectory: Sendable, Equatable {
        /// The host directory to bind read-only at its own path, if any.
        public var bind: String?
        /// The app's working directory; nil keeps `--workdir` (or /).
        public var workdir: String?
        /// One line for stderr when the directory is deliberately not bound.
        public var notice: String?

        public init(bind: String? = nil, workdir: String? = nil, notice: String? = nil) {
            self.bind = bind
            self.workdir = workdir
            self.notice = notice
        }
    }

    /// The current directory is bound and is the working directory, so `sandbox run -- ./app`
    /// works from a project, unless it is /, a home or above one (that would show the homes), or
    /// one of the sandbox's private directories or above one (the host's /tmp bound read-only
    /// over the sandbox's would leave the app no writable /tmp; /var would show /var/lib and
    /// /var/log, which the default root leaves out): the app then starts in the sandbox's own
    /// directory of that name. `--workdir` wins (nothing bound); a volume over the directory
    /// provides it (not bound).
    /// `enterable`: the sandbox's user may enter the directory (as root the app's ids map to an
    /// unprivileged range, which a mode-0700 directory keeps out); when not, nothing is bound,
    /// rather than a start that fails at chdir.
    public static func startDirectory(
        current: String, homes: [String], volumes: [VolumeMount],
        workdirGiven: Bool, enterable: Bool = true
    ) -> StartDirectory {
        if workdirGiven { return StartDirectory() }
        let cwd = VolumeMount.normalize(current)
        let covered = volumes.contains { cwd == $0.sandboxPath || cwd.hasPrefix($0.sandboxPath + "/") }
        if covered { return StartDirectory(workdir: cwd) }
        if !enterable {
            return StartDirectory(
                notice: "sandbox: the current directory \(cwd) is closed to the sandbox's user (an unprivileged "
                    + "host id): not bound into the sandbox, the app starts in / (use -v or -w, or chmod o+x)")
        }
        if cwd == "/" || homes.contains(where: { $0 == cwd || $0.hasPrefix(cwd + "/") }) {
            return StartDirectory(
                notice: "sandbox: the current directory \(cwd) is / or holds a home directory: "
                    + "not bound into the sandbox, the app starts in / (use -v or -w)")
        }
        let holdsPrivate = privateDirectories.contains { $0.0 == cwd || $0.0.hasPrefix(cwd + "/") }
        if holdsPrivate {
            let own = privateDirectories.contains { $0.0 == cwd }
            return StartDirectory(
                workdir: own ? cwd : nil,
                notice: "sandbox: the current directory \(cwd) "
                    + (own ? "is" : "holds") + " a directory the sandbox makes its own (a private tmpfs): "
                    + "not bound into the sandbox, the app starts in " + (own ? "the sandbox's \(cwd)" : "/")
                    + " (use -v \(cwd):\(cwd) to share it)")
        }
        return StartDirectory(bind: cwd, workdir: cwd)
    }
}
