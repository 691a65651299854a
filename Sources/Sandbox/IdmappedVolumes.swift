import CLauncher
import Glibc
import Posix

/// The volumes of a sandbox whose ids are a reserved host range (`HostIDRange`), each as a
/// detached idmapped mount: inside id N reads and writes the volume's files as on-disk id N, so
/// a volume stays usable as it was with host ids. Every tree is nosuid and nodev.
///
/// Made in the launcher, before the clone: only root in the initial user namespace may idmap
/// a mount of an ordinary file system; the child inherits the descriptors and attaches them
/// with move_mount (`sbx_mount_op.source_fd`).
final class IdmappedVolumes {
    /// One per volume, in order.
    let treeFDs: [Int32]

    private init(treeFDs: [Int32]) { self.treeFDs = treeFDs }

    deinit { for fd in treeFDs { Posix.close(fd) } }

    static func open(_ volumes: [VolumeMount], range: HostIDRange) throws(SandboxError) -> IdmappedVolumes {
        guard !volumes.isEmpty else { return IdmappedVolumes(treeFDs: []) }
        let namespace = sbx_mapping_user_namespace(range.mapLine, range.mapLine)
        guard namespace >= 0 else {
            throw .system(PosixError(call: "clone", errno: errno), detail: "(a user namespace for idmapped volumes)")
        }
        defer { Posix.close(namespace) }
        var trees: [Int32] = []
        for volume in volumes {
            let fd = sbx_open_idmapped_tree(volume.hostPath, namespace, volume.readOnly ? 1 : 0)
            guard fd >= 0 else {
                let code = errno
                for tree in trees { Posix.close(tree) }
                throw unusable(volume, errno: code)
            }
            trees.append(fd)
        }
        return IdmappedVolumes(treeFDs: trees)
    }

    /// A writable root's tree: idmapped, or plain (`idmapped` false) when its file system cannot
    /// be idmapped (overlayfs); either way opened here, where the host's paths to it are
    /// reachable.
    static func openRoot(_ path: String, range: HostIDRange) throws(SandboxError) -> (IdmappedVolumes, idmapped: Bool) {
        let namespace = sbx_mapping_user_namespace(range.mapLine, range.mapLine)
        guard namespace >= 0 else {
            throw .system(PosixError(call: "clone", errno: errno), detail: "(a user namespace for an idmapped root)")
        }
        defer { Posix.close(namespace) }
        let fd = sbx_open_idmapped_tree(path, namespace, 0)
        if fd >= 0 { return (IdmappedVolumes(treeFDs: [fd]), true) }
        guard errno == EINVAL || errno == EOPNOTSUPP else {
            throw .system(PosixError(call: "open_tree", errno: errno), detail: path)
        }
        let plain = sbx_open_plain_tree(path)
        guard plain >= 0 else { throw .system(PosixError(call: "open_tree", errno: errno), detail: path) }
        return (IdmappedVolumes(treeFDs: [plain]), false)
    }

    private static func unusable(_ volume: VolumeMount, errno code: Int32) -> SandboxError {
        if code == EINVAL || code == EOPNOTSUPP {
            return .invalidArgument(
                "--volume \(volume.hostPath): its file system cannot be idmapped, which the default "
                    + "user namespace needs (the app's ids are an unprivileged host range); put it on "
                    + "ext4, xfs, btrfs or tmpfs, or use --userns host (unsafe for untrusted code)")
        }
        return .system(PosixError(call: "open_tree", errno: code), detail: "--volume \(volume.hostPath)")
    }
}
