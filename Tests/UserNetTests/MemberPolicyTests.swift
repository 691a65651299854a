// A named network's policy between its members (MemberFlows behind the switch), without root:
// rules that name the network's addresses judge member-to-member flows as they open, answers
// of an allowed flow pass whatever the rules say of its opener, a denied flow is refused by the
// stack (RST, ICMP administratively prohibited) and logged, whole-family rules leave the members
// alone, what cannot be judged is refused, and the connection log gets every member flow.

import Foundation
import Netstack
import NetstackTesting
import Testing
import UserNet
import Wire

@Suite struct MemberPolicyTests {
    typealias Lab = NetworkSwitchTests.Lab

    static func tcp(
        _ flags: TCPFlags, from source: IPv4Address, port sourcePort: UInt16, to destination: IPv4Address,
        port destinationPort: UInt16, payload: [UInt8] = []
    ) -> [UInt8] {
        let segment = TCPRepr(
            sourcePort: sourcePort, destinationPort: destinationPort, sequenceNumber: SeqNumber(rawValue: 1000),
            acknowledgmentNumber: SeqNumber(rawValue: flags.contains(.ack) ? 5000 : 0), flags: flags, window: 65535,
            options: TCPOptions(), payloadLength: payload.count)
        return FrameBuilder.tcp(segment, payload: payload, pseudoHeader: .v4(source: source, destination: destination))
    }

    static func udp(from source: IPv4Address, port: UInt16, to destination: IPv4Address, port to: UInt16, _ n: Int)
        -> [UInt8]
    {
        FrameBuilder.udp(
            source: source, sourcePort: port, destination: destination, destinationPort: to,
            payload: [UInt8](repeating: 7, count: n))
    }

    /// A SYN from alpha to beta's `port`.
    static func syn(in lab: Lab, toBetaPort port: UInt16, from sourcePort: UInt16 = 40_000) {
        let (alpha, beta) = (lab.alphaSpec.ipv4, lab.betaSpec.ipv4)
        lab.send(
            tcp(.syn, from: alpha, port: sourcePort, to: beta, port: port), from: lab.alphaSpec, to: beta,
            protocolNumber: .tcp, on: lab.alpha)
    }

    /// The IPv4 frames on `frames` as (protocol, source, destination, transport bytes).
    static func ipv4(_ frames: [[UInt8]]) -> [(IPProtocol, IPv4Address, IPv4Address, [UInt8])] {
        frames.filter { $0.count >= 34 && $0[12] == 0x08 && $0[13] == 0x00 }.map { frame in
            func address(_ at: Int) -> IPv4Address {
                IPv4Address(frame[at], frame[at + 1], frame[at + 2], frame[at + 3])
            }
            return (
                IPProtocol(rawValue: frame[23]), address(26), address(30),
                Array(frame[(14 + Int(frame[14] & 0xF) * 4)...])
            )
        }
    }

    @Test func aRuleNamingAMembersPortRefusesItsSYNWithAResetAndLeavesItsOtherPorts() throws {
        let lab = try Lab(policy: [("--deny", "10.89.0.101:5432")])
        lab.announce(lab.alphaSpec, on: lab.alpha)
        let (alpha, beta) = (lab.alphaSpec.ipv4, lab.betaSpec.ipv4)
        Self.syn(in: lab, toBetaPort: 5432)
        #expect(lab.beta.takeWrittenFrames().isEmpty, "the database never sees the SYN")
        let reset = try #require(Self.ipv4(lab.alpha.takeWrittenFrames()).first { $0.0 == .tcp })
        #expect(reset.1 == beta && reset.2 == alpha, "answered in the database's name")
        #expect(TCPFlags(rawValue: reset.3[13]).contains(.rst))
        Self.syn(in: lab, toBetaPort: 80, from: 40_001)
        #expect(Self.ipv4(lab.beta.takeWrittenFrames()).map(\.0) == [.tcp], "port 80 is not named: it passes")
        let counters = lab.engine.snapshot
        #expect(counters.network?.memberFlows.denied == 1)
        #expect(counters.network?.memberFlows.opened == 1)
        #expect(counters.flowsDenied == 1, "the stack refused it as it refuses egress")
    }

