// The app's read-only view of its own cgroups at /sys/fs/cgroup, so that runtimes which size
// themselves from it (the JVM, Go's GOMAXPROCS readers, Node) see `--memory`, `--cpus` and
// `--pids-limit`. Mounted by init after it entered its cgroup namespace, whose root is the
// sandbox's own cgroup: the app sees that cgroup as the root and nothing above or beside it.
// Only the hierarchies the sandbox has a cgroup of its own in are mounted; in any other, the
// namespace's root is the launcher's cgroup, whose tree (other sandboxes, the host's services)
// is none of the app's business.

public struct CgroupView: Sendable, Equatable {
    /// "cgroup2" (the unified hierarchy, mounted at /sys/fs/cgroup itself) or "cgroup" (one v1
    /// hierarchy, at /sys/fs/cgroup/NAME on a tmpfs).
    public var fileSystem: String
    /// The v1 hierarchy's directory name, as the host mounts it ("memory", "cpu,cpuacct").
    public var name: String
    /// The v1 hierarchy's controllers, exactly (the kernel mounts an existing hierarchy only
    /// with its own set).
    public var options: String

    public init(fileSystem: String, name: String = "", options: String = "") {
        self.fileSystem = fileSystem
        self.name = name
        self.options = options
    }
}

extension Cgroups {
    /// v1 controller names (and `name=`), to tell them from mount options in the super options.
    static let controllerNames: Set<String> = [
        "cpuset", "cpu", "cpuacct", "io", "blkio", "memory", "devices", "freezer", "net_cls", "perf_event",
        "net_prio", "hugetlb", "pids", "rdma", "misc"
    ]

    /// The file systems that show a sandbox with `limits` its cgroups (as `create` places them);
    /// empty without limits, or where this cannot be read.
    public static func views(for limits: ResourceLimits) -> [CgroupView] {
        guard !limits.isEmpty, let mountinfo = try? SystemCalls.readText("/proc/self/mountinfo"),
            let cgroup = try? SystemCalls.readText("/proc/self/cgroup")
        else { return [] }
        return views(
            for: limits, mounts: hierarchies(mountinfo: mountinfo), memberships: membership(procSelfCgroup: cgroup))
    }

    /// The same from parsed `mountinfo` and `/proc/self/cgroup` (`hierarchies`, `membership`).
    public static func views(
        for limits: ResourceLimits, mounts: [Hierarchy], memberships: [(controllers: [String], path: String)]
    ) -> [CgroupView] {
        let needed = neededControllers(limits)
        if unifiedParent(mounts: mounts, memberships: memberships, needing: needed) != nil {
            return [CgroupView(fileSystem: "cgroup2")]
        }
        var views: [CgroupView] = []
        for controller in needed {
            guard let (hierarchy, _) = separateHierarchy(of: controller, mounts: mounts, memberships: memberships),
                let name = hierarchy.mountPoint.split(separator: "/").last.map(String.init)
            else { continue }
            let options = hierarchy.controllers.filter { controllerNames.contains($0) || $0.hasPrefix("name=") }
            let view = CgroupView(fileSystem: "cgroup", name: name, options: options.joined(separator: ","))
            if !views.contains(view) { views.append(view) }
        }
        return views
    }
}
