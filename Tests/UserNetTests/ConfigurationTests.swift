import Testing
import UserNet
import Wire

@Suite struct ConfigurationTests {
    @Test func defaultsFollowSlirpConventions() throws {
        let config = try NetworkConfiguration()
        #expect(config.gatewayV4 == IPv4Address(10, 0, 2, 2))
        #expect(config.dnsV4 == IPv4Address(10, 0, 2, 3))
        #expect(config.appV4 == IPv4Address(10, 0, 2, 100))
        #expect(config.gatewayV6.description == "fd00::2")
        #expect(config.dnsV6.description == "fd00::3")
        #expect(config.mtu == 65520)
        #expect(!config.allowHostLoopback)
    }

    @Test func cidrMovesEveryAddress() throws {
        let config = try NetworkConfiguration(cidr: "192.168.77.0/24", mtu: 1500)
        #expect(config.gatewayV4 == IPv4Address(192, 168, 77, 2))
        #expect(config.dnsV4 == IPv4Address(192, 168, 77, 3))
        #expect(config.appV4 == IPv4Address(192, 168, 77, 100))
        #expect(config.mtu == 1500)
    }

    @Test func badConfigurationsAreRefusedWithTheirReason() {
        #expect(throws: ConfigurationError.badCIDR("10.0.2.1/24", .hostBitsSet)) {
            try NetworkConfiguration(cidr: "10.0.2.1/24")
        }
        #expect(throws: ConfigurationError.badCIDR("10.0.2.0/33", .badPrefixLength(33))) {
            try NetworkConfiguration(cidr: "10.0.2.0/33")
        }
        #expect(throws: ConfigurationError.badCIDR("banana/24", .badAddress("banana"))) {
            try NetworkConfiguration(cidr: "banana/24")
        }
        #expect(throws: ConfigurationError.cidrTooSmall("10.0.2.0/26")) {
            try NetworkConfiguration(cidr: "10.0.2.0/26")
        }
        #expect(throws: ConfigurationError.cidrNotIPv4("fd00::/64")) { try NetworkConfiguration(cidr: "fd00::/64") }
        #expect(throws: ConfigurationError.mtuOutOfRange(1279)) { try NetworkConfiguration(mtu: 1279) }
        #expect(throws: ConfigurationError.mtuOutOfRange(65522)) { try NetworkConfiguration(mtu: 65522) }
        #expect(ConfigurationError.mtuOutOfRange(9).description.contains("1280...65521"))
    }

    @Test func dnsUpstreamSyntax() throws {
        #expect(
            try NetworkConfiguration.parseDNSUpstream("127.0.0.53")
                == SocketAddress(.v4(IPv4Address(127, 0, 0, 53)), port: 53))
        #expect(
            try NetworkConfiguration.parseDNSUpstream("127.0.0.1:5353")
                == SocketAddress(.v4(IPv4Address(127, 0, 0, 1)), port: 5353))
        #expect(try NetworkConfiguration.parseDNSUpstream("::1") == SocketAddress(.v6(.loopback), port: 53))
        #expect(try NetworkConfiguration.parseDNSUpstream("[::1]:5353") == SocketAddress(.v6(.loopback), port: 5353))
        #expect(throws: ConfigurationError.badDNSUpstream("1.2.3.4:0")) {
            try NetworkConfiguration.parseDNSUpstream("1.2.3.4:0")
        }
        #expect(throws: ConfigurationError.badDNSUpstream("resolver")) {
            try NetworkConfiguration.parseDNSUpstream("resolver")
        }
    }

    @Test func cidrContainsAndHosts() throws {
        let net = try IPSubnet(parsing: "10.0.2.0/24")
        #expect(net.contains(.v4(IPv4Address(10, 0, 2, 255))))
        #expect(!net.contains(.v4(IPv4Address(10, 0, 3, 0))))
        #expect(!net.contains(.v6(.loopback)))
        #expect(net.host(100) == .v4(IPv4Address(10, 0, 2, 100)))
        #expect(net.host(256) == nil)
        let v6 = try IPSubnet(parsing: "2001:db8::/32")
        #expect(v6.contains(try #require(IPAddress("2001:db8:ffff::1"))))
        #expect(!v6.contains(try #require(IPAddress("2001:db9::1"))))
        #expect(try IPSubnet(parsing: "0.0.0.0/0").contains(.v4(IPv4Address(8, 8, 8, 8))))
        #expect(try IPSubnet(parsing: "::/0").contains(.v6(.loopback)))
        #expect(try IPSubnet(parsing: "1.2.3.4").prefixLength == 32)
        #expect(throws: SubnetParseError.badPrefixLength(-1)) { try IPSubnet(parsing: "1.2.3.4/+8") }
    }
}

