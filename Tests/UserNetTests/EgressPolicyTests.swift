import Testing
import UserNet
import Wire

func dest(_ text: String, _ port: UInt16) throws -> SocketAddress {
    SocketAddress(try #require(IPAddress(text)), port: port)
}

func parsed(_ bytes: [UInt8]) throws -> DNSMessage {
    try bytes.withUnsafeBytes { try DNSMessage.parse($0) }
}

@Suite struct EgressPolicyTests {
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
        #expect(
            try EgressRule.parseNetwork("10.1.0.0/16:22", verdict: .deny)
                == EgressRule(
                    verdict: .deny, matcher: .network(try IPSubnet(parsing: "10.1.0.0/16"), try PortSet(parsing: "22")))
        )
        #expect(
            try EgressRule.parseNetwork("2001:db8::/32", verdict: .allow)
                == EgressRule(verdict: .allow, matcher: .network(try IPSubnet(parsing: "2001:db8::/32"), .all)))
        #expect(
            try EgressRule.parseNetwork("[2001:db8::/32]:443,80", verdict: .allow)
                == EgressRule(
                    verdict: .allow,
                    matcher: .network(try IPSubnet(parsing: "2001:db8::/32"), try PortSet(parsing: "80,443"))))
        #expect(
            try EgressRule.parseNetwork("all", verdict: .deny) == EgressRule(verdict: .deny, matcher: .anyAddress(.all))
        )
        #expect(try EgressRule.parseNetwork("all:443", verdict: .allow).description == "--allow all:443")
        #expect(throws: PolicyParseError.badPorts("all:", .empty)) {
            try EgressRule.parseNetwork("all:", verdict: .deny)
        }
        #expect(throws: PolicyParseError.badNetwork("10.0.0.1/8", .hostBitsSet)) {
            try EgressRule.parseNetwork("10.0.0.1/8", verdict: .deny)
        }
        #expect(throws: PolicyParseError.badPorts("10.0.0.0/8:http", .badPort("http"))) {
            try EgressRule.parseNetwork("10.0.0.0/8:http", verdict: .deny)
        }
        #expect(throws: PolicyParseError.badSyntax("[::1", "missing ']'")) {
            try EgressRule.parseNetwork("[::1", verdict: .deny)
        }
        #expect(throws: PolicyParseError.unknownFlag("--permit")) {
            try EgressPolicy(arguments: [("--permit", "1.2.3.4")])
        }
        #expect(PolicyParseError.badPorts("x:y", .badPort("y")).description.contains("not a port"))
    }

    /// A label without dots is a named network's member; an address never is.
    @Test func aBareLabelIsAMembersName() throws {
        #expect(
            try EgressRule.parseNetwork("DB:5432", verdict: .deny)
                == EgressRule(verdict: .deny, matcher: .member(DNSName("db")!, try PortSet(parsing: "5432"))))
        #expect(try EgressRule.parseNetwork("web-1", verdict: .allow).description == "--allow web-1")
        #expect(
            try EgressRule.parseNetwork("fd00::1", verdict: .deny).matcher
                == .network(try IPSubnet(parsing: "fd00::1/128"), .all))
        #expect(
            try EgressRule.parseNetwork("beef:80", verdict: .deny).description == "--deny beef:80", "one colon: a name")
        #expect(throws: PolicyParseError.self) { try EgressRule.parseNetwork("10", verdict: .deny) }
        #expect(throws: PolicyParseError.self) { try EgressRule.parseNetwork("-db", verdict: .deny) }
        #expect(throws: PolicyParseError.badPorts("db:x", .badPort("x"))) {
            try EgressRule.parseNetwork("db:x", verdict: .deny)
        }
        let policy = try EgressPolicy(arguments: [("--deny", "db:5432")])
        #expect(
            policy.evaluate(try dest("10.89.0.101", 5432), learned: LearnedAddressTable(), now: 0).verdict == .allow)
        #expect(policy.memberRules.count == 1)
    }

    @Test func allCoversBothFamiliesWhereAnIPv4RuleCoversOne() throws {
        let v4Only = try EgressPolicy(arguments: [("--allow", "192.0.2.0/24:443"), ("--deny", "0.0.0.0/0")])
        #expect(v4Only.evaluate(try dest("2001:db8::1", 443), learned: LearnedAddressTable(), now: 0).verdict == .allow)
        #expect(v4Only.openFamilyWarning?.contains("leaves IPv6 open") == true)
        let both = try EgressPolicy(arguments: [("--allow", "192.0.2.0/24:443"), ("--deny", "all")])
        #expect(
            both.evaluate(try dest("2001:db8::1", 443), learned: LearnedAddressTable(), now: 0)
                == PolicyDecision(verdict: .deny, ruleIndex: 1))
        #expect(
            both.evaluate(try dest("192.0.2.9", 443), learned: LearnedAddressTable(), now: 0)
                == PolicyDecision(verdict: .allow, ruleIndex: 0))
        #expect(both.openFamilyWarning == nil && both.isRestrictive)
        let v6Only = try EgressPolicy(arguments: [("--deny", "::/0")])
        #expect(v6Only.openFamilyWarning?.contains("leaves IPv4 open") == true)
        #expect(
            try EgressPolicy(arguments: [("--deny", "all:25")]).isRestrictive == false, "a port rule fences nothing")
        #expect(try EgressPolicy(arguments: [("--deny", "10.0.0.0/8")]).openFamilyWarning == nil)
    }

    @Test func firstMatchWinsAndDefaultAllows() throws {
        let policy = try EgressPolicy(arguments: [
            ("--allow", "10.1.2.0/24:443"),
            ("--deny", "10.1.0.0/16"),
            ("--deny", "0.0.0.0/0:25")
        ])
        #expect(
            policy.evaluate(try dest("10.1.2.9", 443), learned: LearnedAddressTable(), now: 0)
                == PolicyDecision(verdict: .allow, ruleIndex: 0))
        #expect(
            policy.evaluate(try dest("10.1.2.9", 80), learned: LearnedAddressTable(), now: 0)
                == PolicyDecision(verdict: .deny, ruleIndex: 1))
        #expect(
            policy.evaluate(try dest("8.8.8.8", 25), learned: LearnedAddressTable(), now: 0)
                == PolicyDecision(verdict: .deny, ruleIndex: 2))
        #expect(
            policy.evaluate(try dest("8.8.8.8", 443), learned: LearnedAddressTable(), now: 0)
                == PolicyDecision(verdict: .allow, ruleIndex: nil))
    }

    @Test func allowDomainAdmitsAnsweredAddressesOnItsPortsUntilTheTTLEnds() throws {
        let policy = try EgressPolicy(arguments: [("--allow-domain", "WWW.Example.COM:443"), ("--deny", "all")])
        let network = try NetworkConfiguration()
        var table = LearnedAddressTable(capacity: 8, ttlRange: 1...3600)
        let answer = try DNSTestMessages.response(
            id: 7, name: "www.example.com", cname: "edge.cdn.net",
            addresses: ["93.184.216.34"], ttl: 60)
        let lesson = table.learn(from: try parsed(answer), policy: policy, network: network, now: 0)
        #expect(lesson.admitted == [try #require(IPAddress("93.184.216.34"))])
        #expect(table.counters.learned == 1)
        #expect(
            policy.evaluate(try dest("93.184.216.34", 443), learned: table, now: 59_000_000_000)
                == PolicyDecision(verdict: .allow, ruleIndex: 0))
        #expect(
            policy.evaluate(try dest("93.184.216.34", 80), learned: table, now: 0)
                == PolicyDecision(verdict: .deny, ruleIndex: 1),
            "only the rule's ports")
        #expect(
            policy.evaluate(try dest("93.184.216.34", 443), learned: table, now: 61_000_000_000)
                == PolicyDecision(verdict: .deny, ruleIndex: 1))
        #expect(policy.evaluate(try dest("1.1.1.1", 443), learned: table, now: 0).verdict == .deny)
        // An answer for a name no rule covers teaches nothing; nor does the apex of an exact rule's name.
        for name in ["evil.org", "example.com", "a.www.example.com"] {
            let other = try DNSTestMessages.response(id: 8, name: name, addresses: ["6.6.6.6"], ttl: 60)
            table.learn(from: try parsed(other), policy: policy, network: network, now: 0)
        }
        #expect(table.count == 1)
    }

    @Test func learnedTableIsBoundedAndCountsRefusals() throws {
        var table = LearnedAddressTable(capacity: 2, ttlRange: 10...10)
        let policy = try EgressPolicy(arguments: [("--allow-domain", "example.com")])
        let network = try NetworkConfiguration()
        for (i, address) in ["1.0.0.1", "1.0.0.2", "1.0.0.3"].enumerated() {
            let answer = try DNSTestMessages.response(id: UInt16(i), name: "example.com", addresses: [address], ttl: 10)
            table.learn(from: try parsed(answer), policy: policy, network: network, now: 0)
        }
        #expect(table.count == 2)
        #expect(table.counters.refusedFull == 1)
        // Once the first two expired, a new one fits again (expired entries go first).
        let late = try DNSTestMessages.response(id: 9, name: "example.com", addresses: ["1.0.0.4"], ttl: 10)
        table.learn(from: try parsed(late), policy: policy, network: network, now: 11_000_000_000)
        #expect(table.count == 1)
        #expect(table.counters.expired == 2)
        #expect(table.isAdmitted(try #require(IPAddress("1.0.0.4")), byRule: 0, now: 11_000_000_001))
    }

    @Test func answersIntoPrivateSpaceAreNotAdmittedUnlessAnAllowNamesThem() throws {
        var network = try NetworkConfiguration()
        network.hostAddresses = [try #require(IPAddress("198.51.100.1"))]
        let policy = try EgressPolicy(arguments: [("--allow-domain", "*.example.com"), ("--deny", "all")])
        var table = LearnedAddressTable()
        let inward = [
            "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.1", "169.254.169.254",
            "198.51.100.1", "0.0.0.0", "fd12::1", "fe80::1", "::1", "::ffff:10.0.0.1", "64:ff9b::7f00:1"
        ]
        for (i, address) in inward.enumerated() {
            let answer = try DNSTestMessages.response(
                id: UInt16(i), name: "rebind.example.com", addresses: [address], ttl: 60)
            let lesson = table.learn(from: try parsed(answer), policy: policy, network: network, now: 0)
            #expect(lesson.refused == [try #require(IPAddress(address))], "\(address)")
        }
        #expect(table.count == 0 && table.counters.refusedPrivate == UInt64(inward.count))
        let opened = try EgressPolicy(arguments: [
            ("--allow-domain", "*.example.com"), ("--allow", "10.1.0.0/16:443"), ("--deny", "all")
        ])
        let answer = try DNSTestMessages.response(id: 99, name: "db.example.com", addresses: ["10.1.2.3"], ttl: 60)
        #expect(table.learn(from: try parsed(answer), policy: opened, network: network, now: 0).admitted.count == 1)
    }
}

