import FoundationEssentials
import Glibc
import UserNet

/// An OCI bundle (a directory with config.json and a root file system), read and judged: what
/// the runtime honours becomes a `SandboxConfiguration`; a field it cannot honour and whose
/// loss would weaken isolation is refused with the field's name; the rest is ignored (README,
/// "As an OCI runtime", lists which).
public struct OCIBundle: Sendable {
    public let directory: String
    public let config: OCIConfig

    static let maximumConfigBytes = 4 << 20

    public static func load(_ directory: String) throws(SandboxError) -> OCIBundle {
        let path = directory + "/config.json"
        let bytes: [UInt8]
        do { bytes = try SystemCalls.readFile(path, limit: maximumConfigBytes + 1) } catch {
            throw .invalidArgument("bundle \(directory): cannot read config.json: \(error)")
        }
        guard bytes.count <= maximumConfigBytes else { throw .invalidArgument("\(path): larger than 4 MiB") }
        do {
            return OCIBundle(directory: directory, config: try JSONDecoder().decode(OCIConfig.self, from: Data(bytes)))
        } catch {
            throw .invalidArgument(
                "\(path): not an OCI runtime configuration: \(JSONErrorText.describe(error, in: bytes))")
        }
    }

    /// The engine's network namespace (linux.namespaces, type network, with a path): where the
    /// gateway's host side lives, never the app.
    public var engineNetworkNamespace: String? {
        config.linux?.namespaces?.first(where: { $0.type == "network" })?.path
    }

    /// The configuration to run. `stateDirectory` holds what the launcher reads from files (the
    /// seccomp section).
    public func sandboxConfiguration(stateDirectory: String) throws(SandboxError) -> SandboxConfiguration {
        guard let process = config.process, let args = process.args, !args.isEmpty else {
            throw .invalidArgument("config.json: process.args is empty: nothing to run")
        }
        var sandbox = SandboxConfiguration(command: args)
        try applyProcess(process, to: &sandbox)
        try applyRoot(to: &sandbox)
        try OCIMounts.apply(config.mounts ?? [], to: &sandbox)
        try applyLinux(to: &sandbox, stateDirectory: stateDirectory)
        try OCIAnnotations.apply(
            config.annotations ?? [:], to: &sandbox, engineResolvConf: engineResolvConf, stateDirectory: stateDirectory)
        if let hostname = config.hostname, !hostname.isEmpty { sandbox.hostname = hostname }
        if let hooks = config.hooks, !(hooks.createContainer ?? []).isEmpty || !(hooks.startContainer ?? []).isEmpty {
            throw .notAvailable(
                "config.json: hooks.createContainer and hooks.startContainer (run inside the container's namespaces) are not supported; createRuntime, prestart, poststart and poststop are"
            )
        }
        try sandbox.validate()
        return sandbox
    }

    /// The file the engine binds at /etc/resolv.conf: its nameservers are the gateway's
    /// upstreams (the sandbox's own resolv.conf names the gateway's forwarder).
    var engineResolvConf: String? {
        config.mounts?.first(where: { $0.destination == "/etc/resolv.conf" && $0.type == "bind" })?.source
    }

    private func applyProcess(_ process: OCIConfig.Process, to sandbox: inout SandboxConfiguration) throws(SandboxError)
    {
        sandbox.environment = []
        for entry in process.env ?? [] {
            guard let variable = try EnvironmentVariable.parse(entry, lookup: { _ in nil }) else { continue }
            sandbox.environment.set(variable)
        }
        sandbox.workdir = process.cwd
        sandbox.user = UserSpec(uid: process.user.uid, gid: process.user.gid)
        sandbox.supplementaryGroups = process.user.additionalGids ?? []
        sandbox.tty = process.terminal ?? false
        for limit in process.rlimits ?? [] {
            let name = String(limit.type.lowercased().trimmingPrefix("rlimit_"))
            guard let resource = ResourceLimit.names.first(where: { $0.0 == name })?.1 else {
                throw .invalidArgument("config.json: process.rlimits: unknown type \(limit.type)")
            }
            sandbox.rlimits.append(ResourceLimit(resource: resource, name: name, soft: limit.soft, hard: limit.hard))
        }
        // The program never holds a capability and always runs with NO_NEW_PRIVS: a request
        // for capabilities or for privileges by exec is narrowed, not refused (README).
    }

    private func applyRoot(to sandbox: inout SandboxConfiguration) throws(SandboxError) {
        guard let root = config.root else { throw .invalidArgument("config.json: root is missing") }
        let path = root.path.hasPrefix("/") ? root.path : directory + "/" + root.path
        sandbox.rootfs = VolumeMount.normalize(path)
        sandbox.rootWritable = !(root.readonly ?? false)
    }

    private func applyLinux(to sandbox: inout SandboxConfiguration, stateDirectory: String) throws(SandboxError) {
        guard let linux = config.linux else { return }
        for namespace in linux.namespaces ?? [] {
            guard ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"].contains(namespace.type) else {
                throw .invalidArgument("config.json: linux.namespaces: unknown type \(namespace.type)")
            }
            // A pod's containers join its pause container's ipc and uts namespaces; a sandbox
            // makes its own instead (narrower: no SysV IPC shared across the pod; the host name
            // is config.json's). Joining pid, mount, user or cgroup namespaces is refused.
            if let path = namespace.path, !["network", "ipc", "uts"].contains(namespace.type) {
                throw .notAvailable(
                    "config.json: linux.namespaces: joining the \(namespace.type) namespace \(path) is not "
                        + "supported (the sandbox makes its own; a pod with a shared process namespace needs another runtime)"
                )
            }
        }
        if !(linux.uidMappings ?? []).isEmpty || !(linux.gidMappings ?? []).isEmpty {
            throw .notAvailable(
                "config.json: linux.uidMappings/gidMappings: the sandbox maps the container's ids to a "
                    + "host range of its own; run the engine without a user-namespace mapping")
        }
        for device in linux.devices ?? [] where !MountPlan.devices.contains(where: { "/dev/" + $0 == device.path }) {
            throw .notAvailable(
                "config.json: linux.devices: \(device.path) is not available in a sandbox (only "
                    + MountPlan.devices.map { "/dev/" + $0 }.joined(separator: ", ") + ")")
        }
        try OCIResources.apply(linux.resources, sysctl: linux.sysctl ?? [:], to: &sandbox)
        for path in (linux.maskedPaths ?? []) + (linux.readonlyPaths ?? [])
        where !path.hasPrefix("/") || path.split(separator: "/").contains("..") {
            throw .invalidArgument(
                "config.json: linux.maskedPaths/readonlyPaths: \(path) must be absolute, without '..'")
        }
        sandbox.extraMaskedPaths = (linux.maskedPaths ?? []).map(VolumeMount.normalize).filter {
            !MountPlan.maskedPaths.contains($0)
        }
        sandbox.extraReadOnlyPaths = (linux.readonlyPaths ?? []).map(VolumeMount.normalize).filter {
            !MountPlan.readOnlyPaths.contains($0)
        }
        if let seccomp = linux.seccomp {
            let path = stateDirectory + "/seccomp.json"
            try SystemCalls.createFile(path, String(decoding: seccomp.json, as: UTF8.self))
            sandbox.seccomp = .profile(path)
        }
    }
}
