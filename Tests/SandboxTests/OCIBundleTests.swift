import FoundationEssentials
import Glibc
import Sandbox
import Testing

/// config.json judged field by field: what becomes the sandbox's configuration, what is
/// refused (and named), what is taken as met by the sandbox's own mounts.
@Suite struct OCIBundleTests {
    /// A bundle directory with `config` as its config.json; removed by the caller.
    static func bundle(_ config: String) throws -> String {
        let directory = "/tmp/sandbox-bundle-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(directory, 0o700) == 0)
        let fd = open(directory + "/config.json", O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        _ = config.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
        return directory
    }

    static func remove(_ directory: String) {
        unlink(directory + "/config.json")
        unlink(directory + "/seccomp.json")
        rmdir(directory)
    }

    static func configuration(_ json: String) throws -> SandboxConfiguration {
        let directory = try bundle(json)
        defer { remove(directory) }
        return try OCIBundle.load(directory).sandboxConfiguration(stateDirectory: directory)
    }

    static func refusal(_ json: String) throws -> String {
        do {
            _ = try configuration(json)
            return ""
        } catch let error as SandboxError { return error.description }
    }

    static let process = """
        "process": {"user": {"uid": 1000, "gid": 100, "additionalGids": [5, 27]}, "args": ["sh", "-c", "true"],
          "env": ["PATH=/bin", "A=b=c"], "cwd": "/work", "terminal": false,
          "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}],
          "capabilities": {"bounding": ["CAP_CHOWN"]}, "noNewPrivileges": false}
        """

    static func config(_ extra: String = "") -> String {
        """
        {"ociVersion": "1.0.2", \(process), "root": {"path": "rootfs"}, "hostname": "box1"\(extra.isEmpty ? "" : ", " + extra)}
        """
    }

    @Test func processRootAndHostnameBecomeTheConfiguration() throws {
        let directory = try Self.bundle(Self.config())
        defer { Self.remove(directory) }
        let sandbox = try OCIBundle.load(directory).sandboxConfiguration(stateDirectory: directory)
        #expect(sandbox.command == ["sh", "-c", "true"])
        #expect(sandbox.environment == [.init(name: "PATH", value: "/bin"), .init(name: "A", value: "b=c")])
        #expect(sandbox.workdir == "/work")
        #expect(sandbox.user == UserSpec(uid: 1000, gid: 100))
        #expect(sandbox.supplementaryGroups == [5, 27])
        #expect(sandbox.rlimits.map(\.name) == ["nofile"] && sandbox.rlimits.first?.soft == 512)
        #expect(sandbox.rootfs == directory + "/rootfs")
        #expect(sandbox.rootWritable)
        #expect(sandbox.hostname == "box1")
        #expect(sandbox.network == .user)
        #expect(sandbox.seccomp == .default)
    }

    @Test func mountsBecomeVolumesAndTmpfsAndTheKernelOnesAreTheSandboxsOwn() throws {
        let sandbox = try Self.configuration(
            Self.config(
                """
                "mounts": [
                  {"destination": "/proc", "type": "proc", "source": "proc"},
                  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                  {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
                  {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "ro"]},
                  {"destination": "/etc/hostname", "source": "/run/x/hostname", "options": ["bind"]},
                  {"destination": "/etc/resolv.conf", "type": "bind", "source": "/run/x/resolv.conf"},
                  {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=64m"]}
                ]
                """))
        #expect(
            sandbox.volumes == [
                VolumeMount(hostPath: "/srv/data", sandboxPath: "/data", readOnly: true),
                VolumeMount(hostPath: "/run/x/hostname", sandboxPath: "/etc/hostname", readOnly: false)
            ])
        #expect(sandbox.tmpfsMounts == [TmpfsMount(sandboxPath: "/scratch", options: "size=64m,mode=1777")])
    }

