import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct IPv6TransportTests {
    @Test func registeredHandlerReceivesIPv6SegmentsAndICMPv6Errors() {
        let h = Harness6()
        h.learnPeer()
        let tcp = FakeTransport()
        h.stack.register(tcp)
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .tcp, payload: bytes(20), hopLimit: 33))
        #expect(tcp.segments.map(\.1) == [bytes(20)])
        #expect(
            tcp.segments.first?.0
                == IPPacketInfo(
                    source: .v6(peerIP6), destination: .v6(stackIP6), protocolNumber: .tcp, ttl: 33,
                    dscpECN: 0, nic: h.nic, isLocalAddress: true, isBroadcast: false,
                    wasReassembled: false))

        // A port-unreachable verdict becomes ICMPv6 Destination Unreachable code 4.
        tcp.verdict = .unreachable(.portUnreachable)
        h.receive(FrameBuilder.ipv6(source: peerIP6, destination: stackIP6, nextHeader: .tcp, payload: bytes(20)))
        #expect(h.written().compactMap(\.icmpv6).map(\.repr) == [.destinationUnreachable(code: .portUnreachable)])

        // Errors quoting a TCP segment of ours go to the handler, behind extension headers too.
        let options: [UInt8] = [IPProtocol.tcp.rawValue, 0, 1, 4, 0, 0, 0, 0]
        let quote = FrameBuilder.ipv6(
            source: stackIP6, destination: remoteIP6, nextHeader: .destinationOptions, payload: options + bytes(20))
        h.receiveICMPv6(.packetTooBig(mtu: 1400), data: quote, from: v6("2001:db8::fe"))
        h.receiveICMPv6(
            .destinationUnreachable(code: .administrativelyProhibited), data: quote, from: v6("2001:db8::fe"))
        #expect(
            tcp.errors == [
                .fragmentationNeeded(nextHopMTU: 1400),
                .destinationUnreachable(.communicationAdministrativelyProhibited)
            ])
    }

    @Test func sendIPv6BuildsTheHeaderInPlaceAndFragmentsWithoutDontFragment() throws {
        let h = Harness6()
        h.learnPeer()
        let payload = bytes(3000)
        let outcome = try payload.withUnsafeBytes { buffer in
            try h.stack.sendIPv6(
                IPv6SendRequest(source: stackIP6, destination: peerIP6, protocolNumber: .tcp),
                transportHeaderLength: 20, payload: buffer
            ) { header in
                for i in 0..<20 { header[i] = 0xA0 &+ UInt8(i) }
            }
        }
        #expect(outcome == .sent)
        let fragments = h.written().compactMap(\.ipv6Fragment).sorted {
            $0.header.fragmentOffset < $1.header.fragmentOffset
        }
        #expect(fragments.count == 3)
        let joined = fragments.flatMap(\.data)
        #expect(Array(joined.prefix(20)) == (0..<20).map { 0xA0 &+ UInt8($0) })
        #expect(Array(joined.dropFirst(20)) == payload)
    }

    @Test func sendIPv6WithDontFragmentReportsTheRouteMTU() throws {
        let h = Harness6()
        h.learnPeer()
        h.stack.addRoute(
            Route(
                destination: .v6(IPv6Subnet(v6("2001:db8::"), prefixLength: 32)), gateway: .v6(peerIP6), nic: h.nic,
                mtu: 1280))
        #expect(h.stack.route(to: .v6(remoteIP6))?.mtu == 1280)
        let payload = bytes(1300)
        #expect(throws: SendError.messageTooLong(mtu: 1280)) {
            try payload.withUnsafeBytes { buffer in
                try h.stack.sendIPv6(
                    IPv6SendRequest(destination: remoteIP6, protocolNumber: .tcp, dontFragment: true),
                    transportHeaderLength: 20, payload: buffer
                ) { _ in }
            }
        }
        #expect(h.counters[drop: .messageTooLong] == 1)
    }

    @Test func icmpv6CannotBeReplacedByARegisteredHandler() {
        final class Impostor: TransportProtocolHandler {
            let protocolNumber = IPProtocol.icmpv6
            var seen = 0
            func handleSegment(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict {
                seen += 1
                return .consumed
            }
            func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool { false }
            var nextDeadline: NetstackInstant? { nil }
            func handleTimers(now: NetstackInstant) {}
        }
        let h = Harness6()
        h.learnPeer()
        let impostor = Impostor()
        h.stack.register(impostor)
        h.receiveICMPv6(.echoRequest(identifier: 1, sequence: 1))
        #expect(impostor.seen == 0)
        #expect(h.counters.icmpEchoRepliesSent == 1)
    }
}
