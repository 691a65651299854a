import Glibc
import Sandbox
import Testing
import UserNet
import Wire

@Suite struct ArgumentParsingTests {
    @Test func volumeReadWriteAndReadOnly() throws {
        #expect(
            try VolumeMount.parse("/srv/data:/data")
                == VolumeMount(hostPath: "/srv/data", sandboxPath: "/data", readOnly: false))
        #expect(
            try VolumeMount.parse("/srv//data/:/data/./x:ro")
                == VolumeMount(hostPath: "/srv/data", sandboxPath: "/data/x", readOnly: true))
        #expect(try VolumeMount.parse("/a:/b:rw").readOnly == false)
    }

    @Test(arguments: [
        "relative:/x", "/x:relative", "/x", "/x:/y:rx", "/x:/y:ro:z", "/x:/", "/x/../etc:/y", "/x:/y/../../z", ":/y"
    ])
    func volumeRejects(_ text: String) {
        #expect(throws: SandboxError.self) { try VolumeMount.parse(text) }
    }

    @Test func userSpec() throws {
        #expect(try UserSpec.parse("1000") == UserSpec(uid: 1000, gid: 1000))
        #expect(try UserSpec.parse("1000:50") == UserSpec(uid: 1000, gid: 50))
        // A name needs the root's account files; without them it is refused.
        for bad in ["", "root", "1000:", ":5", "1:2:3", "-1", "4294967295", "99999999999"] {
            #expect(throws: SandboxError.self) { try UserSpec.parse(bad) }
        }
    }

    /// Names come from the sandbox root's /etc/passwd and /etc/group (docker's rule for an
    /// image): a user brings its primary group, a group may be named or numbered.
    @Test func userSpecNamesFromTheRootsAccounts() throws {
        let files = [
            "/etc/passwd":
                "# comment\nroot:x:0:0:root:/root:/bin/sh\nann:x:1000:100:Ann:/home/ann:/bin/sh\nbad:x:y:1::/:\n",
            "/etc/group": "root:x:0:\nusers:x:100:\nstaff:x:50:ann\n"
        ]
        let accounts = { (path: String) in files[path] }
        #expect(try UserSpec.parse("ann", accounts: accounts) == UserSpec(uid: 1000, gid: 100))
        #expect(try UserSpec.parse("ann:staff", accounts: accounts) == UserSpec(uid: 1000, gid: 50))
        #expect(try UserSpec.parse("ann:7", accounts: accounts) == UserSpec(uid: 1000, gid: 7))
        #expect(try UserSpec.parse("1000:staff", accounts: accounts) == UserSpec(uid: 1000, gid: 50))
        #expect(throws: SandboxError.invalidArgument("bad --user bob: no bob in the sandbox root's /etc/passwd")) {
            try UserSpec.parse("bob", accounts: accounts)
        }
        #expect(throws: SandboxError.self) { try UserSpec.parse("bad", accounts: accounts) }
        #expect(throws: SandboxError.self) { try UserSpec.parse("ann:nogroup", accounts: accounts) }
    }

    @Test func memorySizes() throws {
        #expect(try ResourceLimits.parseMemory("512m") == 512 << 20)
        #expect(try ResourceLimits.parseMemory("2G") == 2 << 30)
        #expect(try ResourceLimits.parseMemory("8192k") == 8 << 20)
        #expect(try ResourceLimits.parseMemory("64mb") == 64 << 20)
        #expect(try ResourceLimits.parseMemory("64MiB") == 64 << 20)
        #expect(try ResourceLimits.parseMemory("16777216") == 16 << 20)
        for bad in ["", "m", "12x", "-5m", "0", "1k", "99999999999999999999", "16777216t", "1.5g"] {
            #expect(throws: SandboxError.self) { try ResourceLimits.parseMemory(bad) }
        }
    }

    @Test func pidsAndCPUs() throws {
        #expect(try ResourceLimits.parsePids("64") == 64)
        #expect(try ResourceLimits.parseCPUs("1.5") == 1.5)
        for bad in ["0", "-1", "x", "99999999"] {
            #expect(throws: SandboxError.self) { try ResourceLimits.parsePids(bad) }
        }
        for bad in ["0", "nan", "inf", "-2", "abc", "2000"] {
            #expect(throws: SandboxError.self) { try ResourceLimits.parseCPUs(bad) }
        }
    }

    @Test func ulimits() throws {
        #expect(
            try ResourceLimit.parse("nofile=1024:4096")
                == ResourceLimit(resource: Int32(RLIMIT_NOFILE.rawValue), name: "nofile", soft: 1024, hard: 4096))
        #expect(
            try ResourceLimit.parse("core=0")
                == ResourceLimit(resource: Int32(RLIMIT_CORE.rawValue), name: "core", soft: 0, hard: 0))
        #expect(try ResourceLimit.parse("stack=unlimited").hard == UInt64(bitPattern: -1))
        #expect(try ResourceLimit.parse("nproc=10:20").resource == Int32(__RLIMIT_NPROC.rawValue))
        for bad in ["nofile", "bogus=1", "nofile=2:1", "nofile=a", "nofile=1:2:3", "=5"] {
            #expect(throws: SandboxError.self) { try ResourceLimit.parse(bad) }
        }
    }

    @Test func environment() throws {
        let lookup: (String) -> String? = { $0 == "FROM_HOST" ? "yes" : nil }
        #expect(try EnvironmentVariable.parse("A=b=c", lookup: lookup) == EnvironmentVariable(name: "A", value: "b=c"))
        #expect(
            try EnvironmentVariable.parse("EMPTY=", lookup: lookup) == EnvironmentVariable(name: "EMPTY", value: ""))
        #expect(
            try EnvironmentVariable.parse("FROM_HOST", lookup: lookup)
                == EnvironmentVariable(name: "FROM_HOST", value: "yes"))
        #expect(try EnvironmentVariable.parse("UNSET", lookup: lookup) == nil)
        #expect(throws: SandboxError.self) { try EnvironmentVariable.parse("=x", lookup: lookup) }
        var list = EnvironmentVariable.defaults
        list.set(EnvironmentVariable(name: "PATH", value: "/bin"))
        #expect(list.value(of: "PATH") == "/bin")
        #expect(list.count == EnvironmentVariable.defaults.count)
    }

    @Test func configurationValidation() throws {
        var config = SandboxConfiguration(command: ["/bin/true"])
        config.network = .none
        try config.validate()

        config.network = .user
        try config.validate()
        #expect(try config.userNetOptions().network.appV4 == IPv4Address(10, 0, 2, 100))

        config.network = .host
        config.userNetFlags = ["--publish"]
        #expect(
            throws: SandboxError.invalidArgument(
                "--publish configures the user-mode network and needs --net=user (got --net=host)")
        ) {
            try config.validate()
        }
        config.userNetFlags = []
        config.workdir = "relative"
        #expect(throws: SandboxError.self) { try config.validate() }
        config.workdir = "/"
        config.hostname = "-bad"
        #expect(throws: SandboxError.self) { try config.validate() }
        config.hostname = "ok-name.example"
        try config.validate()
        config.command = []
        #expect(throws: SandboxError.self) { try config.validate() }
    }

    @Test func userNetFlagsAreRefusedOutsideUserMode() {
        var config = SandboxConfiguration(command: ["true"])
        config.network = .none
        config.userNetFlags = ["--mtu"]
        #expect(throws: SandboxError.self) { try config.validate() }
        config.network = .user
        #expect(throws: Never.self) { try config.validate() }
    }

    @Test func exitCodesFollowDocker() {
        #expect(SandboxError.execFailed(path: "x", errno: ENOENT).exitCode == 127)
        #expect(SandboxError.execFailed(path: "x", errno: EACCES).exitCode == 126)
        #expect(SandboxError.setupFailed(step: "mount", path: "/x", errno: EPERM).exitCode == 125)
        #expect(SandboxError.invalidArgument("x").exitCode == 125)
    }
}

