import Glibc
import Posix
import Synchronization

/// The cgroups a sandbox runs in, made for `--memory`, `--pids-limit` and `--cpus`.
///
/// cgroup v2 is used where the needed controllers are enabled for children of the launcher's
/// cgroup (delegated); otherwise each controller's cgroup v1 hierarchy. Each sandbox gets its
/// own directory `sandbox-<launcher pid>-<n>` beside the launcher's cgroup, removed when the
/// sandbox ends; a directory left by a launcher that was killed is removed by the next run.
public struct CgroupPlacement: Sendable {
    /// Directories whose cgroup.procs take the sandbox's init.
    public internal(set) var directories: [String]

    /// Moves `pid` into every directory.
    func add(pid: pid_t) throws(SandboxError) {
        for directory in directories {
            try SystemCalls.writeFile(directory + "/cgroup.procs", "\(pid)\n")
        }
    }

    /// Removes the directories (empty once the sandbox's processes are gone).
    func remove() {
        for directory in directories.reversed() {
            for _ in 0..<50 {
                if rmdir(directory) == 0 || errno == ENOENT { break }
                if errno != EBUSY { break }
                usleep(2_000) // the last task is still being released by the kernel
            }
        }
    }
}

public enum Cgroups {
    /// Numbers this launcher's cgroups (a process may run several sandboxes).
    private static let counter = Atomic<Int>(0)

    /// One mounted hierarchy: where it is mounted, its root inside the hierarchy, the
    /// controllers it carries (v1) and whether it is the unified v2 hierarchy.
    public struct Hierarchy: Sendable, Equatable {
        public var mountPoint: String
        public var root: String
        public var controllers: [String]
        public var unified: Bool
    }

