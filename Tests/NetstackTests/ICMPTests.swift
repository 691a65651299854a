import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct ICMPTests {
    @Test func echoRequestIsAnsweredWithSameIdentifierSequenceAndData() {
        let h = Harness()
        h.learnPeer()
        let data = bytes(56)
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.echoRequest(identifier: 0x1234, sequence: 7), data: data)))
        let frames = h.written()
        #expect(frames.compactMap(\.icmp).map(\.repr) == [.echoReply(identifier: 0x1234, sequence: 7)])
        #expect(frames.compactMap(\.icmp).first?.data == data)
        guard case .ipv4(let ip, _, _)? = frames.first else {
            Issue.record("no reply")
            return
        }
        #expect(ip.source == stackIP && ip.destination == peerIP)
        #expect(h.counters.icmpEchoRepliesSent == 1)
    }

    @Test func echoWithBadChecksumIsDropped() {
        let h = Harness()
        h.learnPeer()
        var icmp = FrameBuilder.icmp(.echoRequest(identifier: 1, sequence: 1), data: [1, 2])
        icmp[2] ^= 1
        h.receiveIPv4(FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .icmp, payload: icmp))
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .icmpBadChecksum] == 1)
    }

    @Test func broadcastEchoIsIgnored() {
        let h = Harness()
        h.learnPeer()
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: IPv4Address(10, 0, 2, 255), protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.echoRequest(identifier: 1, sequence: 1), data: [])),
            destinationMAC: .broadcast)
        #expect(h.written().isEmpty)
    }

    @Test func fragmentedEchoIsReassembledAndReplyFragmented() {
        let h = Harness()
        h.learnPeer()
        let icmp = FrameBuilder.icmp(.echoRequest(identifier: 5, sequence: 6), data: bytes(3000))
        for fragment in FrameBuilder.fragments(of: icmp, chunk: 1480) {
            h.receiveIPv4(
                FrameBuilder.ipv4(
                    source: peerIP, destination: stackIP, protocolNumber: .icmp, payload: fragment.bytes,
                    identification: 3, moreFragments: fragment.more, fragmentOffset: fragment.offset))
        }
        var joined: [UInt8] = []
        var count = 0
        for case .ipv4(_, let data, _) in h.written() {
            joined += data
            count += 1
        }
        #expect(count == 3)
        let parsed = joined.withUnsafeBytes { try? ICMPv4Repr.parse($0, verifyChecksum: true) }
        #expect(parsed?.repr == .echoReply(identifier: 5, sequence: 6))
        #expect(parsed.map { Array($0.data) } == bytes(3000))
    }

    @Test func udpToClosedPortGetsPortUnreachableQuotingTheDatagram() {
        let h = Harness()
        h.learnPeer()
        h.receiveUDP(port: 9999, payload: bytes(20))
        let icmp = h.written().compactMap(\.icmp)
        #expect(icmp.map(\.repr) == [.destinationUnreachable(code: .portUnreachable, nextHopMTU: 0)])
        // The quote starts with the original header: its source is the peer, its protocol UDP.
        let quoted = icmp.first.flatMap { message in
            message.data.withUnsafeBytes { try? IPv4Packet(quoted: $0) }.map { ($0.source, $0.protocolNumber) }
        }
        #expect(quoted?.0 == peerIP && quoted?.1 == .udp)
        #expect(h.counters[drop: .udpNoListener] == 1)
    }

    @Test func unknownProtocolGetsProtocolUnreachable() {
        let h = Harness()
        h.learnPeer()
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: IPProtocol(rawValue: 99), payload: [1, 2, 3]))
        #expect(
            h.written().compactMap(\.icmp).map(\.repr) == [
                .destinationUnreachable(code: .protocolUnreachable, nextHopMTU: 0)
            ])
        #expect(h.counters[drop: .unknownProtocol] == 1)
    }

    @Test func errorsAreRateLimited() {
        var configuration = Stack.Configuration()
        configuration.icmpErrorRateLimit = RateLimit(perSecond: 10, burst: 5)
        let h = Harness(configuration: configuration)
        h.learnPeer()
        for _ in 0..<20 { h.receiveUDP(port: 9999, payload: [1]) }
        #expect(h.written().count == 5)
        #expect(h.counters[drop: .icmpRateLimited] == 15)
        // Half a second refills five tokens.
        h.advance(by: .milliseconds(500))
        for _ in 0..<20 { h.receiveUDP(port: 9999, payload: [1]) }
        #expect(h.written().count == 5)
    }

    @Test func noErrorAboutBroadcastsOrNonInitialFragments() {
        let h = Harness()
        h.learnPeer()
        h.receiveUDP(to: IPv4Address(10, 0, 2, 255), port: 9999, payload: [1])
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: IPProtocol(rawValue: 99), payload: bytes(16),
                identification: 4, moreFragments: false, fragmentOffset: 8))
        #expect(h.written().isEmpty)
    }

    @Test func noErrorAboutAnICMPError() {
        let h = Harness()
        h.learnPeer()
        // A Time Exceeded to an unknown... protocol-unreachable trigger: an ICMP error inside an
        // unknown-protocol packet is not possible, so send an ICMP error quoting nothing we own.
        let quote = FrameBuilder.ipv4(
            source: stackIP, destination: peerIP, protocolNumber: .udp,
            payload: FrameBuilder.udp(
                source: stackIP, sourcePort: 1, destination: peerIP, destinationPort: 2, payload: []))
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.destinationUnreachable(code: .portUnreachable, nextHopMTU: 0), data: quote))
        )
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .icmpErrorNoOwner] == 1)
    }

    @Test func inboundPortUnreachableReachesTheSendingEndpoint() throws {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: recorder)
        try send(endpoint, bytes(10), to: peerIP, port: 53)
        guard case .ipv4(_, let sentUDP, _)? = h.written().first else {
            Issue.record("nothing sent")
            return
        }
        let quote = FrameBuilder.ipv4(source: stackIP, destination: peerIP, protocolNumber: .udp, payload: sentUDP)
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.destinationUnreachable(code: .portUnreachable, nextHopMTU: 0), data: quote))
        )
        #expect(recorder.errors == [.destinationUnreachable(.portUnreachable)])
        #expect(endpoint.lastError == .destinationUnreachable(.portUnreachable))
        #expect(h.counters.icmpErrorsDelivered == 1)
    }

    @Test func fragmentationNeededCarriesTheMTU() throws {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: recorder)
        try send(endpoint, bytes(10), to: remoteIP, port: 53)
        guard case .ipv4(_, let sentUDP, _)? = h.written().first else {
            Issue.record("nothing sent")
            return
        }
        let quote = FrameBuilder.ipv4(
            source: stackIP, destination: remoteIP, protocolNumber: .udp, payload: Array(sentUDP.prefix(8)))
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(
                    .destinationUnreachable(code: .fragmentationNeeded, nextHopMTU: 1280), data: quote)))
        #expect(recorder.errors == [.fragmentationNeeded(nextHopMTU: 1280)])
    }
}
