import CLauncher

/// One step of the sandbox's mount setup, executed in order by the C child path
/// (`sbx_mount_op`). Paths are absolute in the staging root: the host under `MountPlan.oldRoot`,
/// the sandbox's root under `MountPlan.newRoot`.
public struct MountOperation: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Int32, Sendable {
        case bind = 1
        case tmpfs, proc, sysfs, devpts, mkdir, mkfile, symlink, readOnly, mask, cgroup, overlayRoot
    }

    public var kind: Kind
    public var source: String?
    public var target: String
    public var data: String?
    public var flags: UInt = 0
    public var mode: UInt32 = 0o755
    public var recursive = false
    public var readOnly = false
    public var createTarget = false
    /// A missing source or target skips the step (masks of paths this kernel does not have).
    public var optional = false
    /// For a bind: a detached mount to attach instead of `source` (an idmapped volume), or -1.
    public var sourceFD: Int32 = -1

    public init(_ kind: Kind, source: String? = nil, target: String, data: String? = nil, flags: UInt = 0) {
        self.kind = kind
        self.source = source
        self.target = target
        self.data = data
        self.flags = flags
    }

    public var description: String {
        "\(kind) \(source.map { "\($0) -> " } ?? "")\(target)\(data.map { " [\($0)]" } ?? "")\(readOnly ? " ro" : "")\(recursive ? " rec" : "")\(optional ? " optional" : "")"
    }
}

/// The mount plan: what `sandbox run` shows the app as its file system.
///
/// The root is an allow-list of the host (`allowListRoot`: its programs, libraries and /etc
/// without what "other" may not read, fresh /run, /tmp, /var/tmp, on a tmpfs made read-only
/// last) or `--rootfs` bound read-only with a private /tmp; then a proc for the sandbox's pid
/// namespace, a minimal /dev, /sys read-only, the OCI runtime spec's default masked and
/// read-only paths, the current directory (read-only) and the volumes. Every bind is nosuid and
/// nodev (device nodes: nosuid only).
public enum MountPlan {
    public static let oldRoot = "/oldroot"
    public static let newRoot = "/newroot"

    /// Device nodes bound from the host's /dev (the set the OCI runtime spec requires).
    public static let devices = ["null", "zero", "full", "random", "urandom", "tty"]

