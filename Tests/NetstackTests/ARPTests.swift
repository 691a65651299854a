import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct ARPTests {
    func request(target: IPv4Address, sender: IPv4Address = peerIP) -> [UInt8] {
        FrameBuilder.arp(
            ARPRepr(
                operation: .request, senderHardwareAddress: peerMAC, senderProtocolAddress: sender,
                targetHardwareAddress: .zero, targetProtocolAddress: target), destination: .broadcast)
    }

    @Test func requestForOwnAddressIsAnsweredAndSenderLearned() {
        let h = Harness()
        h.receive(request(target: stackIP))
        let frames = h.written()
        #expect(
            frames == [
                .arp(
                    ARPRepr(
                        operation: .reply, senderHardwareAddress: stackMAC, senderProtocolAddress: stackIP,
                        targetHardwareAddress: peerMAC, targetProtocolAddress: peerIP), ethernetDestination: peerMAC)
            ])
        #expect(h.stack.neighbourEntries(of: h.nic).map(\.state) == [.reachable(peerMAC)])
    }

    @Test func requestForAnotherAddressIsIgnoredAndNotLearned() {
        let h = Harness()
        h.receive(request(target: IPv4Address(10, 0, 2, 50)))
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .arpNotForUs] == 1)
        // RFC 826: no entry is created when we are not the target.
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
    }

    @Test func gatewaySubnetPolicyClaimsOtherHostsButNeverTheAppOrProbes() {
        let h = Harness.gateway()
        h.stack.setARPReplyPolicy(.anyInSubnet(excluding: [peerIP]), on: h.nic)
        h.receive(request(target: IPv4Address(10, 0, 2, 50)))
        h.receive(request(target: peerIP)) // the app's own address
        h.receive(request(target: IPv4Address(10, 0, 2, 255))) // broadcast
        h.receive(request(target: IPv4Address(10, 0, 2, 60), sender: .any)) // RFC 5227 probe
        h.receive(request(target: IPv4Address(192, 168, 1, 1))) // off-subnet
        let replies = h.written().compactMap { frame -> IPv4Address? in
            if case .arp(let arp, _) = frame, arp.operation == .reply { return arp.senderProtocolAddress }
            return nil
        }
        #expect(replies == [IPv4Address(10, 0, 2, 50)])
    }

    @Test func gatewayDefaultPolicyAnswersOnlyOwnAddresses() {
        let h = Harness.gateway()
        h.receive(request(target: IPv4Address(10, 0, 2, 50)))
        #expect(h.written().isEmpty)
        h.receive(request(target: stackIP))
        #expect(h.written().count == 1)
    }

    @Test func sendWaitsForResolutionThenFlushesQueue() throws {
        let h = Harness()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        let first = try send(endpoint, [1, 2, 3], to: peerIP, port: 7)
        let second = try send(endpoint, [9], to: peerIP, port: 7)
        #expect(first == .queuedForResolution && second == .queuedForResolution)
        let before = h.written()
        // Exactly one ARP request for both queued datagrams.
        #expect(before.count == 1)
        guard case .arp(let arp, let destination)? = before.first else {
            Issue.record("expected ARP")
            return
        }
        #expect(arp.operation == .request && arp.targetProtocolAddress == peerIP && destination == .broadcast)
        h.receive(
            FrameBuilder.arp(
                ARPRepr(
                    operation: .reply, senderHardwareAddress: peerMAC, senderProtocolAddress: peerIP,
                    targetHardwareAddress: stackMAC, targetProtocolAddress: stackIP), destination: stackMAC))
        let after = h.written()
        #expect(after.compactMap(\.udp).map(\.payload) == [[1, 2, 3], [9]])
        for case .ipv4(_, _, let mac) in after { #expect(mac == peerMAC) }
    }

    @Test func unansweredRequestIsRetriedThenQueueDropped() throws {
        let h = Harness()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        _ = try send(endpoint, [1], to: peerIP, port: 7)
        var requests = h.written().count
        for _ in 0..<5 {
            h.advance(by: .seconds(1))
            requests += h.written().count
        }
        // One request, two retries (maxProbes 3), then the entry fails.
        #expect(requests == 3)
        #expect(h.counters[drop: .neighbourUnresolved] == 1)
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
    }

    @Test func resolvedEntryExpiresAndIsResolvedAgain() throws {
        var configuration = Stack.Configuration()
        configuration.neighbour.reachableTime = .seconds(10)
        let h = Harness(configuration: configuration)
        h.receive(request(target: stackIP))
        _ = h.written()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        #expect(try send(endpoint, [1], to: peerIP, port: 7) == .sent)
        _ = h.written()
        h.advance(by: .seconds(11))
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
        #expect(try send(endpoint, [1], to: peerIP, port: 7) == .queuedForResolution)
        guard case .arp(let arp, _)? = h.written().first else {
            Issue.record("expected ARP request")
            return
        }
        #expect(arp.targetProtocolAddress == peerIP)
    }

    @Test func entryInUseIsRefreshedWithAUnicastRequestBeforeItExpires() throws {
        var configuration = Stack.Configuration()
        configuration.neighbour.reachableTime = .seconds(10)
        let h = Harness(configuration: configuration)
        h.receive(request(target: stackIP))
        _ = h.written()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        h.advance(by: .seconds(6))
        #expect(try send(endpoint, [1], to: peerIP, port: 7) == .sent)
        #expect(h.written().count == 1) // outside the refresh window: no probe
        h.advance(by: .seconds(2)) // 2 s before expiry (window: 3 probes x 1 s)
        #expect(try send(endpoint, [2], to: peerIP, port: 7) == .sent)
        #expect(try send(endpoint, [3], to: peerIP, port: 7) == .sent)
        let frames = h.written()
        let probes = frames.compactMap { frame -> MACAddress? in
            if case .arp(let arp, let destination) = frame, arp.operation == .request,
                arp.targetProtocolAddress == peerIP
            {
                return destination
            }
            return nil
        }
        #expect(probes == [peerMAC]) // one unicast poll, not one per packet
        #expect(frames.compactMap(\.udp).map(\.payload) == [[2], [3]])
        h.receive(
            FrameBuilder.arp(
                ARPRepr(
                    operation: .reply, senderHardwareAddress: peerMAC, senderProtocolAddress: peerIP,
                    targetHardwareAddress: stackMAC, targetProtocolAddress: stackIP), destination: stackMAC))
        h.advance(by: .seconds(5)) // past the original expiry
        #expect(h.stack.neighbourEntries(of: h.nic).map(\.state) == [.reachable(peerMAC)])
        #expect(try send(endpoint, [4], to: peerIP, port: 7) == .sent)
    }

    @Test func pendingQueueIsBoundedPerNeighbour() throws {
        var configuration = Stack.Configuration()
        configuration.neighbour.pendingPacketsPerNeighbour = 4
        let h = Harness(configuration: configuration)
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        for i in 0..<10 {
            _ = try send(endpoint, [UInt8(i)], to: peerIP, port: 7)
        }
        #expect(h.counters[drop: .neighbourQueueFull] == 6)
        _ = h.written()
        h.receive(
            FrameBuilder.arp(
                ARPRepr(
                    operation: .reply, senderHardwareAddress: peerMAC, senderProtocolAddress: peerIP,
                    targetHardwareAddress: stackMAC, targetProtocolAddress: stackIP), destination: stackMAC))
        // The newest four survive (RFC 1122 2.3.2.2: keep the latest).
        #expect(h.written().compactMap(\.udp).map(\.payload) == [[6], [7], [8], [9]])
    }

    @Test func malformedARPIsCounted() {
        let h = Harness()
        h.receive(
            FrameBuilder.ethernet(destination: .broadcast, source: peerMAC, etherType: .arp, payload: [0, 1, 8, 0]))
        #expect(h.counters[drop: .arpMalformed] == 1)
        #expect(h.written().isEmpty)
    }
}
