// A named network's gateway without root: a GatewayEngine over a switch whose members are
// in-memory links. Member-to-member frames are forwarded with the destination's MAC and never
// reach the stack; a spoofed source is dropped; the stack's broadcasts reach every member; the
// DNS forwarder answers members' names while they are on; a member's link faults apply to it.

import Netstack
import NetstackTesting
import Testing
import UserNet
import Wire

@Suite struct NetworkSwitchTests {
    static let gatewayMAC = MACAddress(0x52, 0x55, 0x0A, 0x00, 0x02, 0x02)

    /// An engine on 10.89.0.0/24 with members alpha (.100) and beta, db (.101).
    final class Lab {
        let loop: EventLoop
        let engine: GatewayEngine
        let network: NetworkConfiguration
        let alpha = MemoryLink(linkAddress: NetworkSwitchTests.gatewayMAC, capacity: 256)
        let beta = MemoryLink(linkAddress: NetworkSwitchTests.gatewayMAC, capacity: 256)
        let alphaSpec: NetworkMemberSpec
        let betaSpec: NetworkMemberSpec

        init(
            maxFlows: Int? = nil, policy: [(flag: String, value: String)] = [], logConnections: String? = nil
        ) throws {
            loop = try EventLoop()
            let options = try UserNetOptions(
                cidr: "10.89.0.0/24", mtu: 1500, allowHostLoopback: true, policyArguments: policy,
                logConnections: logConnections, maxFlows: maxFlows)
            network = options.network
            engine = try GatewayEngine.network(
                loop: loop, options: options, linkAddress: NetworkSwitchTests.gatewayMAC,
                capabilities: [.resolutionRequired], dnsUpstreams: [])
            alphaSpec = NetworkMemberSpec(
                id: 1, mac: MACAddress(0x02, 0x5B, 10, 89, 0, 100), ipv4: IPv4Address(10, 89, 0, 100),
                ipv6: IPv6Address("fd00::100")!, names: [DNSName("alpha")!])
            betaSpec = NetworkMemberSpec(
                id: 2, mac: MACAddress(0x02, 0x5B, 10, 89, 0, 101), ipv4: IPv4Address(10, 89, 0, 101),
                ipv6: IPv6Address("fd00::101")!, names: [DNSName("beta")!, DNSName("db")!])
            try engine.join(alphaSpec, endpoint: alpha)
            try engine.join(betaSpec, endpoint: beta)
            engine.endOfRound()
            _ = alpha.takeWrittenFrames()
            _ = beta.takeWrittenFrames()
        }

        deinit { engine.shutDown() }

        /// An IPv4 packet from `from` (its MAC) to the gateway's MAC.
        func send(
            _ payload: [UInt8], from spec: NetworkMemberSpec, source: IPv4Address? = nil, to: IPv4Address,
            protocolNumber: IPProtocol = .icmp, on link: MemoryLink
        ) {
            let packet = FrameBuilder.ipv4(
                source: source ?? spec.ipv4, destination: to, protocolNumber: protocolNumber, payload: payload)
            link.receive(
                frame: FrameBuilder.ethernet(
                    destination: NetworkSwitchTests.gatewayMAC, source: spec.mac, etherType: .ipv4, payload: packet))
            engine.endOfRound()
        }

        /// Lets the stack learn a member's MAC, as its first ARP request for the gateway does.
        func announce(_ spec: NetworkMemberSpec, on link: MemoryLink) {
            let request = ARPRepr(
                operation: .request, senderHardwareAddress: spec.mac, senderProtocolAddress: spec.ipv4,
                targetHardwareAddress: MACAddress(0, 0, 0, 0, 0, 0), targetProtocolAddress: network.gatewayV4)
            link.receive(frame: FrameBuilder.arp(request, destination: .broadcast))
            engine.endOfRound()
            _ = link.takeWrittenFrames()
        }

        /// The A records in the DNS answers written to `link` for a query of `name`.
        func resolve(_ name: String, from spec: NetworkMemberSpec, on link: MemoryLink) -> [[UInt8]] {
            let query = FrameBuilder.udp(
                source: spec.ipv4, sourcePort: 40_000, destination: network.dnsV4, destinationPort: 53,
                payload: DNSTestMessages.query(id: 7, name: name))
            send(query, from: spec, to: network.dnsV4, protocolNumber: .udp, on: link)
            // Ethernet 14 + IPv4 20 + UDP 8: the DNS message; its answers' 4-byte A data end it.
            return link.takeWrittenFrames().filter { $0.count > 42 && $0[23] == 17 }.map { frame in
                let dns = Array(frame[42...])
                let answers = Int(dns[6]) << 8 | Int(dns[7])
                return answers == 0 ? [] : Array(dns.suffix(4))
            }
        }
    }

    static let echo = FrameBuilder.icmp(.echoRequest(identifier: 3, sequence: 1), data: [9, 9, 9])

