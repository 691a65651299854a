import CLauncher
import Glibc

// The launcher's part of the mount plan: the plan itself, a writable root's tree and mount
// points, and the current directory's bind.
extension Launcher {
    /// The mount plan. With the default root the launcher's directory is bound and is where the
    /// app starts (`config.workdir`, unless one was given).
    static func mountPlan(
        _ config: inout SandboxConfiguration, identity: SandboxIdentity, networkVolumes: [VolumeMount],
        volumeTrees: [Int32], rootTree: Int32, hostSysfs: Int32, console: String?
    ) -> [MountOperation] {
        let host = config.rootfs == nil ? HostRoot.scan(walkEtc: identity.hostUID == 0 && identity.idRange == nil) : nil
        var start = MountPlan.StartDirectory()
        if let host, let cwd = Self.currentDirectory() {
            start = MountPlan.startDirectory(
                current: cwd, homes: host.homes, volumes: config.volumes,
                workdirGiven: config.workdir != nil,
                enterable: identity.idRange == nil || Self.searchableByEveryone(cwd))
            if let notice = start.notice { try? SystemCalls.writeAll(2, Array((notice + "\n").utf8), name: "stderr") }
            if let workdir = start.workdir { config.workdir = workdir }
        }
        return MountPlan.operations(
            rootfs: config.rootfs,
            root: MountPlan.GivenRoot(
                writable: config.rootWritable, treeFD: rootTree,
                overlayBytes: config.rootOverlay ? config.rootOverlayBytes : nil),
            extra: MountPlan.ExtraMounts(
                tmpfs: config.tmpfsMounts, maskedPaths: config.extraMaskedPaths,
                readOnlyPaths: config.extraReadOnlyPaths),
            volumes: networkVolumes + config.volumes,
            volumeTrees: Array(repeating: -1, count: networkVolumes.count) + volumeTrees,
            hostSysfsTree: hostSysfs, cgroupViews: Cgroups.views(for: config.resources),
            devptsGroup: identity.rootMapped ? 5 : nil,
            console: console, host: host, currentDirectory: start.bind, workdir: config.workdir)
    }

    /// A writable root directory (in place, or below `--writable-root`'s overlay) as the app's ids
    /// see it: with a reserved id range, an idmapped
    /// tree of it (as for volumes), so that inside root writes what host root owns. When it
    /// cannot be idmapped (overlayfs, as an engine's container root is) a plain tree: only what
    /// its modes let an unprivileged user write can be written. nil without an id range.
    static func writableRootTree(_ config: SandboxConfiguration, range: HostIDRange?) throws(SandboxError)
        -> (IdmappedVolumes, idmapped: Bool)?
    {
        guard config.rootWritable || config.rootOverlay, let rootfs = config.rootfs, let range else { return nil }
        return try IdmappedVolumes.openRoot(rootfs, range: range)
    }

    /// A writable root that is not idmapped: the app cannot make its own mount points there,
    /// so the launcher makes them first, as runc does (resolved inside the root: a symlink in
    /// the image never leads out of it). What the sandbox mounts its own file systems over
    /// (/dev, /proc, /sys) is made as the top directory only.
    static func makeMountPoints(_ operations: [MountOperation], in rootfs: String) throws(SandboxError) {
        let own = ["/dev/", "/proc/", "/sys/"]
        for op in operations {
            guard op.target.hasPrefix(MountPlan.newRoot + "/") else { continue }
            let inner = String(op.target.dropFirst(MountPlan.newRoot.count))
            guard !own.contains(where: { inner.hasPrefix($0) }) else { continue }
            let file: Bool
            switch op.kind {
            case .mkdir, .tmpfs, .proc, .sysfs: file = false
            case .mkfile: file = true
            case .bind where op.createTarget:
                guard let source = op.source, source.hasPrefix(MountPlan.oldRoot) else { continue }
                file = !SystemCalls.isDirectory(String(source.dropFirst(MountPlan.oldRoot.count)))
            default: continue
            }
            guard sbx_create_in_directory(rootfs, inner, file ? 1 : 0, 0o755) == 0 else {
                throw .setupFailed(step: "make the mount point", path: inner, errno: errno)
            }
        }
    }

    /// Whether a user who is neither owner nor in the group may enter `path` (o+x on it and on
    /// every directory above it): what the sandbox's unprivileged ids need to start there.
    static func searchableByEveryone(_ path: String) -> Bool {
        var directories = ["/"]
        for component in path.split(separator: "/") {
            directories.append((directories.count == 1 ? "" : directories[directories.count - 1]) + "/" + component)
        }
        return directories.allSatisfy { directory in
            var status = stat()
            return stat(directory, &status) == 0 && status.st_mode & S_IXOTH != 0
        }
    }

    static func currentDirectory() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return nil }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
