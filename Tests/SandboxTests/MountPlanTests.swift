import Sandbox
import Testing

@Suite struct MountPlanTests {
    let plan = MountPlan.operations(rootfs: nil, volumes: [
        VolumeMount(hostPath: "/srv/in", sandboxPath: "/data", readOnly: true),
        VolumeMount(hostPath: "/srv/out", sandboxPath: "/tmp/out", readOnly: false),
    ], devptsGroup: 5)

    @Test func rootIsTheHostReadOnlyAndRecursive() throws {
        let root = try #require(plan.first)
        #expect(root.kind == .bind && root.source == "/oldroot" && root.target == "/newroot")
        #expect(root.readOnly && root.recursive)
    }

    @Test func customRootfs() throws {
        let root = try #require(MountPlan.operations(rootfs: "/srv/rootfs/", volumes: [], devptsGroup: nil).first)
        #expect(root.source == "/oldroot/srv/rootfs")
        #expect(root.readOnly)
    }

    @Test func privateTmpProcDevAndReadOnlySys() {
        #expect(plan.contains { $0.kind == .tmpfs && $0.target == "/newroot/tmp" })
        #expect(plan.contains { $0.kind == .proc && $0.target == "/newroot/proc" })
        #expect(plan.contains { $0.kind == .tmpfs && $0.target == "/newroot/dev" })
        #expect(plan.contains { $0.kind == .sysfs && $0.target == "/newroot/sys" && $0.source == "/oldroot/sys" })
        #expect(plan.contains { $0.kind == .tmpfs && $0.target == "/newroot/dev/shm" })
        #expect(plan.contains { $0.kind == .devpts && $0.data?.contains("newinstance") == true && $0.data?.contains("gid=5") == true })
        #expect(plan.contains { $0.kind == .symlink && $0.target == "/newroot/dev/ptmx" && $0.source == "pts/ptmx" })
    }

    @Test func minimalDevBindsOnlyTheSafeNodes() throws {
        let bound = plan.filter { $0.kind == .bind && $0.target.hasPrefix("/newroot/dev/") }.map(\.target)
        #expect(bound == MountPlan.devices.map { "/newroot/dev/" + $0 })
        // Each node gets its mount point created first.
        for device in MountPlan.devices {
            let create = try #require(plan.firstIndex { $0.kind == .mkfile && $0.target == "/newroot/dev/" + device })
            let bind = try #require(plan.firstIndex { $0.kind == .bind && $0.target == "/newroot/dev/" + device })
            #expect(create < bind)
        }
        let devTmpfs = try #require(plan.firstIndex { $0.kind == .tmpfs && $0.target == "/newroot/dev" })
        let firstNode = try #require(plan.firstIndex { $0.kind == .mkfile })
        #expect(devTmpfs < firstNode)
    }

    @Test func ociMaskedAndReadOnlyPathsAfterProc() throws {
        let proc = try #require(plan.firstIndex { $0.kind == .proc })
        for path in MountPlan.maskedPaths {
            let index = try #require(plan.firstIndex { $0.kind == .mask && $0.target == "/newroot" + path })
            #expect(index > proc)
            #expect(plan[index].optional)
            #expect(plan[index].source == "/newroot/dev/null")
        }
        for path in MountPlan.readOnlyPaths {
            let op = try #require(plan.first { $0.kind == .bind && $0.target == "/newroot" + path })
            #expect(op.readOnly && op.source == op.target)
        }
        #expect(MountPlan.maskedPaths.contains("/proc/kcore"))
        #expect(MountPlan.readOnlyPaths.contains("/proc/sysrq-trigger"))
    }

    @Test func volumesComeLastOverTheirTargets() throws {
        let last = Array(plan.suffix(2))
        #expect(last[0] == {
            var op = MountOperation(.bind, source: "/oldroot/srv/in", target: "/newroot/data")
            op.recursive = true; op.readOnly = true; op.createTarget = true
            return op
        }())
        #expect(last[1].source == "/oldroot/srv/out" && last[1].target == "/newroot/tmp/out" && !last[1].readOnly)
        let tmp = try #require(plan.firstIndex { $0.kind == .tmpfs && $0.target == "/newroot/tmp" })
        #expect(tmp < plan.count - 1)
    }

    @Test func rootlessDevptsHasNoGroup() {
        let ops = MountPlan.operations(rootfs: nil, volumes: [], devptsGroup: nil)
        #expect(ops.contains { $0.kind == .devpts && $0.data?.contains("gid=") == false })
    }
}