    @Test func aMemberReachesAnotherWithItsMACAndTheStackSeesNothing() throws {
        let lab = try Lab()
        lab.send(Self.echo, from: lab.alphaSpec, to: lab.betaSpec.ipv4, on: lab.alpha)
        let delivered = lab.beta.takeWrittenFrames()
        #expect(delivered.count == 1)
        let frame = try #require(delivered.first)
        #expect(Array(frame[0..<6]) == (0..<6).map(lab.betaSpec.mac.octet), "to beta's own MAC")
        #expect(Array(frame[26..<34]) == [10, 89, 0, 100, 10, 89, 0, 101], "the packet as alpha sent it")
        #expect(lab.alpha.takeWrittenFrames().isEmpty, "the stack answered nothing itself")
        #expect(lab.engine.snapshot.network?.framesSwitched == 1)
    }

    @Test func aSpoofedSourceIsDroppedAndCounted() throws {
        let lab = try Lab()
        lab.send(
            Self.echo, from: lab.alphaSpec, source: IPv4Address(10, 89, 0, 77), to: lab.betaSpec.ipv4, on: lab.alpha)
        lab.send(Self.echo, from: lab.alphaSpec, source: lab.betaSpec.ipv4, to: lab.network.gatewayV4, on: lab.alpha)
        #expect(lab.beta.takeWrittenFrames().isEmpty)
        #expect(lab.alpha.takeWrittenFrames().isEmpty)
        #expect(lab.engine.snapshot.network?.spoofedDropped == 2)
    }

    /// An ARP claim for another member's address is dropped at the switch, and were the
    /// stack's neighbour cache poisoned anyway, its packets go by destination address.
    @Test func aClaimOnAnotherMembersAddressGetsNothing() throws {
        let lab = try Lab()
        let claim = ARPRepr(
            operation: .reply, senderHardwareAddress: lab.alphaSpec.mac, senderProtocolAddress: lab.betaSpec.ipv4,
            targetHardwareAddress: Self.gatewayMAC, targetProtocolAddress: lab.network.gatewayV4)
        lab.alpha.receive(frame: FrameBuilder.arp(claim, destination: Self.gatewayMAC))
        lab.engine.endOfRound()
        #expect(lab.engine.snapshot.network?.spoofedDropped == 1)
        // Beta asks the gateway's DNS; the answer goes to beta, not to alpha.
        lab.announce(lab.betaSpec, on: lab.beta)
        #expect(lab.resolve("alpha", from: lab.betaSpec, on: lab.beta) == [[10, 89, 0, 100]])
        #expect(lab.alpha.takeWrittenFrames().allSatisfy { $0[12] != 0x08 || $0[13] != 0x00 }, "no IPv4 for alpha")
    }

    /// Neighbour discovery from a member's link-local address: the gateway's answer goes to
    /// that member (by the MAC it resolved), and to no other.
    @Test func anAnswerToAMembersLinkLocalAddressReachesIt() throws {
        let lab = try Lab()
        let source = IPv6Address.linkLocal(for: lab.alphaSpec.mac)
        let gatewayLinkLocal = IPv6Address.linkLocal(for: Self.gatewayMAC)
        let solicitation = ICMPv6Repr.ndp(
            .neighborSolicitation(
                NDPNeighborSolicitation(target: gatewayLinkLocal, sourceLinkAddress: lab.alphaSpec.mac)))
        let packet = FrameBuilder.ipv6(
            source: source, destination: gatewayLinkLocal.solicitedNodeMulticast, nextHeader: .icmpv6,
            payload: FrameBuilder.icmpv6(
                solicitation, source: source, destination: gatewayLinkLocal.solicitedNodeMulticast),
            hopLimit: 255)
        lab.alpha.receive(
            frame: FrameBuilder.ethernet(
                destination: gatewayLinkLocal.solicitedNodeMulticast.multicastMAC, source: lab.alphaSpec.mac,
                etherType: .ipv6, payload: packet))
        lab.engine.endOfRound()
        let answers = lab.alpha.takeWrittenFrames().filter { $0[12] == 0x86 && $0[13] == 0xDD }
        #expect(answers.count == 1 && answers.first.map { Array($0[0..<6]) } == (0..<6).map(lab.alphaSpec.mac.octet))
        #expect(lab.beta.takeWrittenFrames().isEmpty)
        #expect(lab.engine.snapshot.network?.undeliverable == 0)
    }

    @Test func theStacksBroadcastsReachEveryMember() throws {
        let lab = try Lab()
        // Alpha pings the gateway without having ARPed: the stack asks who alpha is, everywhere.
        lab.send(Self.echo, from: lab.alphaSpec, to: lab.network.gatewayV4, on: lab.alpha)
        for link in [lab.alpha, lab.beta] {
            let arp = link.takeWrittenFrames().filter { $0[12] == 0x08 && $0[13] == 0x06 }
            #expect(arp.count == 1 && arp.first.map { Array($0[0..<6]) } == Array(repeating: 0xFF, count: 6))
        }
    }

