import Testing
import UserNet
import Wire

@Suite struct EgressPolicyTests {
    func dest(_ text: String, _ port: UInt16) throws -> SocketAddress {
        SocketAddress(try #require(IPAddress(text)), port: port)
    }

    @Test func portSetsParseSinglesRangesAndLists() throws {
        let ports = try PortSet(parsing: "443,80,8000-8100,8050-8200")
        #expect(ports.description == "80,443,8000-8200")
        #expect(ports.contains(80) && ports.contains(8150) && !ports.contains(81))
        #expect(throws: PortSetError.badPort("0")) { try PortSet(parsing: "0") }
        #expect(throws: PortSetError.badPort("65536")) { try PortSet(parsing: "65536") }
        #expect(throws: PortSetError.badPort(" 80")) { try PortSet(parsing: " 80") }
        #expect(throws: PortSetError.badPort("")) { try PortSet(parsing: "80,") }
        #expect(throws: PortSetError.reversedRange("90-80")) { try PortSet(parsing: "90-80") }
        #expect(throws: PortSetError.badPort("1-2-3")) { try PortSet(parsing: "1-2-3") }
        #expect(throws: PortSetError.empty) { try PortSet(parsing: "") }
    }

    @Test func rulesParseWithTypedErrors() throws {
        #expect(try EgressPolicy.parseNetworkRule("10.1.0.0/16:22", verdict: .deny)
            == EgressRule(verdict: .deny, matcher: .network(try IPSubnet(parsing: "10.1.0.0/16"), try PortSet(parsing: "22"))))
        #expect(try EgressPolicy.parseNetworkRule("2001:db8::/32", verdict: .allow)
            == EgressRule(verdict: .allow, matcher: .network(try IPSubnet(parsing: "2001:db8::/32"), .all)))
        #expect(try EgressPolicy.parseNetworkRule("[2001:db8::/32]:443,80", verdict: .allow)
            == EgressRule(verdict: .allow, matcher: .network(try IPSubnet(parsing: "2001:db8::/32"), try PortSet(parsing: "80,443"))))
        #expect(throws: PolicyParseError.badNetwork("10.0.0.1/8", .hostBitsSet)) { try EgressPolicy.parseNetworkRule("10.0.0.1/8", verdict: .deny) }
        #expect(throws: PolicyParseError.badPorts("10.0.0.0/8:http", .badPort("http"))) { try EgressPolicy.parseNetworkRule("10.0.0.0/8:http", verdict: .deny) }
        #expect(throws: PolicyParseError.badSyntax("[::1", "missing ']'")) { try EgressPolicy.parseNetworkRule("[::1", verdict: .deny) }
        #expect(throws: PolicyParseError.badDomain("bad name.com")) { try EgressPolicy.parseDomainRule("bad name.com") }
        #expect(throws: PolicyParseError.unknownFlag("--permit")) { try EgressPolicy(arguments: [("--permit", "1.2.3.4")]) }
        #expect(PolicyParseError.badPorts("x:y", .badPort("y")).description.contains("not a port"))
    }

    @Test func firstMatchWinsAndDefaultAllows() throws {
        let policy = try EgressPolicy(arguments: [
            ("--allow", "10.1.2.0/24:443"),
            ("--deny", "10.1.0.0/16"),
            ("--deny", "0.0.0.0/0:25"),
        ])
        #expect(policy.evaluate(try dest("10.1.2.9", 443), learned: LearnedAddressTable(), now: 0) == PolicyDecision(verdict: .allow, ruleIndex: 0))
        #expect(policy.evaluate(try dest("10.1.2.9", 80), learned: LearnedAddressTable(), now: 0) == PolicyDecision(verdict: .deny, ruleIndex: 1))
        #expect(policy.evaluate(try dest("8.8.8.8", 25), learned: LearnedAddressTable(), now: 0) == PolicyDecision(verdict: .deny, ruleIndex: 2))
        #expect(policy.evaluate(try dest("8.8.8.8", 443), learned: LearnedAddressTable(), now: 0) == PolicyDecision(verdict: .allow, ruleIndex: nil))
        #expect(policy.evaluate(try dest("2001:db8::1", 25), learned: LearnedAddressTable(), now: 0).verdict == .allow, "an IPv4 rule never matches IPv6")
    }

    @Test func allowDomainAdmitsAnsweredAddressesUntilTheirTTLEnds() throws {
        let policy = try EgressPolicy(arguments: [("--allow-domain", "Example.COM"), ("--deny", "0.0.0.0/0")])
        #expect(policy.allowedDomains == [try #require(DNSName("example.com"))])
        var table = LearnedAddressTable(capacity: 8, ttlRange: 1...3600)
        let answer = try DNSTestMessages.response(id: 7, name: "www.example.com", cname: "edge.cdn.net",
                                                  addresses: ["93.184.216.34"], ttl: 60)
        table.learn(from: try answer.withUnsafeBytes { try DNSMessage.parse($0) }, allowedDomains: policy.allowedDomains, now: 0)
        #expect(table.counters.learned == 1)
        let admitted = try dest("93.184.216.34", 443)
        #expect(policy.evaluate(admitted, learned: table, now: 59_000_000_000) == PolicyDecision(verdict: .allow, ruleIndex: 0))
        #expect(policy.evaluate(admitted, learned: table, now: 61_000_000_000) == PolicyDecision(verdict: .deny, ruleIndex: 1))
        #expect(policy.evaluate(try dest("1.1.1.1", 443), learned: table, now: 0).verdict == .deny)
        // An answer for a name no rule covers teaches nothing.
        let other = try DNSTestMessages.response(id: 8, name: "evil.org", addresses: ["6.6.6.6"], ttl: 60)
        table.learn(from: try other.withUnsafeBytes { try DNSMessage.parse($0) }, allowedDomains: policy.allowedDomains, now: 0)
        #expect(table.count == 1)
    }

    @Test func learnedTableIsBoundedAndCountsRefusals() throws {
        var table = LearnedAddressTable(capacity: 2, ttlRange: 10...10)
        let domains = [try #require(DNSName("example.com"))]
        for (i, address) in ["1.0.0.1", "1.0.0.2", "1.0.0.3"].enumerated() {
            let answer = try DNSTestMessages.response(id: UInt16(i), name: "example.com", addresses: [address], ttl: 10)
            table.learn(from: try answer.withUnsafeBytes { try DNSMessage.parse($0) }, allowedDomains: domains, now: 0)
        }
        #expect(table.count == 2)
        #expect(table.counters.refusedFull == 1)
        // Once the first two expired, a new one fits again (expired entries go first).
        let late = try DNSTestMessages.response(id: 9, name: "example.com", addresses: ["1.0.0.4"], ttl: 10)
        table.learn(from: try late.withUnsafeBytes { try DNSMessage.parse($0) }, allowedDomains: domains, now: 11_000_000_000)
        #expect(table.count == 1)
        #expect(table.counters.expired == 2)
        #expect(table.isAdmitted(try #require(IPAddress("1.0.0.4")), by: domains[0], now: 11_000_000_001))
    }
}

