import Sandbox
import Testing

@Suite struct CgroupsTests {
    let mountinfo = """
        22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
        30 22 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
        31 30 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
        32 30 0:28 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
        33 30 0:29 / /sys/fs/cgroup/cpu\\040x rw,relatime - cgroup cgroup rw,cpu,cpuacct
        34 30 0:30 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        35 22 0:31 /sub /mnt/nested rw - cgroup cgroup rw,blkio
        garbage line
        """

    @Test func findsV1AndV2Hierarchies() {
        let found = Cgroups.hierarchies(mountinfo: mountinfo)
        #expect(found.count == 5)
        #expect(found.first { $0.controllers.contains("memory") }?.mountPoint == "/sys/fs/cgroup/memory")
        #expect(found.first { $0.controllers.contains("cpuacct") }?.mountPoint == "/sys/fs/cgroup/cpu x")
        #expect(found.first { $0.unified }?.mountPoint == "/sys/fs/cgroup/unified")
        #expect(found.first { $0.controllers.contains("blkio") }?.root == "/sub")
    }

    @Test func parsesMembership() {
        let lines = Cgroups.membership(
            procSelfCgroup: "4:memory:/process_api/abc\n8:pids:/\n1:cpu,cpuacct:/x\n0::/user.slice\nbad\n")
        #expect(lines.count == 4)
        #expect(lines[0].controllers == ["memory"] && lines[0].path == "/process_api/abc")
        #expect(lines[2].controllers == ["cpu", "cpuacct"])
        #expect(lines[3].controllers.isEmpty && lines[3].path == "/user.slice")
    }

    @Test func theViewMountsOnlyTheSandboxsOwnHierarchiesWithTheirExactControllers() {
        var limits = ResourceLimits()
        limits.memoryBytes = 1 << 28
        limits.cpus = 1.5
        let views = Cgroups.views(
            for: limits, mounts: Cgroups.hierarchies(mountinfo: mountinfo),
            memberships: Cgroups.membership(procSelfCgroup: "4:memory:/\n8:pids:/\n1:cpu,cpuacct:/\n0::/\n"))
        #expect(
            views == [
                CgroupView(fileSystem: "cgroup", name: "memory", options: "memory"),
                CgroupView(fileSystem: "cgroup", name: "cpu x", options: "cpu,cpuacct")
            ], "no pids view without --pids-limit; rw is a mount option, not a controller")
        #expect(Cgroups.views(for: ResourceLimits(), mounts: [], memberships: []).isEmpty)
    }
}