    /// Parses /proc/self/mountinfo for cgroup and cgroup2 mounts.
    public static func hierarchies(mountinfo: String) -> [Hierarchy] {
        var result: [Hierarchy] = []
        for line in mountinfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count > dash + 3 else { continue }
            let fstype = fields[dash + 1]
            guard fstype == "cgroup" || fstype == "cgroup2" else { continue }
            let superOptions = fields[dash + 3].split(separator: ",").map(String.init)
            result.append(
                Hierarchy(
                    mountPoint: unescape(String(fields[4])), root: unescape(String(fields[3])),
                    controllers: fstype == "cgroup" ? superOptions : [], unified: fstype == "cgroup2"))
        }
        return result
    }

    /// Parses /proc/self/cgroup: controller list ("" for v2) -> path.
    public static func membership(procSelfCgroup: String) -> [(controllers: [String], path: String)] {
        procSelfCgroup.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            return (parts[1].split(separator: ",").map(String.init), String(parts[2]))
        }
    }

    /// mountinfo escapes space, tab, newline and backslash as \ooo.
    static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var bytes: [UInt8] = []
        var input = Array(text.utf8)[...]
        while let byte = input.popFirst() {
            if byte == UInt8(ascii: "\\"), input.count >= 3,
                let value = UInt8(String(decoding: input.prefix(3), as: UTF8.self), radix: 8)
            {
                bytes.append(value)
                input = input.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Creates the cgroups for `limits` and writes the limits. Throws `.resourceControl` when
    /// no usable controller exists.
    public static func create(_ limits: ResourceLimits) throws(SandboxError) -> CgroupPlacement {
        let mounts = hierarchies(mountinfo: try SystemCalls.readText("/proc/self/mountinfo"))
        let memberships = membership(procSelfCgroup: try SystemCalls.readText("/proc/self/cgroup"))
        let needed = neededControllers(limits)
        let serial = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let name = "sandbox-\(getpid())-\(serial)"

        if let directory = unifiedParent(mounts: mounts, memberships: memberships, needing: needed) {
            sweepStale(in: directory)
            let path = directory + "/" + name
            try makeDirectory(path, controller: needed.joined(separator: ", "))
            let placement = CgroupPlacement(directories: [path])
            do {
                if let bytes = limits.memoryBytes {
                    try SystemCalls.writeFile(path + "/memory.max", "\(bytes)")
                    if SystemCalls.fileExists(path + "/memory.swap.max") {
                        try SystemCalls.writeFile(path + "/memory.swap.max", "0")
                    }
                }
                if let pids = limits.pids { try SystemCalls.writeFile(path + "/pids.max", "\(pids)") }
                if let cpus = limits.cpus { try SystemCalls.writeFile(path + "/cpu.max", "\(quota(cpus)) \(period)") }
            } catch {
                placement.remove()
                throw error
            }
            Launcher.log.debug("cgroup made (v2)", metadata: ["directory": "\(path)"])
            return placement
        }

        var placement = CgroupPlacement(directories: [])
        do throws(SandboxError) {
            for controller in needed {
                guard
                    let (hierarchy, member) = separateHierarchy(
                        of: controller, mounts: mounts, memberships: memberships)
                else {
                    throw SandboxError.resourceControl(
                        "\(flag(for: controller)) needs the \(controller) cgroup controller: it is neither delegated in cgroup v2 nor mounted as cgroup v1 here"
                    )
                }
                let parent = join(hierarchy, member.path)
                sweepStale(in: parent)
                let path = parent + "/" + name
                try makeDirectory(path, controller: controller)
                placement.directories.append(path)
                switch controller {
                case "memory":
                    let bytes = limits.memoryBytes ?? 0
                    try SystemCalls.writeFile(path + "/memory.limit_in_bytes", "\(bytes)")
                    // Where swap accounting exists, memory+swap gets the same limit: no swapping past it.
                    if SystemCalls.fileExists(path + "/memory.memsw.limit_in_bytes") {
                        try SystemCalls.writeFile(path + "/memory.memsw.limit_in_bytes", "\(bytes)")
                    }
                case "pids":
                    try SystemCalls.writeFile(path + "/pids.max", "\(limits.pids ?? 0)")
                default:
                    try SystemCalls.writeFile(path + "/cpu.cfs_period_us", "\(period)")
                    try SystemCalls.writeFile(path + "/cpu.cfs_quota_us", "\(quota(limits.cpus ?? 1))")
                }
            }
        } catch {
            placement.remove()
            throw error
        }
        Launcher.log.debug("cgroups made (v1)", metadata: ["directories": "\(placement.directories)"])
        return placement
    }

    static func neededControllers(_ limits: ResourceLimits) -> [String] {
        var needed: [String] = []
        if limits.memoryBytes != nil { needed.append("memory") }
        if limits.pids != nil { needed.append("pids") }
        if limits.cpus != nil { needed.append("cpu") }
        return needed
    }

    /// The controller's own v1 hierarchy, and the launcher's place in it.
    static func separateHierarchy(
        of controller: String, mounts: [Hierarchy], memberships: [(controllers: [String], path: String)]
    ) -> (Hierarchy, (controllers: [String], path: String))? {
        guard let hierarchy = mounts.first(where: { !$0.unified && $0.controllers.contains(controller) }),
            let member = memberships.first(where: { $0.controllers.contains(controller) })
        else { return nil }
        return (hierarchy, member)
    }

    static let period = 100_000 // microseconds, the kernel's default CFS period

    static func quota(_ cpus: Double) -> Int { max(1000, Int((cpus * Double(period)).rounded())) }

    static func flag(for controller: String) -> String {
        switch controller {
        case "memory": return "--memory"
        case "pids": return "--pids-limit"
        default: return "--cpus"
        }
    }

    /// The launcher's v2 cgroup, if every needed controller is enabled for its children.
    static func unifiedParent(
        mounts: [Hierarchy], memberships: [(controllers: [String], path: String)], needing: [String]
    ) -> String? {
        guard let hierarchy = mounts.first(where: \.unified),
            let member = memberships.first(where: { $0.controllers.isEmpty })
        else { return nil }
        let directory = join(hierarchy, member.path)
        guard let enabled = try? SystemCalls.readText(directory + "/cgroup.subtree_control") else { return nil }
        let controllers = enabled.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init)
        return needing.allSatisfy(controllers.contains) ? directory : nil
    }

    static func join(_ hierarchy: Hierarchy, _ path: String) -> String {
        var relative = path
        if hierarchy.root != "/", relative.hasPrefix(hierarchy.root) {
            relative = String(relative.dropFirst(hierarchy.root.count))
        }
        if relative == "/" { relative = "" }
        return hierarchy.mountPoint + relative
    }

    static func makeDirectory(_ path: String, controller: String) throws(SandboxError) {
        guard mkdir(path, 0o755) == 0 else {
            let code = errno
            throw .resourceControl(
                "cannot create a \(controller) cgroup at \(path): \(Posix.errnoText(code)); "
                    + "run as root or delegate the controller (cgroup v2) to this user")
        }
    }

    /// Removes empty `sandbox-<pid>-<n>` directories whose launcher is gone (killed by SIGKILL).
    static func sweepStale(in parent: String) {
        guard let directory = opendir(parent) else { return }
        defer { closedir(directory) }
        var stale: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            let parts = name.split(separator: "-")
            guard parts.count == 3, parts[0] == "sandbox", let pid = Int32(parts[1]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { stale.append(name) }
        }
        for name in stale { _ = rmdir(parent + "/" + name) }
    }
}
