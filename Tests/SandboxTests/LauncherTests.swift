import Glibc
import Sandbox
import Synchronization
import TestPrivileges
import Testing

/// Real sandboxes started from this (multi-threaded) test process: the child path must work
/// here exactly as from the CLI. Serialized: the launcher owns the process's signal forwarding
/// while a sandbox runs.
@Suite(.serialized, .tags(.root), .needsRoot) struct LauncherTests {
    func configuration(_ command: [String]) -> SandboxConfiguration {
        var config = SandboxConfiguration(command: command)
        config.network = .none
        return config
    }

    /// --net=user from a test: the gateway's process re-executes a `sandbox` binary, and this
    /// test process is not one, so it runs the one built beside it.
    func userNetConfiguration(_ command: [String]) -> SandboxConfiguration {
        var config = SandboxConfiguration(command: command)
        config.network = .user
        var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &path, path.count - 1)
        let me = String(decoding: path.prefix(max(0, length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var directory = me
        while let last = directory.last, last != "/" { directory.removeLast() }
        // swift test runs .build/<triple>/<config>/<Package>PackageTests.xctest; `sandbox` is there.
        config.gatewayLaunch.executable = directory + "sandbox"
        return config
    }

    @Test func exitStatusPassesThrough() throws {
        #expect(try Launcher(configuration: configuration(["/bin/sh", "-c", "exit 7"])).run() == 7)
        #expect(try Launcher(configuration: configuration(["true"])).run() == 0)
    }

    @Test func signalBecomes128PlusN() throws {
        #expect(try Launcher(configuration: configuration(["/bin/sh", "-c", "kill -KILL $$"])).run() == 128 + SIGKILL)
    }

    /// --net=user: eth0 carries the app's address, the gateway answers on it, and the files
    /// point at its DNS forwarder. The gateway runs on the veth's far end while the program
    /// runs, and `prepare` sees it.
    @Test func userNetworkWiresEth0ToTheGateway() throws {
        let config = userNetConfiguration([
            "/bin/sh", "-c",
            """
            ip -4 -o addr show dev eth0 | grep -q ' 10.0.2.100/24 ' || exit 11
            ip route show default | grep -q 'via 10.0.2.2 dev eth0' || exit 12
            grep -qx 'nameserver 10.0.2.3' /etc/resolv.conf || exit 13
            grep -q '^10.0.2.100 sandbox' /etc/hosts || exit 14
            [ "$(cat /sys/class/net/eth0/mtu)" = 65520 ] || exit 15
            """
        ])
        let sawGateway = Mutex(false)
        let status = try Launcher(configuration: config) { child throws(SandboxError) in
            sawGateway.withLock { $0 = child.gateway?.counters() != nil }
        }.run()
        #expect(status == 0)
        #expect(sawGateway.withLock { $0 })
    }

    /// The gateway's event loop (epoll, timerfd, eventfd) and sockets are released when a run
    /// ends. Other suites in this process open and close descriptors at the same time, so the
    /// check counts epoll instances over many runs: a leak adds one per run, their noise a few.
    @Test func userNetworkRunsLeakNoEventLoops() throws {
        func epollInstances() -> Int {
            guard let directory = opendir("/proc/self/fd") else { return -1 }
            defer { closedir(directory) }
            var count = 0
            var target = [CChar](repeating: 0, count: 64)
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) {
                    String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                let length = readlink("/proc/self/fd/" + name, &target, target.count - 1)
                if length > 0
                    && String(decoding: target.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                        == "anon_inode:[eventpoll]"
                {
                    count += 1
                }
            }
            return count
        }
        let config = userNetConfiguration(["true"])
        let runs = 24
        let before = epollInstances()
        for _ in 0..<runs { #expect(try Launcher(configuration: config).run() == 0) }
        #expect(epollInstances() - before < runs / 2)
    }

    @Test func missingProgramIsExecFailed() {
        #expect(throws: SandboxError.execFailed(path: "no-such-program-here", errno: ENOENT)) {
            try Launcher(configuration: configuration(["no-such-program-here"])).run()
        }
    }

    /// A missing working directory is made where the sandbox's root is its own (docker's -w);
    /// under a host directory bound read-only it is a setup failure naming the path.
    @Test func missingWorkdirIsMadeOrASetupFailure() throws {
        var config = configuration(["true"])
        config.workdir = "/no/such/dir"
        #expect(try Launcher(configuration: config).run() == 0)
        config.workdir = "/usr/no/such/dir"
        #expect(throws: SandboxError.setupFailed(step: "mkdir", path: "/usr/no/such/dir", errno: EROFS)) {
            try Launcher(configuration: config).run()
        }
    }

    @Test func prepareRunsWithTheNamespacesBeforeTheProgram() throws {
        let seen = Mutex<(pid: pid_t, ownNet: String, childNet: String)?>(nil)
        let launcher = Launcher(configuration: configuration(["/bin/sh", "-c", "test -e /tmp/never-inside || exit 9"]))
        { child in
            // The program has not started: nothing but init exists in the pid namespace yet.
            var buffer = [CChar](repeating: 0, count: 256)
            let ownLength = readlink("/proc/self/ns/net", &buffer, 255)
            let own =
                ownLength > 0
                ? String(decoding: buffer[0..<ownLength].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            let childLength = readlink(child.namespacePath("net"), &buffer, 255)
            let theirs =
                childLength > 0
                ? String(decoding: buffer[0..<childLength].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            seen.withLock { $0 = (child.pid, own, theirs) }
        }
        #expect(try launcher.run() == 9)
        let result = try #require(seen.withLock { $0 })
        #expect(result.pid > 0)
        #expect(result.ownNet.hasPrefix("net:["))
        #expect(result.childNet.hasPrefix("net:["))
        #expect(result.ownNet != result.childNet)
    }

    @Test func netlinkSocketComesFromTheSandboxNetns() throws {
        let seen = Mutex<(domain: Int32, sameNetns: Bool)?>(nil)
        let launcher = Launcher(configuration: configuration(["true"]), wantsNetlinkSocket: true) { child in
            guard let socket = child.netlinkSocket else { return }
            var domain: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(socket, SOL_SOCKET, SO_DOMAIN, &domain, &length)
            // SIOCGSKNS: the socket's network namespace, compared by inode with the child's.
            let netnsFD = ioctl(socket, 0x894C)
            defer { if netnsFD >= 0 { close(netnsFD) } }
            var fromSocket = stat(), fromProc = stat()
            let same =
                netnsFD >= 0 && fstat(netnsFD, &fromSocket) == 0 && stat(child.namespacePath("net"), &fromProc) == 0
                && fromSocket.st_ino == fromProc.st_ino
            seen.withLock { $0 = (domain, same) }
        }
        #expect(try launcher.run() == 0)
        let result = try #require(seen.withLock { $0 })
        #expect(result.domain == AF_NETLINK)
        #expect(result.sameNetns)
    }
}
