import Testing
import UserNet

/// UserNetOptions as flags and back (how the launcher hands them to the gateway's process).
@Suite struct UserNetOptionsFlagsTests {
    @Test func roundTripKeepsEveryKnob() throws {
        let options = try UserNetOptions(
            cidr: "10.9.0.0/24", mtu: 9000, allowHostLoopback: true, allowLinkLocal: true,
            dns: ["127.0.0.1:5353", "[::1]:53"],
            policyArguments: [
                ("--allow", "192.0.2.0/24:443"), ("--deny", "0.0.0.0/0"), ("--allow-domain", "example.com")
            ],
            publish: ["8080:80", "127.0.0.1:5353:53/udp"], pcap: "/tmp/x.pcap", logConnections: "/tmp/x.jsonl",
            udpTimeoutSeconds: 30, maxFlows: 1000, flowMemoryBytes: 64 << 20)
        var named = options
        named.network.hostname = "box"
        let back = try UserNetOptions(flags: named.flags)
        #expect(back.network.hostname == "box")
        #expect(back.flowLimits.flowMemoryBytes == 64 << 20)
        #expect(back.flags == named.flags)
        #expect(back.network.mtu == 9000)
        #expect(back.network.allowHostLoopback && back.network.allowLinkLocal)
        #expect(back.network.dnsUpstreams?.map(\.description) == ["127.0.0.1:5353", "[::1]:53"])
        #expect(back.publishedPorts == options.publishedPorts)
        #expect(back.flowLimits.maxFlows == 1000)
        // Paths are not flags: the gateway's process gets the files open.
        #expect(back.pcapPath == nil && back.connectionLogPath == nil)
        #expect(!options.flags.contains("/tmp/x.pcap"))
    }

    @Test func resolvedUpstreamsTravelEvenWhenNoneAreLeft() throws {
        var options = try UserNetOptions()
        options.network.dnsUpstreams = []
        #expect(options.flags == ["--no-dns"])
        #expect(try UserNetOptions(flags: options.flags).network.dnsUpstreams == [])
        #expect(try UserNetOptions(flags: []).network.dnsUpstreams == nil)
    }

    @Test func unknownFlagsAreRefused() {
        #expect(throws: UserNetOptionsError.badFlags("--pcap")) { try UserNetOptions(flags: ["--pcap", "/x"]) }
        #expect(throws: UserNetOptionsError.badFlags("--mtu")) { try UserNetOptions(flags: ["--mtu"]) }
    }
}