@Suite struct DomainPatternTests {
    @Test func wildcardsMatchBelowTheApexAndExactNamesOnlyThemselves() throws {
        let wildcard = try DomainPattern(parsing: "*.Example.com.")
        #expect(wildcard.matches(try #require(DNSName("api.example.com"))))
        #expect(wildcard.matches(try #require(DNSName("a.b.example.com"))))
        #expect(!wildcard.matches(try #require(DNSName("example.com"))), "not the apex")
        #expect(!wildcard.matches(try #require(DNSName("badexample.com"))))
        let exact = try DomainPattern(parsing: "example.com")
        #expect(exact.matches(try #require(DNSName("EXAMPLE.com."))))
        #expect(!exact.matches(try #require(DNSName("www.example.com"))))
        #expect(
            try EgressRule.parseDomain("*.example.com:443,8443").description == "--allow-domain *.example.com:443,8443")
    }

    @Test func malformedPatternsAreRefusedWithAReason() {
        for bad in [
            "", "*", "*.", "com", "foo.*.com", "**.example.com", "*example.com", "a..b", "ex ample.com",
            "-x.com", "x-.com", "exa$mple.com", String(repeating: "a", count: 64) + ".com", "example.com:",
            "example.com:x"
        ] {
            #expect(throws: PolicyParseError.self, "\(bad)") { try EgressRule.parseDomain(bad) }
        }
    }
}