@Suite struct DestinationMappingTests {
    let v4 = { (a: UInt8, b: UInt8, c: UInt8, d: UInt8, port: UInt16) in
        SocketAddress(.v4(IPv4Address(a, b, c, d)), port: port)
    }

    @Test func gatewayReachesHostLoopbackOnlyWhenAllowed() throws {
        var config = try NetworkConfiguration()
        #expect(config.map(v4(10, 0, 2, 2, 8080), transport: .tcp) == .unreachable(.hostLoopbackDisabled))
        #expect(config.map(v4(127, 0, 0, 1, 8080), transport: .tcp) == .unreachable(.hostLoopbackDisabled))
        #expect(
            config.map(SocketAddress(.v6(config.gatewayV6), port: 80), transport: .tcp)
                == .unreachable(.hostLoopbackDisabled))
        config.allowHostLoopback = true
        #expect(config.map(v4(10, 0, 2, 2, 8080), transport: .tcp) == .host(v4(127, 0, 0, 1, 8080)))
        #expect(
            config.map(SocketAddress(.v6(config.gatewayV6), port: 80), transport: .udp)
                == .host(SocketAddress(.v6(.loopback), port: 80)))
        #expect(config.map(v4(127, 0, 0, 1, 22), transport: .tcp) == .host(v4(127, 0, 0, 1, 22)))
    }

    @Test func linkLocalIsClosedUnlessAllowedAndMetadataStaysClosed() throws {
        var config = try NetworkConfiguration()
        let metadata = v4(169, 254, 169, 254, 80)
        let other = v4(169, 254, 1, 1, 80)
        #expect(config.map(metadata, transport: .tcp) == .unreachable(.metadata))
        #expect(config.map(other, transport: .tcp) == .unreachable(.linkLocal))
        #expect(
            config.map(SocketAddress(try #require(IPAddress("fe80::1")), port: 80), transport: .udp)
                == .unreachable(.linkLocal))
        config.allowLinkLocal = true
        #expect(config.map(other, transport: .tcp) == .host(other))
        #expect(
            config.map(metadata, transport: .tcp) == .unreachable(.metadata),
            "--allow-link-local does not open metadata")
        #expect(
            config.map(SocketAddress(try #require(IPAddress("fd00:ec2::254")), port: 80), transport: .tcp)
                == .unreachable(.metadata))
        #expect(config.map(v4(100, 100, 100, 200, 80), transport: .tcp) == .unreachable(.metadata))
    }

    @Test func dnsAddressIsTheForwarderOnPort53Only() throws {
        let config = try NetworkConfiguration()
        #expect(config.map(v4(10, 0, 2, 3, 53), transport: .udp) == .dnsForwarder)
        #expect(config.map(v4(10, 0, 2, 3, 53), transport: .tcp) == .dnsForwarder)
        #expect(config.map(SocketAddress(.v6(config.dnsV6), port: 53), transport: .udp) == .dnsForwarder)
        #expect(config.map(v4(10, 0, 2, 3, 80), transport: .tcp) == .unreachable(.noSuchService))
    }

    @Test func ordinaryDestinationsPassUnchangedAndOddOnesAreUnreachable() throws {
        let config = try NetworkConfiguration()
        #expect(config.map(v4(93, 184, 216, 34, 443), transport: .tcp) == .host(v4(93, 184, 216, 34, 443)))
        #expect(config.map(v4(10, 0, 2, 50, 80), transport: .tcp) == .unreachable(.noSuchService))
        #expect(config.map(v4(224, 0, 0, 1, 80), transport: .udp) == .unreachable(.notUnicast))
        #expect(config.map(v4(255, 255, 255, 255, 80), transport: .udp) == .unreachable(.notUnicast))
    }

    @Test func unreachableCausesMapToTheRightReply() {
        #expect(UnreachableCause.linkLocal.reply(for: .tcp) == .tcpReset)
        #expect(UnreachableCause.linkLocal.reply(for: .udp) == .icmpUnreachable(.administrativelyProhibited))
        #expect(UnreachableCause.noSuchService.reply(for: .udp) == .icmpUnreachable(.port))
        #expect(
            UnreachableCause.hostLoopbackDisabled.reply(for: .icmp) == .icmpUnreachable(.administrativelyProhibited))
    }
}
