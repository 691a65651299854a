import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct GatewayTests {
    @Test func newUDPFlowAsksTheHookAndIsAnsweredFromTheImpersonatedAddress() throws {
        let hook = RecordingHook(verdict: .accept)
        let h = Harness.gateway(hook: hook)
        h.learnPeer()
        h.receiveUDP(sourcePort: 40_000, to: remoteIP, port: 53, payload: [7, 7])
        #expect(
            hook.flows == [
                FlowKey(
                    protocolNumber: .udp, source: .v4(peerIP), sourcePort: 40_000,
                    destination: .v4(remoteIP), destinationPort: 53)
            ])
        #expect(hook.recorder.datagrams.map(\.payload) == [[7, 7]])
        // The second datagram of the flow finds the endpoint: no second hook call.
        h.receiveUDP(sourcePort: 40_000, to: remoteIP, port: 53, payload: [8])
        #expect(hook.flows.count == 1)
        // The answer comes from the host the app talked to.
        try send(hook.endpoints[0], [9], to: peerIP, port: 40_000)
        guard case .ipv4(let ip, _, let mac)? = h.written().first else {
            Issue.record("no reply")
            return
        }
        #expect(ip.source == remoteIP && ip.destination == peerIP && mac == peerMAC)
    }

    @Test func rejectedFlowGetsAdministrativelyProhibited() {
        let hook = RecordingHook(verdict: .reject(.communicationAdministrativelyProhibited))
        let h = Harness.gateway(hook: hook)
        h.learnPeer()
        h.receiveUDP(to: remoteIP, port: 53, payload: [1])
        let icmp = h.written()
        #expect(
            icmp.compactMap(\.icmp).map(\.repr) == [
                .destinationUnreachable(code: .communicationAdministrativelyProhibited, nextHopMTU: 0)
            ])
        guard case .ipv4(let ip, _, _)? = icmp.first else { return }
        #expect(ip.source == remoteIP)
        #expect(h.counters[drop: .gatewayRejected] == 1)
    }

    @Test func droppedFlowIsSilent() {
        let h = Harness.gateway(hook: RecordingHook(verdict: .drop))
        h.learnPeer()
        h.receiveUDP(to: remoteIP, port: 53, payload: [1])
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .gatewayDropped] == 1)
    }

    @Test func echoToAnyHostIsAnsweredWhenAccepted() {
        let hook = RecordingHook(verdict: .accept)
        let h = Harness.gateway(hook: hook)
        h.learnPeer()
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: peerIP, destination: remoteIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.echoRequest(identifier: 3, sequence: 4), data: [1])))
        let frames = h.written()
        #expect(frames.compactMap(\.icmp).map(\.repr) == [.echoReply(identifier: 3, sequence: 4)])
        guard case .ipv4(let ip, _, _)? = frames.first else { return }
        #expect(ip.source == remoteIP)
        #expect(hook.flows.map(\.protocolNumber) == [.icmp])
    }

    @Test func ttlOneExpiresAtTheGateway() {
        let h = Harness.gateway(hook: RecordingHook(verdict: .accept))
        h.learnPeer()
        let udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 1, destination: remoteIP, destinationPort: 33434, payload: [])
        h.receiveIPv4(
            FrameBuilder.ipv4(source: peerIP, destination: remoteIP, protocolNumber: .udp, payload: udp, ttl: 1))
        let frames = h.written()
        #expect(frames.compactMap(\.icmp).map(\.repr) == [.timeExceeded(code: 0)])
        guard case .ipv4(let ip, _, _)? = frames.first else { return }
        #expect(ip.source == stackIP)
        #expect(h.counters[drop: .ipv4TTLExpired] == 1)
    }

    @Test func withoutAHookNewUDPFlowsAreDropped() {
        let h = Harness.gateway()
        h.learnPeer()
        h.receiveUDP(to: remoteIP, port: 53, payload: [1])
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .gatewayDropped] == 1)
    }

    @Test func multicastIsNotImpersonated() {
        let h = Harness.gateway(hook: RecordingHook(verdict: .accept))
        h.learnPeer()
        h.receiveUDP(to: IPv4Address(224, 0, 0, 251), port: 5353, payload: [1])
        #expect(h.counters[drop: .ipv4NotForUs] == 1)
    }
}
