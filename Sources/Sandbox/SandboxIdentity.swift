import Glibc

/// Who one sandbox runs as, decided once before anything starts: the caller's host ids,
/// whether the sandbox gets a user namespace, and how its ids map to the host's.
struct SandboxIdentity {
    let hostUID: uid_t
    let hostGID: gid_t
    let userNamespace: Bool
    /// As root by default the app's ids are an unprivileged host range of its own. Its lock is
    /// the slot: held as long as this value lives.
    let idRange: HostIDRange?
    /// Rootless, only the caller's own ids exist inside: the app runs as the one mapped id.
    let insideUID: UInt32
    let insideGID: UInt32

    /// As root the launcher maps the whole id space (or a range of it), not one id.
    var rootMapped: Bool { hostUID == 0 }

    init(_ config: SandboxConfiguration) throws(SandboxError) {
        hostUID = geteuid()
        hostGID = getegid()
        userNamespace = hostUID != 0 || config.userNamespace != .host
        idRange = hostUID == 0 && config.userNamespace == .auto ? try HostIDRange.reserve() : nil
        if idRange != nil, let user = config.user, user.uid >= HostIDRange.size || user.gid >= HostIDRange.size {
            throw .invalidArgument(
                "--user \(user.uid):\(user.gid): ids inside the sandbox are 0-\(HostIDRange.size - 1)")
        }
        if hostUID != 0, !config.supplementaryGroups.isEmpty {
            throw .invalidArgument(
                "--group-add needs root: rootless, the sandbox's user namespace maps only the caller's own group")
        }
        if idRange != nil, let group = config.supplementaryGroups.first(where: { $0 >= HostIDRange.size }) {
            throw .invalidArgument("--group-add \(group): ids inside the sandbox are 0-\(HostIDRange.size - 1)")
        }
        insideUID = config.user?.uid ?? 0
        insideGID = config.user?.gid ?? 0
    }

    /// Writes the id maps of the user namespace the sandbox's init `pid` made.
    func writeMaps(pid: pid_t) throws(SandboxError) {
        let uidMap = idRange?.mapLine ?? (rootMapped ? "0 0 4294967295\n" : "\(insideUID) \(hostUID) 1\n")
        let gidMap = idRange?.mapLine ?? (rootMapped ? "0 0 4294967295\n" : "\(insideGID) \(hostGID) 1\n")
        try SystemCalls.writeFile("/proc/\(pid)/uid_map", uidMap)
        if !rootMapped { try SystemCalls.writeFile("/proc/\(pid)/setgroups", "deny\n") }
        try SystemCalls.writeFile("/proc/\(pid)/gid_map", gidMap)
    }
}