    @Test func whatWouldWeakenIsolationIsRefusedByName() throws {
        let cases: [(String, String)] = [
            ("\"linux\": {\"namespaces\": [{\"type\": \"pid\", \"path\": \"/proc/1/ns/pid\"}]}", "linux.namespaces"),
            ("\"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": 0, \"size\": 1}]}", "uidMappings"),
            (
                "\"linux\": {\"devices\": [{\"type\": \"c\", \"path\": \"/dev/kvm\", \"major\": 10, \"minor\": 232}]}",
                "/dev/kvm"
            ),
            ("\"linux\": {\"sysctl\": {\"kernel.shmmax\": \"1\"}}", "kernel.shmmax"),
            ("\"mounts\": [{\"destination\": \"/x\", \"type\": \"nfs\", \"source\": \"h:/e\"}]", "mount type nfs"),
            (
                "\"mounts\": [{\"destination\": \"/x\", \"type\": \"bind\", \"source\": \"relative\"}]",
                "absolute source"
            ),
            ("\"mounts\": [{\"destination\": \"/a/../b\", \"type\": \"tmpfs\"}]", "'..'"),
            ("\"hooks\": {\"createContainer\": [{\"path\": \"/bin/true\"}]}", "hooks.createContainer"),
            ("\"annotations\": {\"sandbox.bogus\": \"1\"}", "sandbox.bogus"),
            ("\"annotations\": {\"sandbox.net\": \"bridge\"}", "sandbox.net=bridge")
        ]
        for (extra, named) in cases {
            let message = try Self.refusal(Self.config(extra))
            #expect(message.contains(named), "\(extra): \(message)")
        }
        #expect(try Self.refusal("{\"ociVersion\": \"1\", \"root\": {\"path\": \"r\"}}").contains("process.args"))
        #expect(try Self.refusal("{\"ociVersion\": \"1\", \(Self.process)}").contains("root is missing"))
        #expect(try Self.refusal("not json").contains("not an OCI runtime configuration"))
    }

    @Test func aPodsIPCAndUTSNamespacesAreReplacedByTheSandboxsOwn() throws {
        let sandbox = try Self.configuration(
            Self.config(
                "\"linux\": {\"namespaces\": [{\"type\": \"ipc\", \"path\": \"/proc/1/ns/ipc\"}, {\"type\": \"uts\", \"path\": \"/proc/1/ns/uts\"}, {\"type\": \"network\", \"path\": \"/run/netns/pod\"}]}"
            ))
        #expect(sandbox.network == .user)
        let directory = try Self.bundle(
            Self.config("\"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": \"/run/netns/pod\"}]}"))
        defer { Self.remove(directory) }
        #expect(try OCIBundle.load(directory).engineNetworkNamespace == "/run/netns/pod")
    }

    @Test func resourcesBecomeTheSandboxsCgroupLimits() throws {
        let sandbox = try Self.configuration(
            Self.config(
                "\"linux\": {\"resources\": {\"memory\": {\"limit\": 268435456}, \"pids\": {\"limit\": 2048}, \"cpu\": {\"quota\": 150000, \"period\": 100000}, \"devices\": [{\"allow\": false, \"access\": \"rwm\"}]}, \"sysctl\": {\"net.ipv4.ping_group_range\": \"0 0\"}}"
            ))
        #expect(sandbox.resources == ResourceLimits(memoryBytes: 268_435_456, pids: 2048, cpus: 1.5))
    }

