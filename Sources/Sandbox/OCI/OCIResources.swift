/// config.json's `linux.resources` and `linux.sysctl`: memory, pids and CPU become the
/// sandbox's cgroup limits (its own cgroup: `cgroupsPath` is not used); device rules are moot,
/// since a sandbox has only the fixed device nodes and cannot make others.
enum OCIResources {
    /// Namespaced sysctls the sandbox sets itself for --net=user; others are refused rather than
    /// ignored, since a program may rely on them.
    static let alreadySet: Set<String> = ["net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"]

    static func apply(
        _ resources: OCIConfig.Resources?, sysctl: [String: String], to sandbox: inout SandboxConfiguration
    ) throws(SandboxError) {
        // The same bounds as --memory, --pids-limit and --cpus.
        if let limit = resources?.memory?.limit, limit > 0 {
            sandbox.resources.memoryBytes = try ResourceLimits.parseMemory(
                String(limit), flag: "config.json: linux.resources.memory.limit")
        }
        if let limit = resources?.pids?.limit, limit > 0 {
            sandbox.resources.pids = try ResourceLimits.parsePids(String(limit))
        }
        if let quota = resources?.cpu?.quota, quota > 0 {
            let period = resources?.cpu?.period ?? 100_000
            guard period > 0 else { throw .invalidArgument("config.json: linux.resources.cpu.period is 0") }
            sandbox.resources.cpus = try ResourceLimits.parseCPUs(String(Double(quota) / Double(period)))
        }
        for name in sysctl.keys.sorted() where !alreadySet.contains(name) {
            throw .notAvailable(
                "config.json: linux.sysctl \(name) is not supported (only \(alreadySet.sorted().joined(separator: ", ")), which the sandbox sets itself)"
            )
        }
    }
}
