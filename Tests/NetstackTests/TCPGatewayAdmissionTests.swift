// Gateway admission of TCP, segment by segment (TCPTransport+Admission.swift): a gateway-mode
// stack on a MemoryLink with a scripted hook, so every verdict, including a deferred one
// resolved later, is checked as the exact frames the app would see. No root, no sockets.

import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct TCPGatewayAdmissionTests {
    static let app = IPv4Address(10, 0, 2, 100)
    static let remote = IPv4Address(198, 51, 100, 7)
    static let app6 = v6("fd00::100")
    static let remote6 = v6("2001:db8:1::2")

    /// The gateway's side of the app's link, with the hook answering `verdict` and counting
    /// what it was asked.
    final class Harness: GatewayFlowHook {
        let stack: Stack
        let link = MemoryLink(linkAddress: MACAddress(0x02, 0, 0, 0, 0, 0x01))
        let tcp: TCPTransport
        let listener = TCPListener(config: TCPConfig(), secret: (5, 6))
        let clock = FakeClock()
        var verdict: (FlowKey) -> FlowVerdict = { _ in .accept }
        private(set) var asked: [FlowKey] = []

        init() {
            var configuration = Stack.Configuration()
            configuration.gatewayMode = true
            stack = Stack(configuration: configuration)
            let nic = stack.addNIC(link)
            stack.addAddress(IPv4Subnet(IPv4Address(10, 0, 2, 2), prefixLength: 24), to: nic)
            stack.addAddress(IPv6Subnet(v6("fd00::2"), prefixLength: 64), to: nic)
            stack.addStaticNeighbour(TCPGatewayAdmissionTests.app, MACAddress(0x02, 0, 0, 0, 0, 0x02), on: nic)
            stack.addStaticNeighbour(TCPGatewayAdmissionTests.app6, MACAddress(0x02, 0, 0, 0, 0, 0x02), on: nic)
            tcp = TCPTransport(stack: stack)
            tcp.acceptForAnyDestination(listener)
            stack.gatewayHook = self
            stack.advance(to: clock.now)
        }

        func stack(_ stack: Stack, verdictFor flow: FlowKey, now: NetstackInstant) -> FlowVerdict {
            asked.append(flow)
            return verdict(flow)
        }

        /// The app sends `segment` to `destination`; returns what the gateway answered.
        @discardableResult
        func receive(_ segment: TCPRepr, to destination: IPv4Address = TCPGatewayAdmissionTests.remote)
            -> [DecodedFrame]
        {
            link.receive(
                frame: TCPGatewayAdmissionTests.frame(segment, from: TCPGatewayAdmissionTests.app, to: destination))
            stack.flush()
            return link.takeWrittenFrames().map(DecodedFrame.init)
        }

        func resolve(_ flow: TCPFlowID, with verdict: FlowVerdict) -> [DecodedFrame] {
            tcp.resolve(flow, with: verdict, now: clock.now)
            stack.flush()
            return link.takeWrittenFrames().map(DecodedFrame.init)
        }
    }

    static let flow = TCPFlowID(local: TCPSocketAddress(.v4(remote), 443), remote: TCPSocketAddress(.v4(app), 40000))

    static func syn(seq: UInt32 = 9, port: UInt16 = 443) -> TCPRepr {
        TCPRepr(
            sourcePort: 40000, destinationPort: port, sequenceNumber: SeqNumber(rawValue: seq),
            acknowledgmentNumber: SeqNumber(rawValue: 0), flags: .syn, window: 65535, urgentPointer: 0,
            options: TCPOptions(mss: 1460), payloadLength: 0)
    }

    static func frame(_ segment: TCPRepr, from source: IPv4Address, to destination: IPv4Address) -> [UInt8] {
        frame(segment, from: .v4(source), to: .v4(destination))
    }

    static func frame6(_ segment: TCPRepr, from source: IPv6Address, to destination: IPv6Address) -> [UInt8] {
        frame(segment, from: .v6(source), to: .v6(destination))
    }

    /// An Ethernet frame from the app carrying `segment`, checksummed for its family.
    static func frame(_ segment: TCPRepr, from source: IPAddress, to destination: IPAddress) -> [UInt8] {
        let pseudo: PseudoHeader =
            switch (source, destination) {
            case (.v6(let source), .v6(let destination)): .v6(source: source, destination: destination)
            case (.v4(let source), .v4(let destination)): .v4(source: source, destination: destination)
            default: preconditionFailure("mixed families")
            }
        var bytes = [UInt8](repeating: 0, count: segment.headerLength)
        bytes.withUnsafeMutableBytes {
            segment.emit(
                into: $0, payload: UnsafeRawBufferPointer(start: nil, count: 0), pseudoHeader: pseudo,
                checksum: .compute)
        }
        let (packet, etherType): ([UInt8], EtherType) =
            switch (source, destination) {
            case (.v6(let source), .v6(let destination)):
                (FrameBuilder.ipv6(source: source, destination: destination, nextHeader: .tcp, payload: bytes), .ipv6)
            case (.v4(let source), .v4(let destination)):
                (
                    FrameBuilder.ipv4(source: source, destination: destination, protocolNumber: .tcp, payload: bytes),
                    .ipv4
                )
            default:
                preconditionFailure("mixed families")
            }
        return FrameBuilder.ethernet(
            destination: MACAddress(0x02, 0, 0, 0, 0, 0x01), source: MACAddress(0x02, 0, 0, 0, 0, 0x02),
            etherType: etherType, payload: packet)
    }

    /// The TCP segment of an IPv4 frame, checksum verified.
    static func tcp(_ frame: DecodedFrame) -> (ip: IPv4Repr, segment: TCPRepr)? {
        guard case .ipv4(let ip, let payload, _) = frame, ip.protocolNumber == .tcp else { return nil }
        return payload.withUnsafeBytes { raw in
            guard let segment = try? TCPSegment(raw),
                let repr = try? TCPRepr.parse(segment, checksum: .v4(source: ip.source, destination: ip.destination))
            else { return nil }
            return (ip, repr)
        }
    }

    // MARK: Immediate verdicts

    @Test func acceptedSYNIsAnsweredWithSYNACKFromTheDestination() throws {
        let h = Harness()
        let replies = h.receive(Self.syn()).compactMap(Self.tcp)
        let (ip, synAck) = try #require(replies.only)
        #expect(ip.source == Self.remote && ip.destination == Self.app)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.acknowledgmentNumber == SeqNumber(rawValue: 10))
        #expect(h.asked == [Self.flow.flowKey])

        let ack = TCPRepr(
            sourcePort: 40000, destinationPort: 443, sequenceNumber: SeqNumber(rawValue: 10),
            acknowledgmentNumber: synAck.sequenceNumber &+ 1, flags: .ack, window: 65535, urgentPointer: 0,
            options: TCPOptions(), payloadLength: 0)
        #expect(h.receive(ack).isEmpty)
        let accepted = try #require(h.listener.accept())
        #expect(accepted.state == .established)
        #expect(accepted.flow == Self.flow)
    }

    /// RFC 9293 3.10.7.1's answer to a refused SYN: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>,
    /// so the app sees ECONNREFUSED at once.
    @Test func portUnreachableVerdictAnswersWithReset() throws {
        let h = Harness()
        h.verdict = { _ in .reject(.portUnreachable) }
        let (ip, reset) = try #require(h.receive(Self.syn()).compactMap(Self.tcp).only)
        #expect(ip.source == Self.remote)
        #expect(reset.flags == [.rst, .ack])
        #expect(reset.sequenceNumber == SeqNumber(rawValue: 0))
        #expect(reset.acknowledgmentNumber == SeqNumber(rawValue: 10))
        #expect(h.tcp.counters.gatewayRejected == 1)
    }

    /// Any other code: Destination Unreachable from the destination, quoting the SYN's IP
    /// header, its ports and its sequence number (RFC 792; what RFC 5927 4.1 has the app check).
    @Test func unreachableVerdictAnswersWithICMPQuotingTheSYN() throws {
        let h = Harness()
        h.verdict = { _ in .reject(.hostUnreachable) }
        let frame = try #require(h.receive(Self.syn(seq: 0x0102_0304)).only)
        guard case .ipv4(let ip, _, _) = frame else {
            Issue.record("not IPv4")
            return
        }
        #expect(ip.source == Self.remote && ip.destination == Self.app)
        let (repr, quote) = try #require(frame.icmp)
        #expect(repr == .destinationUnreachable(code: .hostUnreachable, nextHopMTU: 0))
        let quoted = try quote.withUnsafeBytes { try IPv4Repr.parse(IPv4Packet(quoted: $0), verifyChecksum: true) }
        #expect(quoted.source == Self.app && quoted.destination == Self.remote && quoted.protocolNumber == .tcp)
        #expect(Array(quote[20..<28]) == [0x9c, 0x40, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04])
        #expect(h.tcp.counters.gatewayUnreachable == 1)
    }

    @Test func unreachableVerdictForIPv6AnswersWithICMPv6() throws {
        let h = Harness()
        h.verdict = { _ in .reject(.communicationAdministrativelyProhibited) }
        h.link.receive(frame: Self.frame6(Self.syn(), from: Self.app6, to: Self.remote6))
        h.stack.flush()
        let frame = try #require(h.link.takeWrittenFrames().map(DecodedFrame.init).only)
        guard case .ipv6(let ip, _, _) = frame else {
            Issue.record("not IPv6")
            return
        }
        #expect(ip.source == Self.remote6 && ip.destination == Self.app6)
        let (repr, quote) = try #require(frame.icmpv6)
        #expect(repr == .destinationUnreachable(code: .administrativelyProhibited))
        #expect(Array(quote[40..<48]) == [0x9c, 0x40, 0x01, 0xbb, 0, 0, 0, 9])
    }

    @Test func dropVerdictSendsNothing() {
        let h = Harness()
        h.verdict = { _ in .drop }
        #expect(h.receive(Self.syn()).isEmpty)
        #expect(h.tcp.counters.gatewayDropped == 1)
    }

    // MARK: Deferred verdicts

    /// The SYN waits while the hook opens the host side; the answer comes when it resolves.
    @Test func deferredSYNIsHeldUntilResolvedThenAnsweredOnce() throws {
        let h = Harness()
        h.verdict = { _ in .deferred }
        #expect(h.receive(Self.syn()).isEmpty)
        #expect(h.tcp.isHoldingSYN(for: Self.flow))
        // The app's SYN retransmissions meanwhile are dropped, and the hook is not asked again.
        h.clock.advance(by: .seconds(1), stacks: h.stack)
        #expect(h.receive(Self.syn()).isEmpty)
        #expect(h.tcp.counters.heldSYNRepeats == 1)
        #expect(h.asked.count == 1)

        let (ip, synAck) = try #require(h.resolve(Self.flow, with: .accept).compactMap(Self.tcp).only)
        #expect(ip.source == Self.remote)
        #expect(synAck.flags == [.syn, .ack])
        #expect(synAck.acknowledgmentNumber == SeqNumber(rawValue: 10))
        #expect(!h.tcp.isHoldingSYN(for: Self.flow))
        // A second resolve has nothing to answer.
        #expect(h.resolve(Self.flow, with: .accept).isEmpty)
    }

    @Test func deferredSYNRefusedLaterGetsReset() throws {
        let h = Harness()
        h.verdict = { _ in .deferred }
        h.receive(Self.syn())
        let (_, reset) = try #require(h.resolve(Self.flow, with: .reject(.portUnreachable)).compactMap(Self.tcp).only)
        #expect(reset.flags == [.rst, .ack])
        #expect(reset.acknowledgmentNumber == SeqNumber(rawValue: 10))
    }

    @Test func deferredSYNFoundUnreachableLaterGetsICMP() throws {
        let h = Harness()
        h.verdict = { _ in .deferred }
        h.receive(Self.syn(seq: 77))
        let frame = try #require(h.resolve(Self.flow, with: .reject(.networkUnreachable)).only)
        let (repr, quote) = try #require(frame.icmp)
        #expect(repr == .destinationUnreachable(code: .networkUnreachable, nextHopMTU: 0))
        #expect(Array(quote[24..<28]) == [0, 0, 0, 77])
    }

    /// A hook whose host side settles at once resolves inside its own call: the SYN is
    /// answered then, and not again when the hook returns `.deferred`.
    @Test func resolvingInsideTheHookAnswersOnce() throws {
        let h = Harness()
        h.verdict = { [unowned h] _ in
            h.tcp.resolve(Self.flow, with: .accept, now: h.clock.now)
            return .deferred
        }
        let replies = h.receive(Self.syn()).compactMap(Self.tcp)
        #expect(replies.map(\.segment.flags) == [[.syn, .ack]])
        #expect(!h.tcp.isHoldingSYN(for: Self.flow))
    }

    @Test func heldSYNsAreBounded() {
        let h = Harness()
        h.verdict = { _ in .deferred }
        h.tcp.maxHeldSYNs = 2
        for port: UInt16 in [1, 2, 3] { h.receive(Self.syn(port: port)) }
        #expect(h.asked.count == 2)
        #expect(h.tcp.counters.heldSYNOverflows == 1)
        #expect(h.tcp.counters.synsHeld == 2)
    }

    // MARK: What the hook is not asked

    /// RFC 1122 4.2.3.10: a SYN to a broadcast address is silently discarded.
    @Test func synToBroadcastIsDiscardedWithoutAsking() {
        let h = Harness()
        #expect(h.receive(Self.syn(), to: IPv4Address(10, 0, 2, 255)).isEmpty)
        #expect(h.asked.isEmpty)
        #expect(h.tcp.counters.broadcastDiscarded == 1)
    }

    /// A listener of the stack's own takes its SYNs; the hook only sees the rest.
    @Test func ownListenerTakesItsSYNsBeforeTheHook() throws {
        let h = Harness()
        h.verdict = { _ in .drop }
        let own = TCPListener(config: TCPConfig(), secret: (1, 2))
        h.tcp.demux.listen(own, port: 53)
        let replies = h.receive(Self.syn(port: 53), to: IPv4Address(10, 0, 2, 2)).compactMap(Self.tcp)
        #expect(replies.map(\.segment.flags) == [[.syn, .ack]])
        #expect(h.asked.isEmpty)
    }

    /// The inward direction (a published port): the stack's own connect to the app sends a
    /// SYN from the client's address, with the MSS of the route, and nothing asks the hook.
    @Test func inwardConnectSendsSYNToTheApp() throws {
        let h = Harness()
        var config = TCPConfig()
        config.mtu = 1500
        let inward = TCPFlowID(
            local: TCPSocketAddress(.v4(Self.remote), 5555), remote: TCPSocketAddress(.v4(Self.app), 8080))
        var output = h.tcp.output
        let connection = try TCPConnection.connect(
            flow: inward, config: config, iss: SeqNumber(rawValue: 1000),
            now: h.clock.now, output: &output)
        h.tcp.demux.register(connection)
        h.stack.flush()
        let (ip, syn) = try #require(h.link.takeWrittenFrames().map(DecodedFrame.init).compactMap(Self.tcp).only)
        #expect(ip.source == Self.remote && ip.destination == Self.app)
        #expect(syn.flags == .syn && syn.sourcePort == 5555 && syn.destinationPort == 8080)
        #expect(syn.sequenceNumber == SeqNumber(rawValue: 1000))
        #expect(syn.options.mss == 1460)
        #expect(h.asked.isEmpty)
    }
}

extension Array {
    /// The one element, or nil when there are none or several.
    fileprivate var only: Element? { count == 1 ? first : nil }
}