    /// beta answers to `db` too: a rule by that name refuses its port, whichever address.
    @Test func aRuleByAMembersNameNamesBothItsAddresses() throws {
        let lab = try Lab(policy: [("--deny", "db:5432")])
        lab.announce(lab.alphaSpec, on: lab.alpha)
        let (alpha, beta) = (lab.alphaSpec.ipv4, lab.betaSpec.ipv4)
        Self.syn(in: lab, toBetaPort: 5432)
        #expect(lab.beta.takeWrittenFrames().isEmpty)
        #expect(Self.ipv4(lab.alpha.takeWrittenFrames()).map(\.0) == [.tcp], "the RST")
        let udp = FrameBuilder.udp(
            source: lab.alphaSpec.ipv6, sourcePort: 40_000, destination: lab.betaSpec.ipv6, destinationPort: 5432,
            payload: [1])
        let packet = FrameBuilder.ipv6(
            source: lab.alphaSpec.ipv6, destination: lab.betaSpec.ipv6, nextHeader: .udp, payload: udp)
        lab.alpha.receive(
            frame: FrameBuilder.ethernet(
                destination: NetworkSwitchTests.gatewayMAC, source: lab.alphaSpec.mac, etherType: .ipv6, payload: packet
            ))
        lab.engine.endOfRound()
        #expect(!lab.beta.takeWrittenFrames().contains { $0.count > 20 && $0[20] == 17 }, "nor over IPv6")
        lab.send(
            Self.tcp(.syn, from: beta, port: 40_000, to: alpha, port: 5432), from: lab.betaSpec, to: alpha,
            protocolNumber: .tcp, on: lab.beta)
        #expect(Self.ipv4(lab.alpha.takeWrittenFrames()).map(\.0) == [.tcp], "alpha is not db")
        #expect(lab.engine.snapshot.network?.memberFlows.denied == 2)
    }

    /// alpha's address is protected (`--deny 10.89.0.100`): beta answers alpha's datagram, but
    /// a datagram beta opens to alpha is refused, and an echo reply nobody asked for is dropped.
    @Test func anAnswerPassesWhateverTheRulesSayOfItsOpener() throws {
        let lab = try Lab(policy: [("--deny", "10.89.0.100")])
        lab.announce(lab.betaSpec, on: lab.beta)
        let (alpha, beta) = (lab.alphaSpec.ipv4, lab.betaSpec.ipv4)
        lab.send(
            Self.udp(from: alpha, port: 40_000, to: beta, port: 53, 3), from: lab.alphaSpec, to: beta,
            protocolNumber: .udp, on: lab.alpha)
        #expect(Self.ipv4(lab.beta.takeWrittenFrames()).count == 1)
        lab.send(
            Self.udp(from: beta, port: 53, to: alpha, port: 40_000, 5), from: lab.betaSpec, to: alpha,
            protocolNumber: .udp, on: lab.beta)
        #expect(Self.ipv4(lab.alpha.takeWrittenFrames()).map(\.0) == [.udp], "the answer passes")

        lab.send(
            Self.udp(from: beta, port: 41_000, to: alpha, port: 9, 3), from: lab.betaSpec, to: alpha,
            protocolNumber: .udp, on: lab.beta)
        #expect(lab.alpha.takeWrittenFrames().isEmpty, "beta may not open a flow to alpha")
        let refusal = try #require(Self.ipv4(lab.beta.takeWrittenFrames()).first)
        #expect(refusal.0 == .icmp && refusal.3[0] == 3 && refusal.3[1] == 13, "administratively prohibited")

        let stray = FrameBuilder.icmp(.echoReply(identifier: 9, sequence: 1), data: [1, 2, 3])
        lab.send(stray, from: lab.betaSpec, to: alpha, on: lab.beta)
        #expect(lab.alpha.takeWrittenFrames().isEmpty, "an echo reply nobody asked for")
        let flows = try #require(lab.engine.snapshot.network?.memberFlows)
        #expect(flows.opened == 1 && flows.denied == 1 && flows.strayRepliesDropped == 1)
    }

