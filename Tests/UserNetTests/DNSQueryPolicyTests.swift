import Testing
import UserNet
import Wire

@Suite struct DNSQueryPolicyTests {
    func decide(_ policy: EgressPolicy, _ name: String, type: UInt16 = 1, hostname: String? = "sandbox") throws
        -> DNSQueryPolicy.Decision
    {
        var network = try NetworkConfiguration()
        network.hostname = hostname
        let query = try parsed(DNSTestMessages.query(id: 1, name: name, type: type))
        return DNSQueryPolicy(policy: policy, names: LocalNames(network: network)).decide(query)
    }

    @Test func underARestrictivePolicyOnlyAllowedNamesGoUpstream() throws {
        let fenced = try EgressPolicy(arguments: [("--allow-domain", "*.example.com:443"), ("--deny", "all")])
        #expect(try decide(fenced, "api.example.com") == .forward)
        #expect(try decide(fenced, "x7f3a.attacker.example") == .refuse(reason: "name-not-allowed"))
        #expect(
            try decide(fenced, "example.com") == .refuse(reason: "name-not-allowed"), "the wildcard leaves the apex out"
        )
        let ipv4Only = try EgressPolicy(arguments: [("--deny", "0.0.0.0/0")])
        #expect(try decide(ipv4Only, "anything.test") == .refuse(reason: "name-not-allowed"))
        #expect(try decide(EgressPolicy(), "anything.test") == .forward, "an open policy forwards every name")
        #expect(try decide(try EgressPolicy(arguments: [("--deny", "10.0.0.0/8")]), "anything.test") == .forward)
    }

    @Test func namesTheSandboxOwnsAreAnsweredHere() throws {
        let config = try NetworkConfiguration()
        for policy in [EgressPolicy(), try EgressPolicy(arguments: [("--deny", "all")])] {
            #expect(try decide(policy, "sandbox") == .answerLocally(.noError, [.v4(config.appV4)]))
            #expect(try decide(policy, "SANDBOX.", type: 28) == .answerLocally(.noError, [.v6(config.appV6)]))
            #expect(try decide(policy, "host.sandbox.internal") == .answerLocally(.noError, [.v4(config.gatewayV4)]))
            #expect(
                try decide(policy, "host.sandbox.internal", type: 28)
                    == .answerLocally(.noError, [.v6(config.gatewayV6)]))
            #expect(
                try decide(policy, "host.sandbox.internal", type: 15) == .answerLocally(.noError, []), "MX: no data")
            #expect(try decide(policy, "other.sandbox.internal") == .answerLocally(.nameError, []))
        }
        #expect(try decide(EgressPolicy(), "sandbox", hostname: nil) == .forward, "usernet names no host")
    }

    /// Reverse names of the network's own addresses are answered here: the names they have,
    /// NXDOMAIN for the rest of the network; reverse names outside it go upstream as before.
    @Test func reverseNamesOfTheNetworkAreAnsweredHere() throws {
        let sandbox = try #require(DNSName("sandbox"))
        #expect(try decide(EgressPolicy(), "100.2.0.10.in-addr.arpa", type: 12) == .answerPointer(sandbox))
        let v6 = "0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"
        #expect(try decide(EgressPolicy(), v6, type: 12) == .answerPointer(sandbox))
        #expect(
            try decide(EgressPolicy(), "2.2.0.10.in-addr.arpa", type: 12)
                == .answerPointer(try #require(DNSName("host.sandbox.internal"))))
        #expect(try decide(EgressPolicy(), "77.2.0.10.in-addr.arpa", type: 12) == .answerLocally(.nameError, []))
        #expect(try decide(EgressPolicy(), "100.2.0.10.in-addr.arpa", type: 1) == .answerLocally(.noError, []))
        #expect(try decide(EgressPolicy(), "1.2.0.192.in-addr.arpa", type: 12) == .forward, "not ours")
        #expect(try decide(EgressPolicy(), "100.2.0.010.in-addr.arpa", type: 12) == .forward, "not a reverse name")
        #expect(try decide(EgressPolicy(), "2.0.10.in-addr.arpa", type: 12) == .forward, "a partial one")
    }

    @Test func aMembersReverseNamesFollowItsPresence() throws {
        var names = LocalNames(network: try NetworkConfiguration(cidr: "10.89.0.0/24"))
        let member: [IPAddress] = [.v4(IPv4Address(10, 89, 0, 101)), try #require(IPAddress("fd00::101"))]
        let question = DNSQuestion(name: try #require(DNSName("101.0.89.10.in-addr.arpa")), type: .ptr, recordClass: 1)
        #expect(names.pointer(question)?.code == .nameError)
        names.setPointers(member, to: DNSName("db"))
        #expect(names.pointer(question)?.name == DNSName("db"))
        names.setPointers(member, to: nil)
        #expect(names.pointer(question)?.code == .nameError)
    }

    /// Two members sharing an alias: the name answers with both, and with the other once one goes.
    @Test func aSharedAliasAnswersEveryMemberOnIt() throws {
        var names = LocalNames(network: try NetworkConfiguration(cidr: "10.89.0.0/24"))
        let alias = try #require(DNSName("api"))
        let first: [IPAddress] = [.v4(IPv4Address(10, 89, 0, 100))]
        let second: [IPAddress] = [.v4(IPv4Address(10, 89, 0, 101))]
        names.add(alias, first)
        names.add(alias, second)
        let question = DNSQuestion(name: alias, type: .a, recordClass: 1)
        #expect(names.answer(question)?.addresses == first + second)
        names.remove(alias, first)
        #expect(names.answer(question)?.addresses == second)
        names.remove(alias, second)
        #expect(names.answer(question) == nil, "gone: asked upstream again")
        names.add(LocalNames.gatewayName, first)
        #expect(
            names.answer(DNSQuestion(name: LocalNames.gatewayName, type: .a, recordClass: 1))?.addresses
                == [.v4(IPv4Address(10, 89, 0, 2))], "no member takes the gateway's name")
    }

    @Test func aPointerAnswerCarriesTheName() throws {
        let query = DNSTestMessages.query(id: 9, name: "100.2.0.10.in-addr.arpa", type: 12)
        let bytes = try #require(
            query.withUnsafeBytes {
                DNSResponseWriter.response(toQuery: $0, code: .noError, authoritative: true, pointer: DNSName("db.lan"))
            })
        #expect(bytes[6] == 0 && bytes[7] == 1, "one answer")
        // The record: a pointer to the question's name, type 12, class 1, TTL, length, the name.
        #expect(
            Array(bytes.suffix(20)) == [0xC0, 12, 0, 12, 0, 1, 0, 0, 0, 60, 0, 8, 2, 0x64, 0x62, 3, 0x6C, 0x61, 0x6E, 0]
        )
    }

    @Test func writtenAnswersEchoTheQuestionAndCarryTheAddresses() throws {
        let query = DNSTestMessages.query(id: 0xBEEF, name: "host.sandbox.internal", type: 255)
        let addresses: [IPAddress] = [.v4(IPv4Address(10, 0, 2, 2)), try #require(IPAddress("fd00::2"))]
        let bytes = try #require(
            query.withUnsafeBytes {
                DNSResponseWriter.response(
                    toQuery: $0, code: .noError, authoritative: true, addresses: addresses, ttl: 60)
            })
        let answer = try parsed(bytes)
        #expect(answer.header.id == 0xBEEF && answer.header.isResponse && answer.header.responseCode == 0)
        #expect(answer.header.flags & 0x0400 != 0, "authoritative")
        #expect(answer.questions.map(\.name) == [try #require(DNSName("host.sandbox.internal"))])
        #expect(answer.addresses(for: try #require(DNSName("host.sandbox.internal"))).map(\.address) == addresses)
        let refused = try #require(
            query.withUnsafeBytes { DNSResponseWriter.response(toQuery: $0, code: .refused, authoritative: false) })
        #expect(try parsed(refused).header.responseCode == 5)
        #expect(
            [UInt8](repeating: 0, count: 14).withUnsafeBytes {
                DNSResponseWriter.response(toQuery: $0, code: .refused, authoritative: false)
            } == nil)
    }

    /// Fuzzing found it: a first question name that is a pointer into the header parses to a
    /// name built from the query's ID, which the forwarder rewrites, so upstream would read
    /// another name than the policy judged. Such a query is malformed: no answer, nothing sent.
    @Test func aQuestionNamePointingIntoTheHeaderIsMalformed() throws {
        let query: [UInt8] = [
            0x02, 0x4C, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xC0,
            0x00, 0x00, 0x00, 0x7E, 0x01, 0x00, 0x00, 0xC3, 0x00, 0x00, 0xC0, 0x01, 0x01, 0x01, 0x01, 0x00, 0xE8
        ]
        #expect(query.withUnsafeBytes { DNSResponseWriter.endOfFirstQuestion($0) } == nil)
        let compressed =
            DNSTestMessages.query(id: 1, name: "a.example.com").prefix(DNSHeader.length) + [
                0xC0, 0x00, 0x00, 0x01, 0x00, 0x01
            ]
        #expect(
            Array(compressed).withUnsafeBytes {
                DNSResponseWriter.response(toQuery: $0, code: .refused, authoritative: false)
            } == nil)
        let loop = try EventLoop()
        let dns = try DNSForwarder(
            loop: loop, configuration: DNSForwarder.Configuration(upstreams: [try dest("127.0.0.1", 9)]))
        var failed = 0
        Array(compressed).withUnsafeBytes { dns.forward(query: $0, reply: { _ in }, failed: { failed += 1 }) }
        #expect(failed == 1 && dns.counters.malformedQueries == 1 && dns.pendingCount == 0)
        dns.close()
    }

    @Test func queryRecordsAreOneJSONLineEach() throws {
        let question = DNSQuestion(name: try #require(DNSName("a.example.com")), type: .aaaa, recordClass: 1)
        var record = DNSQueryRecord(
            timeNanoseconds: 0, source: try dest("10.0.2.100", 40000), transport: .udp,
            question: question, outcome: .refused, reason: "name-not-allowed")
        #expect(
            record.jsonLine
                == #"{"time":"1970-01-01T00:00:00.000Z","protocol":"dns","transport":"udp","source":"10.0.2.100:40000","name":"a.example.com","type":"AAAA","verdict":"deny","outcome":"refused","reason":"name-not-allowed","answers":[]}"#
                + "\n")
        record.outcome = .forwarded
        record.reason = nil
        record.answers = [try #require(IPAddress("2001:db8::1"))]
        record.refusedAnswers = [try #require(IPAddress("fd00::9"))]
        #expect(
            record.jsonLine.contains(
                #""verdict":"allow","outcome":"forwarded","answers":["2001:db8::1"],"not_admitted":["fd00::9"]}"#))
    }
}