@Suite struct ResolverFileTests {
    let host =
        "nameserver 10.0.0.1\nsearch old.example\noptions rotate\nsearch corp.example lab.example\noptions ndots:3 edns0\n"

    @Test func theHostsLastSearchAndOptionsLinesAreCarriedOver() throws {
        let text = ResolverFile().text(network: try NetworkConfiguration(), host: host)
        #expect(
            text == "nameserver 10.0.2.3\nnameserver fd00::3\nsearch corp.example lab.example\noptions ndots:3 edns0\n")
        #expect(
            ResolverFile().text(network: try NetworkConfiguration(), host: nil)
                == "nameserver 10.0.2.3\nnameserver fd00::3\n")
    }

    @Test func flagsReplaceTheHostsAndAreValidated() throws {
        let file = ResolverFile(
            search: try ResolverFile.parseSearch(["a.example"]), options: try ResolverFile.parseOptions(["ndots:1"]))
        #expect(
            file.text(network: try NetworkConfiguration(), host: host).hasSuffix("search a.example\noptions ndots:1\n"))
        #expect(try ResolverFile.parseSearch(["."]) == [])
        #expect(try ResolverFile.parseSearch([]) == nil)
        #expect(throws: SandboxError.self) { try ResolverFile.parseSearch(["a b"]) }
        #expect(throws: SandboxError.self) { try ResolverFile.parseOptions(["nd ots"]) }
    }
}