    @Test func wholeFamilyAndWiderRulesFenceTheOutsideNotTheMembers() throws {
        let subnets = try [IPSubnet(parsing: "10.89.0.0/24"), IPSubnet(parsing: "fd00::/64")]
        for rules in [[("--deny", "all")], [("--deny", "0.0.0.0/0"), ("--deny", "::/0")], [("--deny", "10.0.0.0/8")]] {
            let policy = try EgressPolicy(arguments: rules)
            #expect(!policy.judgesMembers(of: subnets), "\(rules)")
        }
        #expect(try EgressPolicy(arguments: [("--deny", "10.89.0.0/25")]).judgesMembers(of: subnets))
        #expect(try EgressPolicy(arguments: [("--deny", "[fd00::101]:22")]).judgesMembers(of: subnets))

        let lab = try Lab(policy: [("--deny", "all")])
        lab.send(NetworkSwitchTests.echo, from: lab.alphaSpec, to: lab.betaSpec.ipv4, on: lab.alpha)
        #expect(lab.beta.takeWrittenFrames().count == 1, "members still reach each other under --deny all")
        #expect(lab.engine.snapshot.network?.memberFlows == MemberFlowCounters(), "and nothing is tracked")
    }

    /// First rule that names the network decides, in the order given.
    @Test func theFirstRuleNamingTheNetworkDecides() throws {
        let subnets = try [IPSubnet(parsing: "10.89.0.0/24"), IPSubnet(parsing: "fd00::/64")]
        let policy = try EgressPolicy(arguments: [
            ("--deny", "all"), ("--allow", "10.89.0.101:5432"), ("--deny", "10.89.0.0/24")
        ])
        let member: [IPAddress] = [.v4(IPv4Address(10, 89, 0, 101)), .v6(IPv6Address("fd00::101")!)]
        func verdict(_ port: UInt16, _ addresses: [IPAddress] = member) -> PolicyVerdict {
            policy.evaluateBetweenMembers(addresses, port: port, of: subnets).verdict
        }
        #expect(verdict(5432) == .allow)
        #expect(verdict(22) == .deny)
        #expect(verdict(22, [member[1]]) == .allow, "an IPv6 address alone: no rule names it")
    }

    /// An IPv6 packet with an extension header hides its ports from the switch: refused while
    /// rules name the network. An IPv4 later fragment has none and passes.
    @Test func whatCannotBeJudgedIsRefusedWhileRulesNameTheNetwork() throws {
        let lab = try Lab(policy: [("--deny", "[fd00::101]:5432")])
        let inner = FrameBuilder.udp(
            source: lab.alphaSpec.ipv6, sourcePort: 40_000, destination: lab.betaSpec.ipv6, destinationPort: 5432,
            payload: [1, 2, 3])
        let fragment = FrameBuilder.ipv6Fragment(
            nextHeader: .udp, offset: 0, more: false, identification: 1, data: inner)
        let packet = FrameBuilder.ipv6(
            source: lab.alphaSpec.ipv6, destination: lab.betaSpec.ipv6, nextHeader: IPProtocol(rawValue: 44),
            payload: fragment)
        lab.alpha.receive(
            frame: FrameBuilder.ethernet(
                destination: NetworkSwitchTests.gatewayMAC, source: lab.alphaSpec.mac, etherType: .ipv6, payload: packet
            ))
        lab.engine.endOfRound()
        let alphaSource = [lab.alphaSpec.ipv6.high, lab.alphaSpec.ipv6.low].flatMap { half in
            (0..<8).map { UInt8(truncatingIfNeeded: half >> (56 - 8 * $0)) }
        }
        #expect(
            !lab.beta.takeWrittenFrames().contains { $0.count >= 38 && Array($0[22..<38]) == alphaSource },
            "nothing of alpha's reaches beta (the stack's own neighbour solicitation may)")
        #expect(lab.engine.snapshot.network?.memberFlows.unjudgeable == 1)