@Suite struct FlowAdmissionTests {
    @Test func admissionCombinesMappingPolicyAndReplies() throws {
        var config = try NetworkConfiguration()
        let policy = try EgressPolicy(arguments: [("--deny", "192.0.2.0/24:22"), ("--deny", "[2001:db8::/32]:25")])
        let table = LearnedAddressTable()
        let ssh = SocketAddress(.v4(IPv4Address(192, 0, 2, 7)), port: 22)
        #expect(config.admit(ssh, transport: .tcp, policy: policy, learned: table, now: 0)
            == .refuse(reply: .tcpReset, reason: "policy rule 1: --deny 192.0.2.0/24:22"))
        let smtp6 = SocketAddress(try #require(IPAddress("2001:db8::1")), port: 25)
        #expect(config.admit(smtp6, transport: .udp, policy: policy, learned: table, now: 0)
            == .refuse(reply: .icmpUnreachable(.administrativelyProhibited), reason: "policy rule 2: --deny [2001:db8::/32]:25"))
        let web = SocketAddress(.v4(IPv4Address(192, 0, 2, 7)), port: 443)
        #expect(config.admit(web, transport: .tcp, policy: policy, learned: table, now: 0)
            == .forward(web, PolicyDecision(verdict: .allow, ruleIndex: nil)))
        #expect(config.admit(SocketAddress(.v4(config.dnsV4), port: 53), transport: .udp, policy: policy, learned: table, now: 0) == .dnsForwarder)
        let gateway = SocketAddress(.v4(config.gatewayV4), port: 8080)
        #expect(config.admit(gateway, transport: .tcp, policy: policy, learned: table, now: 0)
            == .refuse(reply: .tcpReset, reason: "host-loopback-disabled"))
        config.allowHostLoopback = true
        // The policy sees the mapped host address, so loopback can still be fenced by rules.
        let fenced = try EgressPolicy(arguments: [("--deny", "127.0.0.0/8:8080")])
        #expect(config.admit(gateway, transport: .tcp, policy: fenced, learned: table, now: 0).verdict == .deny)
        #expect(config.admit(gateway, transport: .tcp, policy: policy, learned: table, now: 0)
            == .forward(SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 8080), PolicyDecision(verdict: .allow, ruleIndex: nil)))
    }
}