    @Test func membersNamesAnswerWhileTheyAreOn() throws {
        let lab = try Lab()
        lab.announce(lab.alphaSpec, on: lab.alpha)
        #expect(lab.resolve("db", from: lab.alphaSpec, on: lab.alpha) == [[10, 89, 0, 101]])
        #expect(lab.resolve("BETA", from: lab.alphaSpec, on: lab.alpha) == [[10, 89, 0, 101]])
        #expect(lab.resolve("db.sandbox.internal", from: lab.alphaSpec, on: lab.alpha) == [[10, 89, 0, 101]])
        #expect(lab.engine.leave(2))
        let after = lab.resolve("db", from: lab.alphaSpec, on: lab.alpha)
        #expect(after.allSatisfy { $0.isEmpty }, "gone with beta")
        lab.send(Self.echo, from: lab.alphaSpec, to: lab.betaSpec.ipv4, on: lab.alpha)
        #expect(lab.beta.takeWrittenFrames().isEmpty, "beta's link is off the switch")
    }

    @Test func aMembersFaultsApplyToItsLinkOnly() throws {
        let lab = try Lab()
        #expect(lab.engine.setFaults(try LinkFaults(loss: "100%"), ofMember: 2))
        lab.send(Self.echo, from: lab.alphaSpec, to: lab.betaSpec.ipv4, on: lab.alpha)
        #expect(lab.beta.takeWrittenFrames().isEmpty)
        #expect(lab.engine.snapshot.linkFaults.lost == 1)
        #expect(lab.engine.setFaults(LinkFaults(), ofMember: 2))
        lab.send(Self.echo, from: lab.alphaSpec, to: lab.betaSpec.ipv4, on: lab.alpha)
        #expect(lab.beta.takeWrittenFrames().count == 1)
        #expect(!lab.engine.setFaults(LinkFaults(), ofMember: 9), "no such member")
    }

    /// A member that opens flows without end is refused at its share (half the network's
    /// flows) while another member still opens its own. (UDP to the host's loopback through
    /// the gateway's address, where nothing listens: no datagram leaves the machine.)
    @Test func aMemberAtItsShareOfFlowsLeavesRoomForTheOthers() throws {
        let lab = try Lab(maxFlows: 8)
        lab.announce(lab.alphaSpec, on: lab.alpha)
        lab.announce(lab.betaSpec, on: lab.beta)
        func datagram(from spec: NetworkMemberSpec, port: UInt16, on link: MemoryLink) {
            let udp = FrameBuilder.udp(
                source: spec.ipv4, sourcePort: port, destination: lab.network.gatewayV4, destinationPort: 9,
                payload: [1, 2, 3])
            lab.send(udp, from: spec, to: lab.network.gatewayV4, protocolNumber: .udp, on: link)
        }
        for port in UInt16(40_000)..<40_006 { datagram(from: lab.alphaSpec, port: port, on: lab.alpha) }
        datagram(from: lab.betaSpec, port: 40_000, on: lab.beta)
        let counters = lab.engine.snapshot
        #expect(counters.flowsRefusedAtMemberShare == 2, "alpha's fifth and sixth flows")
        #expect(counters.flows.refusedSourceAtItsShare == 2)
        #expect(counters.activeFlows == 5, "alpha's four and beta's one")
        #expect(counters.flowsRefusedAtLimit == 0)
    }

    @Test func aSecondMemberWithTheSameAddressIsRefused() throws {
        let lab = try Lab()
        var twin = lab.betaSpec
        twin.id = 3
        #expect(throws: NetworkSwitchError.duplicate(3)) {
            try lab.engine.join(twin, endpoint: MemoryLink(linkAddress: Self.gatewayMAC))
        }
        #expect(lab.engine.snapshot.network?.members == 2)
    }

    @Test func aMemberSpecSurvivesItsTextAndRefusesOthers() throws {
        var spec = NetworkMemberSpec(
            id: 4, mac: MACAddress(0x02, 0x5B, 10, 89, 0, 104), ipv4: IPv4Address(10, 89, 0, 104),
            ipv6: IPv6Address("fd00::104")!, names: [DNSName("web")!, DNSName("api.internal")!],
            faults: try LinkFaults(delay: "30ms", loss: "2%"))
        #expect(NetworkMemberSpec(encoded: spec.description) == spec)
        spec.names = []
        #expect(NetworkMemberSpec(encoded: spec.description) == spec)
        #expect(NetworkMemberSpec(encoded: "id=1") == nil)
        #expect(
            NetworkMemberSpec(encoded: spec.description.replacingOccurrences(of: "v4=10.89.0.104", with: "v4=x")) == nil
        )
        #expect(NetworkMemberSpec(encoded: spec.description + " extra=1") == nil)
    }
}
