import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct ICMPv6Tests {
    @Test func echoRequestIsAnsweredWithSameIdentifierSequenceAndData() {
        let h = Harness6()
        h.learnPeer()
        h.receiveICMPv6(.echoRequest(identifier: 0x1234, sequence: 7), data: bytes(56))
        let frames = h.written()
        #expect(frames.compactMap(\.icmpv6).map(\.repr) == [.echoReply(identifier: 0x1234, sequence: 7)])
        #expect(frames.compactMap(\.icmpv6).first?.data == bytes(56))
        #expect(frames.first?.ipv6Header?.source == stackIP6)
        #expect(frames.first?.ipv6Header?.destination == peerIP6)
        #expect(h.counters.icmpEchoRepliesSent == 1)
    }

    @Test func echoToOurLinkLocalAddressIsAnsweredFromIt() {
        let h = Harness6()
        h.stack.addStaticNeighbour(peerLinkLocal, peerMAC, on: h.nic)
        h.receiveICMPv6(.echoRequest(identifier: 1, sequence: 1), from: peerLinkLocal, to: stackLinkLocal)
        let frames = h.written()
        #expect(frames.compactMap(\.icmpv6).map(\.repr) == [.echoReply(identifier: 1, sequence: 1)])
        #expect(frames.first?.ipv6Header?.source == stackLinkLocal)
    }

    @Test func echoToAllNodesIsAnsweredFromAUnicastAddress() {
        let h = Harness6()
        h.learnPeer()
        h.receiveICMPv6(
            .echoRequest(identifier: 1, sequence: 2), to: .allNodes, destinationMAC: IPv6Address.allNodes.multicastMAC)
        let frames = h.written()
        #expect(frames.compactMap(\.icmpv6).map(\.repr) == [.echoReply(identifier: 1, sequence: 2)])
        #expect(frames.first?.ipv6Header?.source == stackIP6)
    }

    @Test func echoWithBadChecksumIsDropped() {
        let h = Harness6()
        h.learnPeer()
        var icmp = FrameBuilder.icmpv6(
            .echoRequest(identifier: 1, sequence: 1), data: [1, 2], source: peerIP6, destination: stackIP6)
        icmp[2] ^= 1
        h.receive(FrameBuilder.ipv6(source: peerIP6, destination: stackIP6, nextHeader: .icmpv6, payload: icmp))
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .icmpBadChecksum] == 1)
    }

    @Test func udpWithoutListenerGetsPortUnreachableQuotingThePacket() {
        let h = Harness6()
        h.learnPeer()
        h.receiveUDP(port: 9999, payload: bytes(20))
        let errors = h.written().compactMap(\.icmpv6)
        #expect(errors.map(\.repr) == [.destinationUnreachable(code: .portUnreachable)])
        // The whole invoking packet fits in the quote.
        #expect(errors.first?.data.count == 40 + 8 + 20)
        #expect(h.counters[drop: .udpNoListener] == 1)
        #expect(h.counters.icmpErrorsSent == 1)
    }

    @Test func errorQuoteIsTrimmedToTheMinimumMTU() {
        let h = Harness6()
        h.learnPeer()
        h.receiveUDP(port: 9999, payload: bytes(1400))
        let frames = h.written()
        #expect(frames.compactMap(\.icmpv6).first?.data.count == 1280 - 48)
        #expect(
            frames.first.map { frame -> Bool in
                guard case .ipv6(_, let payload, _) = frame else { return false }
                return payload.count + 40 == 1280
            } == true)
    }

    @Test func noErrorAboutAMulticastDestinationOrAnICMPv6Error() {
        let h = Harness6()
        h.learnPeer()
        h.receiveUDP(to: .allNodes, port: 9999, payload: bytes(4))
        // An ICMPv6 error about a datagram of ours that nobody sent: no error back about it.
        let quoted = FrameBuilder.ipv6(
            source: stackIP6, destination: peerIP6, nextHeader: .udp,
            payload: FrameBuilder.udp(
                source: stackIP6, sourcePort: 1, destination: peerIP6, destinationPort: 2, payload: []))
        h.receiveICMPv6(.destinationUnreachable(code: .portUnreachable), data: quoted)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .icmpErrorNoOwner] == 1)
    }

    @Test func errorsAreRateLimited() {
        var configuration = Stack.Configuration()
        configuration.icmpErrorRateLimit = RateLimit(perSecond: 1, burst: 3)
        let h = Harness6(configuration: configuration)
        h.learnPeer()
        for _ in 0..<10 { h.receiveUDP(port: 9999, payload: bytes(4)) }
        #expect(h.written().compactMap(\.icmpv6).count == 3)
        #expect(h.counters[drop: .icmpRateLimited] == 7)
        h.advance(by: .seconds(1))
        h.receiveUDP(port: 9999, payload: bytes(4))
        #expect(h.written().compactMap(\.icmpv6).count == 1)
    }

    @Test func inboundErrorsReachTheUDPEndpointThatOwnsTheQuotedFlow() throws {
        let h = Harness6()
        h.learnPeer()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(
            localAddress: .v6(stackIP6), localPort: 5000, remoteAddress: .v6(remoteIP6), remotePort: 53,
            delegate: recorder)
        defer { endpoint.close() }
        let quoted = FrameBuilder.ipv6(
            source: stackIP6, destination: remoteIP6, nextHeader: .udp,
            payload: FrameBuilder.udp(
                source: stackIP6, sourcePort: 5000, destination: remoteIP6,
                destinationPort: 53, payload: bytes(10)))
        let router = v6("2001:db8:ffff::1")
        h.receiveICMPv6(.destinationUnreachable(code: .portUnreachable), data: quoted, from: router)
        h.receiveICMPv6(.packetTooBig(mtu: 1280), data: quoted, from: router)
        h.receiveICMPv6(.timeExceeded(code: 0), data: quoted, from: router)
        h.receiveICMPv6(.parameterProblem(code: 1, pointer: 6), data: quoted, from: router)
        #expect(
            recorder.errors == [
                .destinationUnreachable(.portUnreachable), .fragmentationNeeded(nextHopMTU: 1280),
                .timeExceeded(code: 0), .destinationUnreachable(.protocolUnreachable)
            ])
        #expect(endpoint.lastError == .destinationUnreachable(.protocolUnreachable))
        #expect(h.counters.icmpErrorsDelivered == 4)
    }

    @Test func inboundErrorQuotingAFragmentedDatagramFindsTheTransportBehindTheFragmentHeader() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: recorder)
        defer { endpoint.close() }
        let udp = FrameBuilder.udp(
            source: stackIP6, sourcePort: 5000, destination: remoteIP6, destinationPort: 53, payload: bytes(40))
        let quoted = FrameBuilder.ipv6(
            source: stackIP6, destination: remoteIP6, nextHeader: .fragment,
            payload: FrameBuilder.ipv6Fragment(nextHeader: .udp, offset: 0, more: true, identification: 1, data: udp))
        h.receiveICMPv6(.timeExceeded(code: 1), data: quoted, from: remoteIP6)
        #expect(recorder.errors == [.timeExceeded(code: 1)])
    }
}
