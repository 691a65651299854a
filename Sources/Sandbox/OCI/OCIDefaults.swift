import FoundationEssentials

/// What `sandbox spec` writes and what `sandbox features` prints.
public enum OCIDefaults {
    /// runc spec's defaults, in this runtime's terms: `sh` on a terminal, a read-only root at
    /// ./rootfs, the usual kernel mounts, new namespaces.
    public static func spec() -> OCIConfig {
        let mounts: [OCIConfig.Mount] = [
            .init(destination: "/proc", type: "proc", source: "proc", options: nil),
            .init(
                destination: "/dev", type: "tmpfs", source: "tmpfs",
                options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
            .init(
                destination: "/dev/pts", type: "devpts", source: "devpts",
                options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
            .init(
                destination: "/dev/shm", type: "tmpfs", source: "shm",
                options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
            .init(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"])
        ]
        let process = OCIConfig.Process(
            terminal: true, consoleSize: nil, user: .init(uid: 0, gid: 0, umask: nil, additionalGids: nil),
            args: ["sh"],
            env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], cwd: "/",
            capabilities: nil, rlimits: [.init(type: "RLIMIT_NOFILE", soft: 1024, hard: 1024)], noNewPrivileges: true,
            apparmorProfile: nil, selinuxLabel: nil)
        let linux = OCIConfig.Linux(
            namespaces: ["pid", "network", "ipc", "uts", "mount", "cgroup"].map { .init(type: $0, path: nil) },
            uidMappings: nil, gidMappings: nil, devices: nil, resources: nil, cgroupsPath: nil, sysctl: nil,
            seccomp: nil,
            maskedPaths: MountPlan.maskedPaths, readonlyPaths: MountPlan.readOnlyPaths, rootfsPropagation: nil)
        return OCIConfig(
            ociVersion: OCIRuntime.specVersion, process: process, root: .init(path: "rootfs", readonly: true),
            hostname: "sandbox", domainname: nil, mounts: mounts, hooks: nil, annotations: nil, linux: linux)
    }

    public static func writeSpec(to path: String) throws(SandboxError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let bytes: Data
        do { bytes = try encoder.encode(spec()) } catch { throw .invalidArgument("cannot encode the spec: \(error)") }
        try SystemCalls.createFile(path, String(decoding: bytes, as: UTF8.self) + "\n", mode: 0o644)
    }

    /// runtime-spec features.md: the versions, hooks, mount options, namespaces and the
    /// seccomp actions and operators this runtime takes.
    public static func featuresJSON() -> String {
        let namespaces = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]
        let actions = [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG"
        ]
        let operators = [
            "SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE",
            "SCMP_CMP_MASKED_EQ"
        ]
        func list(_ values: [String]) -> String { "[" + values.map { "\"\($0)\"" }.joined(separator: ",") + "]" }
        return """
            {"ociVersionMin":"1.0.0","ociVersionMax":"\(OCIRuntime.specVersion)","hooks":[],\
            "mountOptions":["bind","rbind","ro","rw","nosuid","nodev","noexec","size","mode"],\
            "linux":{"namespaces":\(list(namespaces)),"capabilities":[],"cgroup":{"v1":true,"v2":true,"systemd":false,"systemdUser":false},\
            "seccomp":{"enabled":true,"actions":\(list(actions)),"operators":\(list(operators)),"archs":["SCMP_ARCH_NATIVE"]},\
            "apparmor":{"enabled":false},"selinux":{"enabled":false}},\
            "annotations":{"io.github.sandbox.net":"user","io.github.sandbox.annotations":"sandbox.net sandbox.allow sandbox.allow-domain sandbox.deny sandbox.dns sandbox.pcap sandbox.log-connections sandbox.allow-host-loopback"}}
            """
    }
}
