import Testing
import UserNet
import Wire

@Suite struct UserNetOptionsTests {
    @Test func policyFlagsKeepTheirCommandLineOrder() {
        let argv = [
            "run", "--net=user", "--deny", "0.0.0.0/0", "--mtu", "1500", "--allow-domain=example.com",
            "--allow", "10.0.0.0/8:443", "--", "app", "--deny", "ignored"
        ]
        let found = UserNetOptions.policyArguments(in: argv)
        #expect(found.map(\.flag) == ["--deny", "--allow-domain", "--allow"])
        #expect(found.map(\.value) == ["0.0.0.0/0", "example.com", "10.0.0.0/8:443"])
    }

    @Test func validOptionsBuildEveryPart() throws {
        let options = try UserNetOptions(
            cidr: "10.9.0.0/16", mtu: 9000, allowHostLoopback: true, dns: ["127.0.0.1:5353"],
            policyArguments: [("--deny", "0.0.0.0/0:25")], publish: ["8080:80", "8080:80/udp"],
            pcap: "/tmp/x.pcap", udpTimeoutSeconds: 30, maxFlows: 100)
        #expect(options.network.gatewayV4 == IPv4Address(10, 9, 0, 2))
        #expect(options.network.mtu == 9000 && options.network.allowHostLoopback)
        #expect(options.network.dnsUpstreams == [SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 5353)])
        #expect(options.policy.rules.count == 1)
        #expect(options.publishedPorts.count == 2)
        #expect(options.flowLimits.udpIdleNanoseconds == 30_000_000_000 && options.flowLimits.maxFlows == 100)
    }

    @Test func eachBadOptionSaysWhichAndWhy() {
        #expect(throws: UserNetOptionsError.configuration(.mtuOutOfRange(100))) { try UserNetOptions(mtu: 100) }
        #expect(throws: UserNetOptionsError.policy(.badDomain("a..b", "empty label"))) {
            try UserNetOptions(policyArguments: [("--allow-domain", "a..b")])
        }
        #expect(throws: UserNetOptionsError.publish(.badSyntax("1:2:3:4"))) { try UserNetOptions(publish: ["1:2:3:4"]) }
        #expect(throws: UserNetOptionsError.publish(.tooMany("2000-2999:2000-2999"))) {
            try UserNetOptions(publish: ["1000-1999:1000-1999", "2000-2999:2000-2999"])
        }
        #expect(throws: UserNetOptionsError.duplicatePublish("127.0.0.1:8080:81")) {
            try UserNetOptions(publish: ["127.0.0.1:8080:80", "127.0.0.1:8080:81"])
        }
        #expect(throws: UserNetOptionsError.outOfRange("--udp-timeout", 0, 1...86_400)) {
            try UserNetOptions(udpTimeoutSeconds: 0)
        }
        #expect(
            UserNetOptionsError.outOfRange("--max-flows", 0, 1...9).description == "--max-flows 0: must be within 1...9"
        )
    }
}
