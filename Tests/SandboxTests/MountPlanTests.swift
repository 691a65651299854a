import Sandbox
import Testing

@Suite struct MountPlanTests {
    static let host = HostRoot(
        entries: [
            .directory("/usr"), .symlink("/bin", target: "usr/bin"),
            .symlink("/lib64", target: "usr/lib64"), .directory("/etc")
        ],
        hiddenEtc: ["/etc/shadow", "/etc/ssl/private"], homes: ["/root", "/home", "/home/ann"])
    let plan = MountPlan.operations(
        rootfs: nil,
        volumes: [
            VolumeMount(hostPath: "/srv/in", sandboxPath: "/data", readOnly: true),
            VolumeMount(hostPath: "/srv/out", sandboxPath: "/tmp/out", readOnly: false)
        ], devptsGroup: 5, host: host, currentDirectory: "/work/project")

    @Test func defaultRootIsATmpfsWithTheAllowList() throws {
        let root = try #require(plan.first)
        #expect(root.kind == .tmpfs && root.target == "/newroot")
        let usr = try #require(plan.first { $0.kind == .bind && $0.target == "/newroot/usr" })
        #expect(usr.source == "/oldroot/usr" && usr.readOnly && usr.recursive)
        #expect(plan.contains { $0.kind == .bind && $0.target == "/newroot/etc" && $0.readOnly })
        #expect(plan.contains { $0.kind == .symlink && $0.target == "/newroot/bin" && $0.source == "usr/bin" })
        #expect(plan.contains { $0.kind == .symlink && $0.target == "/newroot/var/run" && $0.source == "../run" })
        for fresh in ["/run", "/tmp", "/var/tmp"] {
            #expect(plan.contains { $0.kind == .tmpfs && $0.target == "/newroot" + fresh })
        }
        // Nothing else of the host's /: only allow-listed directories, the cwd and volumes are bound.
        let bound = Set(
            plan.filter { $0.kind == .bind && $0.source?.hasPrefix("/oldroot/") == true }.compactMap(\.source))
        for secret in ["/root", "/home", "/var/lib", "/var/log", "/mnt", "/media", "/srv", "/run", "/var/run"] {
            #expect(!bound.contains("/oldroot" + secret))
            #expect(
                !plan.contains {
                    $0.target == "/newroot" + secret && $0.kind != .tmpfs && $0.kind != .symlink && $0.kind != .mkdir
                })
        }
        // Made read-only last, after every mount point exists.
        #expect(plan.last == MountOperation(.readOnly, target: "/newroot"))
    }

    @Test func etcSecretsAreMasked() throws {
        let etc = try #require(plan.firstIndex { $0.kind == .bind && $0.target == "/newroot/etc" })
        let devNull = try #require(plan.firstIndex { $0.kind == .bind && $0.target == "/newroot/dev/null" })
        for path in ["/etc/shadow", "/etc/ssl/private"] {
            let mask = try #require(plan.firstIndex { $0.kind == .mask && $0.target == "/newroot" + path })
            #expect(mask > etc && mask > devNull)
        }
    }

    @Test func everyBindIsNosuidAndNodevExceptDeviceNodes() {
        for op in plan where op.kind == .bind {
            #expect(op.flags & MountPlan.nosuid != 0, "\(op)")
            if op.target.hasPrefix("/newroot/dev/") { continue }
            #expect(op.flags & MountPlan.nodev != 0, "\(op)")
        }
        let custom = MountPlan.operations(
            rootfs: "/srv/rootfs",
            volumes: [
                VolumeMount(hostPath: "/srv/out", sandboxPath: "/out", readOnly: false)
            ], devptsGroup: nil)
        for op in custom where op.kind == .bind && !op.target.hasPrefix("/newroot/dev/") {
            #expect(op.flags & (MountPlan.nosuid | MountPlan.nodev) == MountPlan.nosuid | MountPlan.nodev, "\(op)")
        }
    }

    @Test func currentDirectoryIsBoundReadOnlyBeforeVolumes() throws {
        let cwd = try #require(plan.firstIndex { $0.kind == .bind && $0.target == "/newroot/work/project" })
        #expect(plan[cwd].source == "/oldroot/work/project" && plan[cwd].readOnly && plan[cwd].createTarget)
        let volume = try #require(plan.firstIndex { $0.target == "/newroot/data" })
        #expect(cwd < volume)
    }

    @Test func startDirectoryRules() {
        let homes = Self.host.homes
        let project = MountPlan.startDirectory(
            current: "/work/project/", homes: homes, volumes: [], workdirGiven: false)
        #expect(project.bind == "/work/project" && project.workdir == "/work/project" && project.notice == nil)
        for refused in ["/", "/home", "/home/ann", "/root"] {
            let start = MountPlan.startDirectory(current: refused, homes: homes, volumes: [], workdirGiven: false)
            #expect(start.bind == nil && start.workdir == nil && start.notice != nil, "\(refused)")
        }
        // The sandbox's own private directories are not covered with the host's: the app starts
        // in its own /tmp (or, above one, in /).
        for (own, workdir) in [("/tmp", "/tmp"), ("/var/tmp", "/var/tmp"), ("/run", "/run"), ("/var", nil)] {
            let start = MountPlan.startDirectory(current: own, homes: homes, volumes: [], workdirGiven: false)
            #expect(start.bind == nil && start.workdir == workdir && start.notice != nil, "\(own)")
        }
        #expect(
            MountPlan.startDirectory(current: "/tmp/build", homes: homes, volumes: [], workdirGiven: false).bind
                == "/tmp/build")
        // A directory the sandbox's user cannot enter is not bound: the app starts in /.
        let closed = MountPlan.startDirectory(
            current: "/work/private", homes: homes, volumes: [], workdirGiven: false, enterable: false)
        #expect(closed.bind == nil && closed.workdir == nil && closed.notice?.contains("closed") == true)
        // Below a home is a project like any other.
        #expect(
            MountPlan.startDirectory(current: "/home/ann/src", homes: homes, volumes: [], workdirGiven: false).bind
                == "/home/ann/src")
        #expect(
            MountPlan.startDirectory(current: "/work/project", homes: homes, volumes: [], workdirGiven: true) == .init()
        )
        let covered = MountPlan.startDirectory(
            current: "/work/project/sub", homes: homes,
            volumes: [
                VolumeMount(hostPath: "/x", sandboxPath: "/work/project", readOnly: false)
            ], workdirGiven: false)
        #expect(covered.bind == nil && covered.workdir == "/work/project/sub" && covered.notice == nil)
    }

    /// `-w` makes its directory, as docker does: after every mount that could hold it, before
    /// the root turns read-only.
    @Test func workdirIsMadeBeforeTheRootTurnsReadOnly() throws {
        let plan = MountPlan.operations(
            rootfs: nil, volumes: [], devptsGroup: nil, host: Self.host, workdir: "/new/dir/")
        let make = try #require(plan.firstIndex { $0.kind == .mkdir && $0.target == "/newroot/new/dir" })
        let readOnly = try #require(plan.firstIndex { $0.kind == .readOnly && $0.target == "/newroot" })
        #expect(make < readOnly && !plan[make].optional)
        #expect(
            !MountPlan.operations(rootfs: nil, volumes: [], devptsGroup: nil, host: Self.host).contains {
                $0.kind == .mkdir && $0.target == "/newroot/new/dir"
            })
    }

    @Test func rootfsIsBoundReadOnlyAndRecursive() throws {
        let root = try #require(MountPlan.operations(rootfs: "/", volumes: [], devptsGroup: nil).first)
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
        #expect(
            plan.contains {
                $0.kind == .devpts && $0.data?.contains("newinstance") == true && $0.data?.contains("gid=5") == true
            })
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
        let last = Array(plan.dropLast().suffix(2))
        #expect(
            last[0]
                == {
                    var op = MountOperation(
                        .bind, source: "/oldroot/srv/in", target: "/newroot/data",
                        flags: MountPlan.nosuid | MountPlan.nodev)
                    op.recursive = true
                    op.readOnly = true
                    op.createTarget = true
                    return op
                }())
        #expect(last[1].source == "/oldroot/srv/out" && last[1].target == "/newroot/tmp/out" && !last[1].readOnly)
        let tmp = try #require(plan.firstIndex { $0.kind == .tmpfs && $0.target == "/newroot/tmp" })
        #expect(tmp < plan.count - 2)
    }

    @Test func rootlessDevptsHasNoGroup() {
        let ops = MountPlan.operations(rootfs: nil, volumes: [], devptsGroup: nil, host: Self.host)
        #expect(ops.contains { $0.kind == .devpts && $0.data?.contains("gid=") == false })
    }

    @Test func theCgroupViewFollowsSysAndEndsReadOnly() throws {
        let views = [
            CgroupView(fileSystem: "cgroup", name: "memory", options: "memory"),
            CgroupView(fileSystem: "cgroup", name: "cpu,cpuacct", options: "cpu,cpuacct")
        ]
        let ops = MountPlan.operations(
            rootfs: nil, volumes: [], cgroupViews: views, devptsGroup: nil, host: Self.host)
        let sysfs = try #require(ops.firstIndex { $0.kind == .sysfs })
        let base = "/newroot/sys/fs/cgroup"
        #expect(ops[sysfs + 1].kind == .tmpfs && ops[sysfs + 1].target == base)
        let cgroups = ops.filter { $0.kind == .cgroup }
        #expect(cgroups.map(\.target) == [base + "/memory", base + "/cpu,cpuacct"])
        #expect(cgroups.map(\.data) == ["memory", "cpu,cpuacct"] && cgroups.allSatisfy { $0.source == "cgroup" })
        let readOnly = try #require(ops.firstIndex { $0.kind == .readOnly && $0.target == base })
        #expect(readOnly > (ops.lastIndex { $0.kind == .cgroup } ?? ops.count))
        let unified = MountPlan.operations(
            rootfs: nil, volumes: [], cgroupViews: [CgroupView(fileSystem: "cgroup2")], devptsGroup: nil,
            host: Self.host)
        #expect(unified.filter { $0.target.hasPrefix(base) }.map(\.kind) == [.cgroup])
        #expect(!plan.contains { $0.target.hasPrefix(base) }, "no view without limits")
    }

    @Test func aWritableRootIsAnOverlayOnTheGivenDirectory() throws {
        let ops = MountPlan.operations(
            rootfs: "/images/app", root: MountPlan.GivenRoot(treeFD: 7, overlayBytes: 1 << 20), volumes: [],
            devptsGroup: nil)
        let root = try #require(ops.first)
        #expect(root.kind == .overlayRoot && root.source == "/oldroot/images/app" && root.target == "/newroot")
        #expect(root.sourceFD == 7 && root.data == "size=1048576,mode=0755")
        for point in ["/dev", "/proc", "/sys"] {
            #expect(
                ops.contains { $0.kind == .mkdir && $0.target == "/newroot" + point }, "\(point) is made in the overlay"
            )
        }
        #expect(!ops.contains { $0.kind == .readOnly && $0.target == "/newroot" })
    }
}