    @Test func theSeccompSectionIsTheProfileTheSandboxRunsUnder() throws {
        let directory = try Self.bundle(
            Self.config(
                "\"linux\": {\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 0, \"value\": 18446744073709551615, \"op\": \"SCMP_CMP_MASKED_EQ\"}]}]}}"
            ))
        defer { Self.remove(directory) }
        let sandbox = try OCIBundle.load(directory).sandboxConfiguration(stateDirectory: directory)
        #expect(sandbox.seccomp == .profile(directory + "/seccomp.json"))
        // The 64-bit value survives the round trip (a Double would not hold it).
        let written = String(decoding: try #require(readAll(directory + "/seccomp.json")), as: UTF8.self)
        #expect(written.contains("18446744073709551615"))
        _ = try OCISeccompProfile.load(path: directory + "/seccomp.json")
    }

    @Test func annotationsSetTheGatewaysPolicy() throws {
        let sandbox = try Self.configuration(
            Self.config(
                "\"annotations\": {\"sandbox.deny\": \"all\", \"sandbox.allow\": \"192.0.2.0/24:443\", \"sandbox.dns\": \"192.0.2.53\"}"
            ))
        let options = try #require(sandbox.userNet)
        #expect(options.network.dnsUpstreams?.map(\.description) == ["192.0.2.53:53"])
        // Allow rules first, then deny: the annotation pair means "only this".
        #expect(options.policy.rules.map(\.verdict) == [.allow, .deny])
        #expect(options.policy.rules.first?.description.contains("192.0.2.0/24") == true)
        let none = try Self.configuration(Self.config("\"annotations\": {\"sandbox.net\": \"none\"}"))
        #expect(none.network == .none)
        #expect(
            try Self.refusal(Self.config("\"annotations\": {\"sandbox.net\": \"none\", \"sandbox.deny\": \"all\"}"))
                .contains("needs sandbox.net=user"))
        // A member's name means nothing to a container (on no network of ours).
        #expect(
            try Self.refusal(Self.config("\"annotations\": {\"sandbox.allow\": \"db:5432\"}"))
                .contains("a member's name means something on a named network only"))
        // An annotation never takes the app out of its netns, nor names a host path to write.
        #expect(
            try Self.refusal(Self.config("\"annotations\": {\"sandbox.net\": \"host\"}")).contains("use user or none"))
        for path in ["/etc/shadow", "../x", "a/b", ".."] {
            let message = try Self.refusal(Self.config("\"annotations\": {\"sandbox.pcap\": \"\(path)\"}"))
            #expect(message.contains("give a file name"), "\(path): \(message)")
        }
        let directory = try Self.bundle(Self.config("\"annotations\": {\"sandbox.log-connections\": \"conn.jsonl\"}"))
        defer { Self.remove(directory) }
        let logged = try OCIBundle.load(directory).sandboxConfiguration(stateDirectory: "/run/state/c1")
        #expect(logged.userNet?.connectionLogPath == "/run/state/c1/annotation-conn.jsonl")
    }

    @Test func aProfileThatAllowsChmodStillRefusesSetIDBits() throws {
        let policy = try OCISeccompProfile.parse(
            Array(
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"chmod\", \"fchmodat\", \"openat\", \"read\"], \"action\": \"SCMP_ACT_ALLOW\"}]}"
                    .utf8))
        /// What the kernel does: an errno rule that matches wins over an allow rule.
        func verdict(_ name: String, _ arguments: [UInt64]) -> SeccompAction? {
            let matching = policy.rules(for: name).filter { $0.matches(arguments) }
            return matching.first { $0.action != .allow }?.action ?? matching.first?.action
        }
        #expect(verdict("chmod", [0, 0o755]) == .allow)
        #expect(verdict("chmod", [0, 0o4755]) == .errno(EPERM))
        #expect(verdict("fchmodat", [0, 0, 0o2755]) == .errno(EPERM))
        #expect(verdict("openat", [0, 0, UInt64(O_CREAT), 0o4755]) == .errno(EPERM))
        #expect(verdict("openat", [0, 0, 0, 0]) == .allow)
        // A LOG default lets calls run: the mode rules apply to what it leaves unnamed, and the
        // calls whose modes no filter sees (openat2, io_uring) become ENOSYS.
        let logging = try OCISeccompProfile.parse(
            Array(
                "{\"defaultAction\": \"SCMP_ACT_LOG\", \"syscalls\": [{\"names\": [\"openat2\"], \"action\": \"SCMP_ACT_ALLOW\"}]}"
                    .utf8))
        #expect(logging.rules(for: "openat2") == [SeccompRule("openat2", .errno(ENOSYS))])
        #expect(logging.rules(for: "io_uring_setup") == [SeccompRule("io_uring_setup", .errno(ENOSYS))])
        #expect(logging.rules(for: "chmod").contains { $0.action == .errno(EPERM) })
        // What the profile does not allow stays under its default: no rule allows mknod.
        #expect(policy.rules(for: "mknod").allSatisfy { $0.action != .allow })
        #expect(policy.rules(for: "read").count == 1)
    }

    @Test func tmpfsOptionsAreSizesAndModesOnly() throws {
        #expect(
            try TmpfsMount.parse("/run/x:size=1m,mode=700")
                == TmpfsMount(sandboxPath: "/run/x", options: "size=1m,mode=700"))
        #expect(try TmpfsMount.parse("/cache") == TmpfsMount(sandboxPath: "/cache", options: "mode=1777"))
        for bad in ["relative", "/", "/a/../b", "/x:huge", "/x:mpol=bind", "/x:size=1m,exec"] {
            #expect(throws: SandboxError.self, "\(bad)") { try TmpfsMount.parse(bad) }
        }
    }

    @Test func theDefaultSpecReadsBackAsAConfiguration() throws {
        let directory = try Self.bundle("")
        defer { Self.remove(directory) }
        unlink(directory + "/config.json")
        try OCIDefaults.writeSpec(to: directory + "/config.json")
        let sandbox = try OCIBundle.load(directory).sandboxConfiguration(stateDirectory: directory)
        #expect(sandbox.command == ["sh"] && sandbox.tty && !sandbox.rootWritable)
    }

    func readAll(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while case let count = fread(&buffer, 1, buffer.count, file), count > 0 { bytes += buffer.prefix(count) }
        return bytes
    }
}
