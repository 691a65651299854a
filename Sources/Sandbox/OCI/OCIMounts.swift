/// config.json's `mounts`, judged: binds and tmpfs mounts become the sandbox's; the kernel file
/// systems an engine lists (proc, sysfs, devpts, mqueue, cgroup, the /dev tmpfs) are ones every
/// sandbox mounts itself, hardened its own way, so those entries are taken as met; any other
/// type is refused (a file system the runtime would mount blind).
enum OCIMounts {
    /// Destinations the sandbox's own mount plan provides.
    static let provided: Set<String> = [
        "/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"
    ]

    /// Files the sandbox writes itself with --net=user (its gateway's addresses, not the
    /// engine's); the engine's resolv.conf gives the gateway its upstreams (OCIBundle).
    static let networkFiles: Set<String> = ["/etc/resolv.conf", "/etc/hosts"]

    static func apply(_ mounts: [OCIConfig.Mount], to sandbox: inout SandboxConfiguration) throws(SandboxError) {
        for (index, mount) in mounts.enumerated() {
            let destination = VolumeMount.normalize(mount.destination)
            let options = mount.options ?? []
            let what = "config.json: mounts[\(index)] (\(mount.destination))"
            guard mount.destination.hasPrefix("/"), !mount.destination.split(separator: "/").contains("..") else {
                throw .invalidArgument("\(what): the destination must be absolute, without '..'")
            }
            if provided.contains(destination) { continue }
            let type = mount.type ?? (options.contains("bind") || options.contains("rbind") ? "bind" : "")
            switch type {
            case "bind":
                if networkFiles.contains(destination) { continue }
                guard let source = mount.source, source.hasPrefix("/") else {
                    throw .invalidArgument("\(what): a bind needs an absolute source")
                }
                guard destination != "/" else { throw .invalidArgument("\(what): cannot bind over /") }
                sandbox.volumes.append(
                    VolumeMount(
                        hostPath: VolumeMount.normalize(source), sandboxPath: destination,
                        readOnly: options.contains("ro")))
            case "tmpfs":
                let kernelOptions = options.filter { $0.contains("=") }.joined(separator: ",")
                sandbox.tmpfsMounts.append(
                    TmpfsMount(
                        sandboxPath: destination,
                        options: try TmpfsMount.options(kernelOptions, for: what)))
            case "proc", "sysfs", "devpts", "mqueue", "cgroup", "cgroup2":
                throw .notAvailable("\(what): a \(type) mount is only made at its usual place")
            default:
                throw .notAvailable("\(what): mount type \(type.isEmpty ? "(none)" : type) is not supported")
            }
        }
    }
}