    /// OCI runtime spec defaults (runc's config): hidden from the app.
    public static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware", "/sys/devices/virtual/powercap"
    ]

    /// OCI runtime spec defaults: visible but read-only.
    public static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    // MS_NOSUID, MS_NODEV, MS_NOEXEC (linux/mount.h; the macros are not imported into Swift).
    // For a bind they are the mount attributes set on the clone before it is attached.
    public static let nosuid: UInt = 2, nodev: UInt = 4, noexec: UInt = 8

    /// - Parameters:
    ///   - rootfs: the host directory to use as root; nil for the default root, the host's
    ///     allow-list (`HostRoot`).
    ///   - devptsGroup: the gid owning new ptys ("tty", 5) when it is mapped in the sandbox.
    ///   - console: the host path of the app's terminal (`--tty`), bound to /dev/console so that
    ///     ttyname() finds it (the sandbox's devpts is a new instance without it), as runc does.
    ///   - volumeTrees: for each volume, a detached mount to attach instead (`IdmappedVolumes`), or
    ///     -1 for a plain bind; empty: plain binds only.
    ///   - hostSysfsTree: with --net=host as root, the host's /sys alone (no submounts), or -1.
    ///   - cgroupViews: the sandbox's own cgroups, shown read-only at /sys/fs/cgroup (CgroupView).
    ///   - host: what the default root takes from the host; nil reads it now.
    ///   - currentDirectory: a host directory bound read-only at its own path (the launcher's
    ///     working directory, see `currentDirectoryBind`).
    ///   - root: how a given `rootfs` is bound (writable, an idmapped tree of it).
    ///   - extra: tmpfs mounts and masked and read-only paths beyond the defaults.
    public static func operations(
        rootfs: String?, root: GivenRoot = GivenRoot(), extra: ExtraMounts = ExtraMounts(),
        volumes: [VolumeMount], volumeTrees: [Int32] = [],
        hostSysfsTree: Int32 = -1, cgroupViews: [CgroupView] = [], devptsGroup: UInt32?, console: String? = nil,
        host: HostRoot? = nil, currentDirectory: String? = nil, workdir: String? = nil
    ) -> [MountOperation] {
        var ops: [MountOperation]
        var defaultRoot: HostRoot?
        if let rootfs {
            ops = givenRoot(rootfs, root)
        } else {
            let scanned = host ?? HostRoot.scan()
            defaultRoot = scanned
            ops = allowListRoot(scanned)
        }
        ops += devOperations(devptsGroup: devptsGroup, console: console)
        ops.append(MountOperation(.proc, target: newRoot + "/proc", flags: nosuid | nodev | noexec))
        var sysfs = MountOperation(
            .sysfs, source: oldRoot + "/sys", target: newRoot + "/sys", flags: nosuid | nodev | noexec)
        sysfs.sourceFD = hostSysfsTree
        ops.append(sysfs)
        ops += cgroupOperations(cgroupViews)
        ops += maskOperations(
            masked: maskedPaths + extra.maskedPaths + (defaultRoot?.hiddenEtc ?? []),
            readOnly: readOnlyPaths + extra.readOnlyPaths)
        ops += bindOperations(volumes: volumes, volumeTrees: volumeTrees, currentDirectory: currentDirectory)
        for tmpfs in extra.tmpfs {
            ops.append(MountOperation(.mkdir, target: newRoot + tmpfs.sandboxPath))
            ops.append(
                MountOperation(.tmpfs, target: newRoot + tmpfs.sandboxPath, data: tmpfs.options, flags: nosuid | nodev))
        }
        if let workdir {
            // `-w` makes a missing directory, as docker does, where the sandbox's own file
            // systems hold it (the root's tmpfs, /tmp, a volume); under a host directory bound
            // read-only it cannot, and the start says so (SandboxError.setupFailed).
            ops.append(MountOperation(.mkdir, target: newRoot + VolumeMount.normalize(workdir)))
        }
        if defaultRoot != nil {
            // Last: every mount point (volumes, the current directory) is made by now.
            ops.append(MountOperation(.readOnly, target: newRoot))
        }
        return ops
    }

    /// /sys/fs/cgroup: the unified hierarchy itself, or a tmpfs holding each v1 hierarchy (made
    /// read-only once they are mounted on it), every mount nosuid, nodev, noexec.
    static func cgroupOperations(_ views: [CgroupView]) -> [MountOperation] {
        let base = newRoot + "/sys/fs/cgroup"
        let flags = nosuid | nodev | noexec
        if let unified = views.first(where: { $0.fileSystem == "cgroup2" }) {
            return [MountOperation(.cgroup, source: unified.fileSystem, target: base, flags: flags)]
        }
        guard !views.isEmpty else { return [] }
        var ops = [MountOperation(.tmpfs, target: base, data: "size=16k,mode=755", flags: flags)]
        for view in views {
            ops.append(MountOperation(.mkdir, target: base + "/" + view.name))
            ops.append(
                MountOperation(
                    .cgroup, source: view.fileSystem, target: base + "/" + view.name, data: view.options, flags: flags))
        }
        ops.append(MountOperation(.readOnly, target: base))
        return ops
    }

    /// How a given root directory is bound.
    public struct GivenRoot: Sendable {
        public var writable = false
        /// A detached (idmapped) mount of the directory to attach instead, or -1.
        public var treeFD: Int32 = -1
        /// The size of the upper layer of an overlay root (`--writable-root`); nil: no overlay.
        public var overlayBytes: UInt64?

        public init(writable: Bool = false, treeFD: Int32 = -1, overlayBytes: UInt64? = nil) {
            self.writable = writable
            self.treeFD = treeFD
            self.overlayBytes = overlayBytes
        }
    }

    /// What a sandbox mounts beyond the defaults.
    public struct ExtraMounts: Sendable {
        public var tmpfs: [TmpfsMount] = []
        public var maskedPaths: [String] = []
        public var readOnlyPaths: [String] = []

        public init(tmpfs: [TmpfsMount] = [], maskedPaths: [String] = [], readOnlyPaths: [String] = []) {
            self.tmpfs = tmpfs
            self.maskedPaths = maskedPaths
            self.readOnlyPaths = readOnlyPaths
        }
    }

    /// `--rootfs`: the directory bound as the root (read-only unless `root.writable`), with a
    /// fresh /tmp when it is read-only and has one.
    private static func givenRoot(_ rootfs: String, _ given: GivenRoot) -> [MountOperation] {
        var root = MountOperation(
            .bind, source: oldRoot + VolumeMount.normalize(rootfs), target: newRoot, flags: nosuid | nodev)
        if root.source == oldRoot + "/" { root.source = oldRoot }
        root.recursive = true
        root.readOnly = !given.writable
        root.sourceFD = given.treeFD
        if let bytes = given.overlayBytes {
            root.kind = .overlayRoot
            root.data = "size=\(bytes),mode=0755"
        }
        // A writable root gets the mount points an image may lack (runc makes them too).
        guard !given.writable && given.overlayBytes == nil else {
            return [root] + ["/dev", "/proc", "/sys"].map { MountOperation(.mkdir, target: newRoot + $0) }
        }
        var tmp = MountOperation(.tmpfs, target: newRoot + "/tmp", data: "mode=1777", flags: nosuid | nodev)
        tmp.optional = true
        return [root, tmp]
    }

    /// A fresh /dev: the allowed device nodes bound from the host (nosuid but not nodev: they
    /// must open), the console, a new devpts instance, /dev/shm and the /proc/self links.
    private static func devOperations(devptsGroup: UInt32?, console: String?) -> [MountOperation] {
        var ops = [MountOperation(.tmpfs, target: newRoot + "/dev", data: "mode=0755", flags: nosuid | noexec)]
        for device in devices {
            ops.append(MountOperation(.mkfile, target: newRoot + "/dev/" + device))
            ops.append(
                MountOperation(
                    .bind, source: oldRoot + "/dev/" + device, target: newRoot + "/dev/" + device,
                    flags: nosuid | noexec))
        }
        if let console {
            ops.append(MountOperation(.mkfile, target: newRoot + "/dev/console"))
            ops.append(
                MountOperation(
                    .bind, source: oldRoot + console, target: newRoot + "/dev/console", flags: nosuid | noexec))
        }
        ops.append(MountOperation(.mkdir, target: newRoot + "/dev/pts"))
        var ptsOptions = "newinstance,ptmxmode=0666,mode=0620"
        if let group = devptsGroup { ptsOptions += ",gid=\(group)" }
        ops.append(MountOperation(.devpts, target: newRoot + "/dev/pts", data: ptsOptions, flags: nosuid | noexec))
        ops.append(MountOperation(.symlink, source: "pts/ptmx", target: newRoot + "/dev/ptmx"))
        ops.append(MountOperation(.mkdir, target: newRoot + "/dev/shm"))
        ops.append(
            MountOperation(.tmpfs, target: newRoot + "/dev/shm", data: "mode=1777", flags: nosuid | nodev | noexec))
        for (link, destination) in [
            ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")
        ] {
            ops.append(MountOperation(.symlink, source: destination, target: newRoot + "/dev/" + link))
        }
        return ops
    }

    /// /dev/null over the masked /proc paths and the hidden /etc files; the read-only /proc paths.
    private static func maskOperations(masked: [String], readOnly: [String]) -> [MountOperation] {
        var ops: [MountOperation] = []
        for path in masked {
            var mask = MountOperation(.mask, source: newRoot + "/dev/null", target: newRoot + path)
            mask.optional = true
            ops.append(mask)
        }
        for path in readOnly {
            var bind = MountOperation(.bind, source: newRoot + path, target: newRoot + path, flags: nosuid | nodev)
            bind.recursive = true
            bind.readOnly = true
            bind.optional = true
            ops.append(bind)
        }
        return ops
    }

    /// The current directory (read-only at its own path) and the volumes, each with its
    /// idmapped tree when it has one.
    private static func bindOperations(volumes: [VolumeMount], volumeTrees: [Int32], currentDirectory: String?)
        -> [MountOperation]
    {
        var ops: [MountOperation] = []
        if let directory = currentDirectory {
            var bind = MountOperation(
                .bind, source: oldRoot + directory, target: newRoot + directory, flags: nosuid | nodev)
            bind.recursive = true
            bind.readOnly = true
            bind.createTarget = true
            ops.append(bind)
        }
        for (index, volume) in volumes.enumerated() {
            var bind = MountOperation(
                .bind, source: oldRoot + volume.hostPath, target: newRoot + volume.sandboxPath,
                flags: nosuid | nodev)
            bind.sourceFD = volumeTrees.indices.contains(index) ? volumeTrees[index] : -1
            bind.recursive = true
            bind.readOnly = volume.readOnly
            bind.createTarget = true
            ops.append(bind)
        }
        return ops
    }
}
