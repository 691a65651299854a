import Glibc
import Sandbox
import Testing

@Suite struct ArgumentParsingTests {
    @Test func volumeReadWriteAndReadOnly() throws {
        #expect(try VolumeMount.parse("/srv/data:/data") == VolumeMount(hostPath: "/srv/data", sandboxPath: "/data", readOnly: false))
        #expect(try VolumeMount.parse("/srv//data/:/data/./x:ro") == VolumeMount(hostPath: "/srv/data", sandboxPath: "/data/x", readOnly: true))
        #expect(try VolumeMount.parse("/a:/b:rw").readOnly == false)
    }

    @Test(arguments: ["relative:/x", "/x:relative", "/x", "/x:/y:rx", "/x:/y:ro:z", "/x:/", "/x/../etc:/y", "/x:/y/../../z", ":/y"])
    func volumeRejects(_ text: String) {
        #expect(throws: SandboxError.self) { try VolumeMount.parse(text) }
    }

    @Test func userSpec() throws {
        #expect(try UserSpec.parse("1000") == UserSpec(uid: 1000, gid: 1000))
        #expect(try UserSpec.parse("1000:50") == UserSpec(uid: 1000, gid: 50))
        for bad in ["", "root", "1000:", ":5", "1:2:3", "-1", "4294967295", "99999999999"] {
            #expect(throws: SandboxError.self) { try UserSpec.parse(bad) }
        }
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
        for bad in ["0", "-1", "x", "99999999"] { #expect(throws: SandboxError.self) { try ResourceLimits.parsePids(bad) } }
        for bad in ["0", "nan", "inf", "-2", "abc", "2000"] { #expect(throws: SandboxError.self) { try ResourceLimits.parseCPUs(bad) } }
    }

    @Test func ulimits() throws {
        #expect(try ResourceLimit.parse("nofile=1024:4096") == ResourceLimit(resource: Int32(RLIMIT_NOFILE.rawValue), name: "nofile", soft: 1024, hard: 4096))
        #expect(try ResourceLimit.parse("core=0") == ResourceLimit(resource: Int32(RLIMIT_CORE.rawValue), name: "core", soft: 0, hard: 0))
        #expect(try ResourceLimit.parse("stack=unlimited").hard == UInt64(bitPattern: -1))
        #expect(try ResourceLimit.parse("nproc=10:20").resource == Int32(__RLIMIT_NPROC.rawValue))
        for bad in ["nofile", "bogus=1", "nofile=2:1", "nofile=a", "nofile=1:2:3", "=5"] {
            #expect(throws: SandboxError.self) { try ResourceLimit.parse(bad) }
        }
    }

    @Test func environment() throws {
        let lookup: (String) -> String? = { $0 == "FROM_HOST" ? "yes" : nil }
        #expect(try EnvironmentVariable.parse("A=b=c", lookup: lookup) == EnvironmentVariable(name: "A", value: "b=c"))
        #expect(try EnvironmentVariable.parse("EMPTY=", lookup: lookup) == EnvironmentVariable(name: "EMPTY", value: ""))
        #expect(try EnvironmentVariable.parse("FROM_HOST", lookup: lookup) == EnvironmentVariable(name: "FROM_HOST", value: "yes"))
        #expect(try EnvironmentVariable.parse("UNSET", lookup: lookup) == nil)
        #expect(throws: SandboxError.self) { try EnvironmentVariable.parse("=x", lookup: lookup) }
        var list = EnvironmentVariable.defaults
        list.set(EnvironmentVariable(name: "PATH", value: "/bin"))
        #expect(list.value(of: "PATH") == "/bin")
        #expect(list.count == EnvironmentVariable.defaults.count)
    }

    @Test func portMappings() throws {
        #expect(try PortMapping.parse("8080:80") == PortMapping(hostAddress: nil, hostPort: 8080, sandboxPort: 80, transport: .tcp))
        #expect(try PortMapping.parse("127.0.0.1:53:53/udp") == PortMapping(hostAddress: "127.0.0.1", hostPort: 53, sandboxPort: 53, transport: .udp))
        #expect(try PortMapping.parse("[::1]:8443:443") == PortMapping(hostAddress: "::1", hostPort: 8443, sandboxPort: 443, transport: .tcp))
        for bad in ["80", "0:80", "80:70000", "a:b", "1.2.3:80:80", "80:80/sctp", "[::1:80:80", "1:2:3:4"] {
            #expect(throws: SandboxError.self) { try PortMapping.parse(bad) }
        }
    }

    @Test func egressRules() throws {
        #expect(try EgressRule.parse("192.0.2.0/24:443", flag: "--allow") == EgressRule(address: "192.0.2.0", prefixLength: 24, port: 443))
        #expect(try EgressRule.parse("198.51.100.7", flag: "--allow") == EgressRule(address: "198.51.100.7", prefixLength: 32, port: nil))
        #expect(try EgressRule.parse("[2001:db8::]/32:80", flag: "--deny") == EgressRule(address: "2001:db8::", prefixLength: 32, port: 80))
        #expect(try EgressRule.parse("[2001:db8::1]", flag: "--deny") == EgressRule(address: "2001:db8::1", prefixLength: 128, port: nil))
        for bad in ["10.0.0.0/33", "2001:db8::/32", "example.com", "10.0.0.1:0", "10.0.0.1:x", "[::1]x"] {
            #expect(throws: SandboxError.self) { try EgressRule.parse(bad, flag: "--allow") }
        }
    }

    @Test func networkScalars() throws {
        #expect(try IPv4Network.parse("10.0.2.0/24") == IPv4Network(address: "10.0.2.0", prefixLength: 24))
        for bad in ["10.0.2.0", "10.0.2.0/30", "10.0.2.0/4", "::/64", "10.0.2/24"] {
            #expect(throws: SandboxError.self) { try IPv4Network.parse(bad) }
        }
        #expect(try UserNetOptions.parseMTU("65520") == 65520)
        #expect(throws: SandboxError.self) { try UserNetOptions.parseMTU("1279") }
        #expect(throws: SandboxError.self) { try UserNetOptions.parseMTU("65521") }
        #expect(try UserNetOptions.parseDNS("2001:db8::53") == "2001:db8::53")
        #expect(throws: SandboxError.self) { try UserNetOptions.parseDNS("dns.example") }
        #expect(try UserNetOptions.parseDomain("*.Example.com") == "*.example.com")
        #expect(throws: SandboxError.self) { try UserNetOptions.parseDomain("bad_domain!") }
    }

    @Test func configurationValidation() throws {
        var config = SandboxConfiguration(command: ["/bin/true"])
        config.network = .none
        try config.validate()

        config.network = .user
        #expect(throws: SandboxError.self) { try config.validate() }
        do { try config.validate() } catch {
            guard case .notAvailable = error else { Issue.record("expected notAvailable, got \(error)"); return }
            #expect(error.exitCode == 125)
        }

        config.network = .host
        config.userNet.publish = [PortMapping(hostAddress: nil, hostPort: 8080, sandboxPort: 80, transport: .tcp)]
        #expect(throws: SandboxError.invalidArgument("--publish configures the user-mode network and needs --net=user (got --net=host)")) {
            try config.validate()
        }
        config.userNet = UserNetOptions()
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

    @Test func everyUserNetFlagIsRefusedOutsideUserMode() {
        var options = UserNetOptions()
        options.publish = [PortMapping(hostAddress: nil, hostPort: 1, sandboxPort: 1, transport: .tcp)]
        options.allowHostLoopback = true
        options.allow = [EgressRule(address: "10.0.0.1", prefixLength: 32, port: nil)]
        options.deny = options.allow
        options.allowDomains = ["example.com"]
        options.dnsServers = ["192.0.2.53"]
        options.cidr = IPv4Network(address: "10.0.3.0", prefixLength: 24)
        options.mtu = 1500
        options.pcapPath = "/tmp/x.pcap"
        options.logConnections = true
        options.dispatch = .recvmmsg
        #expect(options.flagsInUse.count == 11)
        var config = SandboxConfiguration(command: ["true"])
        config.network = .none
        config.userNet = options
        #expect(throws: SandboxError.self) { try config.validate() }
    }

    @Test func exitCodesFollowDocker() {
        #expect(SandboxError.execFailed(path: "x", errno: ENOENT).exitCode == 127)
        #expect(SandboxError.execFailed(path: "x", errno: EACCES).exitCode == 126)
        #expect(SandboxError.setupFailed(step: "mount", path: "/x", errno: EPERM).exitCode == 125)
        #expect(SandboxError.invalidArgument("x").exitCode == 125)
    }
}