        let later = FrameBuilder.ipv4(
            source: lab.alphaSpec.ipv4, destination: lab.betaSpec.ipv4, protocolNumber: .udp,
            payload: [UInt8](repeating: 0, count: 16), fragmentOffset: 8)
        lab.alpha.receive(
            frame: FrameBuilder.ethernet(
                destination: NetworkSwitchTests.gatewayMAC, source: lab.alphaSpec.mac, etherType: .ipv4, payload: later)
        )
        lab.engine.endOfRound()
        #expect(lab.beta.takeWrittenFrames().count == 1, "a later fragment has no ports to judge")
    }

    /// With `--log-connections` and no rules, every member flow is written when it ends: a TCP
    /// flow at its RST, a UDP flow when its member leaves; a refused one by the stack at once.
    @Test func theConnectionLogHasEveryMemberFlow() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("member-log-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let lab = try Lab(logConnections: path)
        let (alpha, beta) = (lab.alphaSpec.ipv4, lab.betaSpec.ipv4)
        lab.send(
            Self.tcp(.syn, from: alpha, port: 40_000, to: beta, port: 80), from: lab.alphaSpec, to: beta,
            protocolNumber: .tcp, on: lab.alpha)
        lab.send(
            Self.tcp([.syn, .ack], from: beta, port: 80, to: alpha, port: 40_000), from: lab.betaSpec, to: alpha,
            protocolNumber: .tcp, on: lab.beta)
        lab.send(
            Self.tcp([.ack, .psh], from: alpha, port: 40_000, to: beta, port: 80, payload: Array("hello".utf8)),
            from: lab.alphaSpec, to: beta, protocolNumber: .tcp, on: lab.alpha)
        lab.send(
            Self.tcp([.rst, .ack], from: beta, port: 80, to: alpha, port: 40_000), from: lab.betaSpec, to: alpha,
            protocolNumber: .tcp, on: lab.beta)
        lab.send(
            Self.udp(from: alpha, port: 40_001, to: beta, port: 53, 3), from: lab.alphaSpec, to: beta,
            protocolNumber: .udp, on: lab.alpha)
        lab.send(
            Self.udp(from: beta, port: 53, to: alpha, port: 40_001, 9), from: lab.betaSpec, to: alpha,
            protocolNumber: .udp, on: lab.beta)
        #expect(lab.engine.leave(lab.betaSpec.id))
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(
            lines.first?.contains(
                #""protocol":"tcp","source":"10.89.0.100:40000","destination":"10.89.0.101:80","verdict":"allow","bytes_from_app":5,"bytes_to_app":0"#
            ) == true)
        #expect(
            lines.last?.contains(
                #""protocol":"udp","source":"10.89.0.100:40001","destination":"10.89.0.101:53","verdict":"allow","bytes_from_app":3,"bytes_to_app":9"#
            ) == true)
        #expect(lab.engine.snapshot.network?.memberFlows.finished == 2)
    }

    /// One member opening flows without end is dropped at half the table while the other still
    /// opens its own.
    @Test func aMemberAtItsShareOfTheTableLeavesRoomForTheOther() throws {
        let lab = try Lab(policy: [("--deny", "10.89.0.0/24:22")])
        let (alpha, beta) = (lab.alphaSpec.ipv4, lab.betaSpec.ipv4)
        let share = 8192
        for port in 0..<share + 1 {
            lab.send(
                Self.udp(from: alpha, port: UInt16(10_000 + port), to: beta, port: 9, 0), from: lab.alphaSpec,
                to: beta, protocolNumber: .udp, on: lab.alpha)
            if port % 128 == 0 { _ = lab.beta.takeWrittenFrames() }
        }
        lab.send(
            Self.udp(from: beta, port: 40_000, to: alpha, port: 9, 0), from: lab.betaSpec, to: alpha,
            protocolNumber: .udp, on: lab.beta)
        let flows = try #require(lab.engine.snapshot.network)
        #expect(flows.memberFlows.refusedAtShare == 1)
        #expect(flows.memberFlows.opened == UInt64(share) + 1, "alpha's share, and beta's one")
        #expect(flows.memberFlowsOpen == share + 1)
    }
}
