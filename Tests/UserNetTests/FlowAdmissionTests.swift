import Testing
import UserNet
import Wire

@Suite struct FlowAdmissionTests {
    let table = LearnedAddressTable()

    @Test func admissionCombinesMappingPolicyAndReplies() throws {
        var config = try NetworkConfiguration()
        let policy = try EgressPolicy(arguments: [("--deny", "192.0.2.0/24:22"), ("--deny", "[2001:db8::/32]:25")])
        let ssh = SocketAddress(.v4(IPv4Address(192, 0, 2, 7)), port: 22)
        #expect(
            config.admit(ssh, transport: .tcp, policy: policy, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "policy rule 1: --deny 192.0.2.0/24:22"))
        let smtp6 = SocketAddress(try #require(IPAddress("2001:db8::1")), port: 25)
        #expect(
            config.admit(smtp6, transport: .udp, policy: policy, learned: table, now: 0)
                == .refuse(
                    reply: .icmpUnreachable(.administrativelyProhibited),
                    reason: "policy rule 2: --deny [2001:db8::/32]:25"))
        let web = SocketAddress(.v4(IPv4Address(192, 0, 2, 7)), port: 443)
        #expect(
            config.admit(web, transport: .tcp, policy: policy, learned: table, now: 0)
                == .forward(web, PolicyDecision(verdict: .allow, ruleIndex: nil)))
        #expect(
            config.admit(
                SocketAddress(.v4(config.dnsV4), port: 53), transport: .udp, policy: policy, learned: table, now: 0)
                == .dnsForwarder)
        let gateway = SocketAddress(.v4(config.gatewayV4), port: 8080)
        #expect(
            config.admit(gateway, transport: .tcp, policy: policy, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "host-loopback-disabled"))
        config.allowHostLoopback = true
        // The policy sees the mapped host address, so loopback can still be fenced by rules.
        let fenced = try EgressPolicy(arguments: [("--deny", "127.0.0.0/8:8080")])
        #expect(config.admit(gateway, transport: .tcp, policy: fenced, learned: table, now: 0).verdict == .deny)
        #expect(
            config.admit(gateway, transport: .tcp, policy: policy, learned: table, now: 0)
                == .forward(
                    SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 8080),
                    PolicyDecision(verdict: .allow, ruleIndex: nil)))
    }

    @Test func ipv4InIPv6DestinationsAreJudgedAsTheirIPv4Address() throws {
        var config = try NetworkConfiguration()
        let open = EgressPolicy()
        // Mapped: reached (and protected) as IPv4, the host socket is IPv4.
        #expect(
            config.admit(try dest("::ffff:127.0.0.1", 8001), transport: .tcp, policy: open, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "host-loopback-disabled"))
        #expect(
            config.admit(try dest("::ffff:10.0.2.2", 80), transport: .tcp, policy: open, learned: table, now: 0).verdict
                == .deny)
        #expect(
            config.admit(try dest("::ffff:169.254.169.254", 80), transport: .tcp, policy: open, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "metadata-service"))
        #expect(
            config.admit(try dest("::ffff:192.0.2.5", 443), transport: .tcp, policy: open, learned: table, now: 0)
                == .forward(try dest("192.0.2.5", 443), PolicyDecision(verdict: .allow, ruleIndex: nil)))
        // Compatible and local-use NAT64: refused outright.
        #expect(
            config.admit(try dest("::127.0.0.1", 80), transport: .tcp, policy: open, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "embedded-ipv4"))
        #expect(
            config.admit(try dest("64:ff9b:1::7f00:1", 80), transport: .tcp, policy: open, learned: table, now: 0)
                .verdict == .deny)
        // NAT64: protected as the IPv4 address it carries, judged by rules about it, reached as IPv6.
        #expect(
            config.admit(try dest("64:ff9b::7f00:1", 80), transport: .tcp, policy: open, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "host-loopback-disabled"))
        let v4Rules = try EgressPolicy(arguments: [("--allow", "192.0.2.0/24:443"), ("--deny", "all")])
        #expect(
            config.admit(try dest("64:ff9b::c000:205", 443), transport: .tcp, policy: v4Rules, learned: table, now: 0)
                == .forward(try dest("64:ff9b::c000:205", 443), PolicyDecision(verdict: .allow, ruleIndex: 0)))
        let denyV4 = try EgressPolicy(arguments: [("--deny", "192.0.2.0/24")])
        #expect(
            config.admit(try dest("64:ff9b::c000:205", 443), transport: .tcp, policy: denyV4, learned: table, now: 0)
                .verdict == .deny)
        // With the opt-in, a mapped loopback address reaches host loopback over IPv4.
        config.allowHostLoopback = true
        #expect(
            config.admit(try dest("::ffff:127.0.0.1", 8001), transport: .tcp, policy: open, learned: table, now: 0)
                == .forward(try dest("127.0.0.1", 8001), PolicyDecision(verdict: .allow, ruleIndex: nil)))
        #expect(
            config.admit(try dest("64:ff9b::7f00:1", 80), transport: .tcp, policy: open, learned: table, now: 0)
                == .refuse(reply: .tcpReset, reason: "embedded-ipv4"), "a NAT64 never reaches our loopback")
    }

    @Test func hostAddressesAndMetadataOpenOnlyToTheirFlagOrAnExplicitAllow() throws {
        var config = try NetworkConfiguration()
        config.hostAddresses = [try #require(IPAddress("198.51.100.1")), try #require(IPAddress("2001:db8:1::1"))]
        let open = EgressPolicy()
        for text in ["198.51.100.1", "2001:db8:1::1", "::ffff:198.51.100.1"] {
            #expect(
                config.admit(try dest(text, 22), transport: .tcp, policy: open, learned: table, now: 0)
                    == .refuse(reply: .tcpReset, reason: "host-address"), "\(text)")
        }
        #expect(
            config.admit(
                try dest("198.51.100.1", 22), transport: .tcp,
                policy: try EgressPolicy(arguments: [("--allow", "all")]),
                learned: table, now: 0
            ).verdict == .deny, "`all` is not explicit")
        let explicit = try EgressPolicy(arguments: [
            ("--allow", "198.51.100.1/32:22"), ("--allow", "169.254.169.254/32:80")
        ])
        #expect(
            config.admit(try dest("198.51.100.1", 22), transport: .tcp, policy: explicit, learned: table, now: 0)
                == .forward(try dest("198.51.100.1", 22), PolicyDecision(verdict: .allow, ruleIndex: 0)))
        #expect(
            config.admit(try dest("198.51.100.1", 23), transport: .tcp, policy: explicit, learned: table, now: 0)
                .verdict == .deny)
        #expect(
            config.admit(try dest("169.254.169.254", 80), transport: .tcp, policy: explicit, learned: table, now: 0)
                == .forward(try dest("169.254.169.254", 80), PolicyDecision(verdict: .allow, ruleIndex: 1)))
        #expect(
            config.admit(
                try dest("::ffff:169.254.169.254", 80), transport: .tcp, policy: explicit, learned: table, now: 0)
                == .forward(try dest("169.254.169.254", 80), PolicyDecision(verdict: .allow, ruleIndex: 1)))
        config.allowHostLoopback = true
        #expect(
            config.admit(try dest("2001:db8:1::1", 22), transport: .tcp, policy: open, learned: table, now: 0).verdict
                == .allow)
    }
}
