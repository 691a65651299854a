import Link
import Netstack
import NetstackTesting
import Testing
import Wire

/// A stand-in transport on protocol 6 that records what the stack hands it.
final class FakeTransport: TransportProtocolHandler {
    let protocolNumber = IPProtocol.tcp
    var segments: [(IPPacketInfo, [UInt8])] = []
    var errors: [TransportICMPError.Kind] = []
    var verdict = SegmentVerdict.consumed
    var deadline: NetstackInstant?
    var timersRun: [NetstackInstant] = []

    func handleSegment(_ segment: InboundSegment, now: NetstackInstant) -> SegmentVerdict {
        segments.append((segment.ip, Array(segment.bytes)))
        return verdict
    }

    func handleICMPError(_ error: TransportICMPError, now: NetstackInstant) -> Bool {
        errors.append(error.kind)
        return true
    }

    var nextDeadline: NetstackInstant? { deadline }

    func handleTimers(now: NetstackInstant) {
        timersRun.append(now)
        deadline = nil
    }
}

@Suite struct TransportTests {
    @Test func registeredHandlerReceivesSegmentsAndErrorsAndTimers() throws {
        let h = Harness()
        h.learnPeer()
        let tcp = FakeTransport()
        h.stack.register(tcp)
        h.receiveIPv4(FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .tcp, payload: bytes(20)))
        #expect(tcp.segments.count == 1)
        #expect(tcp.segments.first?.1 == bytes(20))
        #expect(tcp.segments.first?.0.isLocalAddress == true)

        tcp.verdict = .unreachable(.portUnreachable)
        h.receiveIPv4(FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .tcp, payload: bytes(20)))
        #expect(
            h.written().compactMap(\.icmp).map(\.repr) == [
                .destinationUnreachable(code: .portUnreachable, nextHopMTU: 0)
            ])

        let quote = FrameBuilder.ipv4(source: stackIP, destination: peerIP, protocolNumber: .tcp, payload: bytes(8))
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: stackIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.destinationUnreachable(code: .hostUnreachable, nextHopMTU: 0), data: quote))
        )
        #expect(tcp.errors == [.destinationUnreachable(.hostUnreachable)])

        let due = h.clock.now.advanced(by: .milliseconds(200))
        tcp.deadline = due
        #expect(h.stack.nextDeadline == due)
        h.advance(by: .milliseconds(100))
        #expect(tcp.timersRun.isEmpty)
        h.advance(by: .milliseconds(100))
        #expect(tcp.timersRun == [due])
    }

    @Test func transportSendBuildsHeaderInPlaceAndFragments() throws {
        let h = Harness()
        h.learnPeer()
        let payload = bytes(3000)
        let outcome = try payload.withUnsafeBytes { buffer in
            try h.stack.sendIPv4(
                IPv4SendRequest(source: stackIP, destination: peerIP, protocolNumber: .tcp),
                transportHeaderLength: 20, payload: buffer
            ) { header in
                for i in 0..<20 { header[i] = 0xA0 &+ UInt8(i) }
            }
        }
        #expect(outcome == .sent)
        var joined: [UInt8] = []
        for case .ipv4(let ip, let data, _) in h.written() {
            #expect(ip.protocolNumber == .tcp)
            joined += data
        }
        #expect(Array(joined.prefix(20)) == (0..<20).map { 0xA0 &+ UInt8($0) })
        #expect(Array(joined.dropFirst(20)) == payload)
    }

    @Test func routeReportsMTUAndCapabilities() {
        let h = Harness(mtu: 9000)
        let route = h.stack.route(to: .v4(remoteIP))
        #expect(route?.mtu == 9000)
        #expect(route?.source == .v4(stackIP))
        #expect(route?.nextHop == .v4(peerIP))
        #expect(route?.linkCapabilities.contains(.resolutionRequired) == true)
    }

    @Test func gatewayVerdictConsultsTheHookOnlyInGatewayMode() {
        let hook = RecordingHook(verdict: .reject(.portUnreachable))
        let flow = FlowKey(
            protocolNumber: .tcp, source: .v4(peerIP), sourcePort: 1, destination: .v4(remoteIP), destinationPort: 80)
        let gateway = Harness.gateway(hook: hook)
        #expect(gateway.stack.gatewayVerdict(for: flow, now: gateway.clock.now) == .reject(.portUnreachable))
        let plain = Harness()
        plain.stack.gatewayHook = hook
        #expect(plain.stack.gatewayVerdict(for: flow, now: plain.clock.now) == .drop)
        #expect(hook.flows.count == 1)
    }
}
