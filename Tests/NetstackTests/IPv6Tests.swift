import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct IPv6Tests {
    // MARK: Input validation and extension headers

    @Test func udpOverIPv6IsDeliveredAndTheEchoCarriesAValidChecksum() throws {
        let h = Harness6()
        h.learnPeer()
        let recorder = UDPRecorder()
        recorder.echo = true
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        h.receiveUDP(port: 7, payload: bytes(100))
        #expect(
            recorder.datagrams == [
                UDPRecorder.Datagram(payload: bytes(100), source: .v6(peerIP6), port: 40000, destination: .v6(stackIP6))
            ])
        let frames = h.written()
        // `udp6` verifies the (mandatory) checksum over the IPv6 pseudo-header.
        #expect(frames.compactMap(\.udp6).map(\.payload) == [bytes(100)])
        #expect(frames.first?.ipv6Header?.source == stackIP6)
        #expect(frames.first?.ipv6Header?.destination == peerIP6)
        #expect(frames.first?.ethernetDestination == peerMAC)
    }

    @Test func udpWithZeroChecksumOverIPv6IsDropped() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        h.receiveUDP(port: 7, payload: bytes(10), checksum: .zero)
        #expect(recorder.datagrams.isEmpty)
        #expect(h.counters[drop: .udpBadChecksum] == 1)
    }

    @Test func packetForAnotherAddressIsDroppedOutsideGatewayMode() {
        let h = Harness6()
        h.learnPeer()
        h.receiveICMPv6(.echoRequest(identifier: 1, sequence: 1), to: remoteIP6)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .ipv6NotForUs] == 1)
    }

    @Test func multicastOrLoopbackSourceIsDropped() {
        let h = Harness6()
        h.learnPeer()
        h.receiveICMPv6(.echoRequest(identifier: 1, sequence: 1), from: v6("ff02::1"))
        h.receiveICMPv6(.echoRequest(identifier: 1, sequence: 1), from: .loopback)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .ipv6BadSource] == 2)
    }

    @Test func truncatedPayloadLengthIsMalformed() {
        let h = Harness6()
        var packet = FrameBuilder.ipv6(source: peerIP6, destination: stackIP6, nextHeader: .udp, payload: bytes(20))
        packet[5] = 200 // payload length beyond the buffer
        h.receive(packet)
        #expect(h.counters[drop: .ipv6Malformed] == 1)
    }

    @Test func groupsWeDoNotListenToAreDropped() {
        let h = Harness6()
        h.receiveICMPv6(
            .echoRequest(identifier: 1, sequence: 1), to: v6("ff02::16"), destinationMAC: v6("ff02::16").multicastMAC)
        #expect(h.counters[drop: .ipv6NotForUs] == 1)
    }

    @Test func hopByHopPaddingIsWalkedToUDP() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 1, destination: stackIP6, destinationPort: 7, payload: bytes(5))
        // Hop-by-Hop: next header UDP, length 0 (8 bytes), PadN of 4 bytes.
        let hopByHop: [UInt8] = [IPProtocol.udp.rawValue, 0, 1, 4, 0, 0, 0, 0]
        h.receive(
            FrameBuilder.ipv6(source: peerIP6, destination: stackIP6, nextHeader: .hopByHop, payload: hopByHop + udp))
        #expect(recorder.datagrams.map(\.payload) == [bytes(5)])
    }

    @Test func unknownOptionWhoseTypeAsksForAnErrorGetsParameterProblemCode2() {
        let h = Harness6()
        h.learnPeer()
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 1, destination: stackIP6, destinationPort: 7, payload: bytes(5))
        // Destination Options with option type 0x9E (high bits 10: discard, always report).
        let options: [UInt8] = [IPProtocol.udp.rawValue, 0, 0x9E, 4, 0, 0, 0, 0]
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .destinationOptions, payload: options + udp))
        let replies = h.written().compactMap(\.icmpv6)
        // The option type byte sits at 40 + 2.
        #expect(replies.map(\.repr) == [.parameterProblem(code: 2, pointer: 42)])
        #expect(h.counters[drop: .ipv6UnsupportedExtension] == 1)
    }

    @Test func unknownOptionWithSkipBitsIsSkipped() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 1, destination: stackIP6, destinationPort: 7, payload: bytes(5))
        let options: [UInt8] = [IPProtocol.udp.rawValue, 0, 0x1E, 4, 9, 9, 9, 9]
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .destinationOptions, payload: options + udp))
        #expect(recorder.datagrams.count == 1)
    }

    @Test func routingHeaderWithSegmentsLeftIsNotDelivered() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 1, destination: stackIP6, destinationPort: 7, payload: bytes(5))
        let routing: [UInt8] = [IPProtocol.udp.rawValue, 0, 0, 1, 0, 0, 0, 0]
        h.receive(
            FrameBuilder.ipv6(source: peerIP6, destination: stackIP6, nextHeader: .routing, payload: routing + udp))
        #expect(recorder.datagrams.isEmpty)
        #expect(h.counters[drop: .ipv6UnsupportedExtension] == 1)
    }

    @Test func unknownNextHeaderGetsParameterProblemCode1AtTheField() {
        let h = Harness6()
        h.learnPeer()
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: IPProtocol(rawValue: 253), payload: bytes(16)))
        #expect(h.written().compactMap(\.icmpv6).map(\.repr) == [.parameterProblem(code: 1, pointer: 6)])
        #expect(h.counters[drop: .unknownProtocol] == 1)
    }

    // MARK: Output and fragmentation

    @Test func datagramAboveTheMTUIsFragmentedWithAFragmentHeader() throws {
        let h = Harness6()
        h.learnPeer()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        defer { endpoint.close() }
        let payload = bytes(3000)
        #expect(try send(endpoint, payload, to: peerIP6, port: 9) == .sent)
        let frames = h.written()
        let fragments = frames.compactMap(\.ipv6Fragment)
        #expect(fragments.count == 3)
        #expect(Set(fragments.map(\.header.identification)).count == 1)
        #expect(fragments.map(\.header.moreFragments) == [true, true, false])
        #expect(fragments.allSatisfy { $0.header.nextHeader == .udp && $0.header.fragmentOffset % 8 == 0 })
        #expect(
            frames.allSatisfy { frame in
                guard case .ipv6(_, let bytes, _) = frame else { return false }
                return bytes.count + IPv6Repr.headerLength <= 1500
            })
        // Put back together, the fragments are one UDP datagram with a valid checksum.
        var whole = [UInt8](repeating: 0, count: 8 + payload.count)
        for fragment in fragments {
            whole.replaceSubrange(
                fragment.header.fragmentOffset..<(fragment.header.fragmentOffset + fragment.data.count),
                with: fragment.data)
        }
        let valid = whole.withUnsafeBytes { raw -> Bool in
            guard let datagram = try? UDPDatagram(raw),
                (try? UDPRepr.parse(datagram, checksum: .v6(source: stackIP6, destination: peerIP6))) != nil
            else { return false }
            return Array(datagram.payload) == payload
        }
        #expect(valid)
        #expect(h.counters.fragmentsSent == 3)
    }

    @Test func dontFragmentAboveTheMTUFailsWithTheMTU() throws {
        let h = Harness6()
        h.learnPeer()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        defer { endpoint.close() }
        endpoint.dontFragment = true
        #expect(throws: SendError.messageTooLong(mtu: 1500)) { try send(endpoint, bytes(1500), to: peerIP6, port: 9) }
        #expect(h.written().isEmpty)
    }

    @Test func sendingToAnUnresolvedNeighbourSolicitsItAndSendsOnAdvertisement() throws {
        let h = Harness6()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        defer { endpoint.close() }
        #expect(try send(endpoint, bytes(10), to: peerIP6, port: 9) == .queuedForResolution)
        let solicitation = h.written()
        #expect(
            solicitation.compactMap(\.icmpv6).map(\.repr) == [
                .ndp(.neighborSolicitation(NDPNeighborSolicitation(target: peerIP6, sourceLinkAddress: stackMAC)))
            ])
        #expect(solicitation.first?.ipv6Header?.destination == peerIP6.solicitedNodeMulticast)
        #expect(solicitation.first?.ipv6Header?.hopLimit == 255)
        #expect(solicitation.first?.ethernetDestination == MACAddress(0x33, 0x33, 0xFF, 0, 0x01, 0x00))
        h.receiveICMPv6(
            .ndp(
                .neighborAdvertisement(
                    NDPNeighborAdvertisement(
                        solicited: true, override: true, target: peerIP6,
                        targetLinkAddress: peerMAC))),
            hopLimit: 255)
        let released = h.written()
        #expect(released.compactMap(\.udp6).map(\.payload) == [bytes(10)])
        #expect(released.first?.ethernetDestination == peerMAC)
        #expect(h.stack.neighbourEntries(of: h.nic).map(\.address) == [.v6(peerIP6)])
    }

    @Test func unresolvedNeighbourGivesUpAfterMaxProbes() throws {
        let h = Harness6()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        defer { endpoint.close() }
        _ = try send(endpoint, bytes(10), to: peerIP6, port: 9)
        h.clock.runTimers(upTo: .seconds(10), stacks: h.stack)
        let solicitations = h.written().compactMap(\.icmpv6)
        #expect(solicitations.count == NeighbourConfiguration().maxProbes)
        #expect(h.counters[drop: .neighbourUnresolved] == 1)
        #expect(h.stack.neighbourEntries(of: h.nic).isEmpty)
    }

    @Test func routeInfoForIPv6() {
        let h = Harness6()
        #expect(h.stack.route(to: .v6(remoteIP6))?.source == .v6(stackIP6))
        #expect(h.stack.route(to: .v6(remoteIP6))?.nextHop == .v6(peerIP6))
        #expect(h.stack.route(to: .v6(peerLinkLocal))?.source == .v6(stackLinkLocal))
    }

    // MARK: Reassembly

    func fragments(payloadSize: Int, chunk: Int, id: UInt32 = 77) -> [[UInt8]] {
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 4000, destination: stackIP6, destinationPort: 7, payload: bytes(payloadSize))
        return FrameBuilder.fragments(of: udp, chunk: chunk).map { fragment in
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .fragment,
                payload: FrameBuilder.ipv6Fragment(
                    nextHeader: .udp, offset: fragment.offset, more: fragment.more,
                    identification: id, data: fragment.bytes))
        }
    }

    @Test func fragmentsInAnyOrderReassembleThroughTheSharedReassembler() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        for (n, order) in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1]].enumerated() {
            let parts = fragments(payloadSize: 3000, chunk: 776, id: UInt32(900 + n))
            #expect(parts.count == 4)
            for index in order { h.receive(parts[index]) }
        }
        #expect(recorder.datagrams.map(\.payload) == Array(repeating: bytes(3000), count: 3))
        #expect(h.counters.datagramsReassembled == 3)
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
    }

    @Test func overlappingFragmentsDiscardTheWholeDatagram() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        let parts = fragments(payloadSize: 200, chunk: 64)
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 4000, destination: stackIP6, destinationPort: 7, payload: bytes(200))
        let overlapping = FrameBuilder.ipv6(
            source: peerIP6, destination: stackIP6, nextHeader: .fragment,
            payload: FrameBuilder.ipv6Fragment(
                nextHeader: .udp, offset: 32, more: true, identification: 77,
                data: Array(udp[32..<96])))
        h.receive(parts[0])
        h.receive(overlapping)
        // RFC 5722: the rest of the datagram, arriving later, is discarded too.
        for part in parts.dropFirst() { h.receive(part) }
        #expect(recorder.datagrams.isEmpty)
        #expect(h.counters[drop: .fragmentOverlap] == 1)
        #expect(h.counters[drop: .fragmentOfDiscardedDatagram] == UInt64(parts.count - 1))
    }

    @Test func atomicFragmentIsDeliveredWithoutReassembly() throws {
        let h = Harness6()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 7, delegate: recorder)
        defer { endpoint.close() }
        let udp = FrameBuilder.udp(
            source: peerIP6, sourcePort: 4000, destination: stackIP6, destinationPort: 7, payload: bytes(30))
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .fragment,
                payload: FrameBuilder.ipv6Fragment(
                    nextHeader: .udp, offset: 0, more: false, identification: 5, data: udp)))
        #expect(recorder.datagrams.map(\.payload) == [bytes(30)])
        #expect(h.stack.reassemblyStatistics.completed == 0)
    }

    @Test func fragmentWithMoreFlagAndOddLengthGetsParameterProblem() {
        let h = Harness6()
        h.learnPeer()
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .fragment,
                payload: FrameBuilder.ipv6Fragment(
                    nextHeader: .udp, offset: 0, more: true, identification: 5,
                    data: bytes(20))))
        #expect(h.written().compactMap(\.icmpv6).map(\.repr) == [.parameterProblem(code: 0, pointer: 4)])
        #expect(h.counters[drop: .fragmentMalformed] == 1)
    }

    @Test func incompleteDatagramTimesOutAfterSixtySecondsWithTimeExceeded() throws {
        let h = Harness6()
        h.learnPeer()
        let parts = fragments(payloadSize: 200, chunk: 64)
        h.receive(parts[0])
        h.advance(by: .seconds(31))
        // Thirty seconds is IPv4's timeout; IPv6 waits 60 (RFC 8200 4.5).
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 1)
        #expect(h.written().isEmpty)
        h.advance(by: .seconds(30))
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
        #expect(h.stack.reassemblyStatistics.timedOut == 1)
        let errors = h.written().compactMap(\.icmpv6)
        #expect(errors.map(\.repr) == [.timeExceeded(code: 1)])
        // The quote is fragment zero, from its fixed header.
        let quotedSource = errors.first.flatMap { error in
            error.data.withUnsafeBytes { (try? IPv6Packet(quoted: $0))?.source }
        }
        #expect(quotedSource == peerIP6)
    }

    @Test func firstFragmentWithoutTheUpperLayerHeaderIsDropped() {
        let h = Harness6()
        // RFC 7112: the first fragment's Destination Options header claims 16 bytes but the
        // fragment ends after 8.
        let options: [UInt8] = [IPProtocol.udp.rawValue, 1, 1, 4, 0, 0, 0, 0]
        h.receive(
            FrameBuilder.ipv6(
                source: peerIP6, destination: stackIP6, nextHeader: .fragment,
                payload: FrameBuilder.ipv6Fragment(
                    nextHeader: .destinationOptions, offset: 0, more: true,
                    identification: 9, data: options)))
        #expect(h.counters[drop: .fragmentMalformed] == 1)
        #expect(h.stack.reassemblyStatistics.datagramsInProgress == 0)
    }

    // MARK: Gateway mode

    @Test func gatewayAcceptsUDPForAnyGlobalDestinationThroughTheHook() {
        let hook = RecordingHook(verdict: .accept)
        let h = Harness6.gateway(hook: hook)
        h.learnPeer()
        h.receiveUDP(to: remoteIP6, port: 53, payload: bytes(12))
        #expect(
            hook.flows == [
                FlowKey(
                    protocolNumber: .udp, source: .v6(peerIP6), sourcePort: 40000, destination: .v6(remoteIP6),
                    destinationPort: 53)
            ])
        #expect(hook.recorder.datagrams.map(\.destination) == [.v6(remoteIP6)])
        // The answer comes from the impersonated host.
        _ = try? send(hook.endpoints[0], bytes(4), to: peerIP6, port: 40000)
        #expect(h.written().first?.ipv6Header?.source == remoteIP6)
    }

    @Test func gatewayRejectionBecomesAdministrativelyProhibited() {
        let hook = RecordingHook(verdict: .reject(.communicationAdministrativelyProhibited))
        let h = Harness6.gateway(hook: hook)
        h.learnPeer()
        h.receiveUDP(to: remoteIP6, port: 53, payload: bytes(12))
        let errors = h.written()
        #expect(errors.compactMap(\.icmpv6).map(\.repr) == [.destinationUnreachable(code: .administrativelyProhibited)])
        #expect(errors.first?.ipv6Header?.source == remoteIP6)
    }

    @Test func gatewayAnswersEchoToAnyGlobalAddressAndLeavesLinkLocalAlone() {
        let h = Harness6.gateway()
        h.learnPeer()
        h.receiveICMPv6(.echoRequest(identifier: 3, sequence: 4), data: bytes(8), to: remoteIP6)
        h.receiveICMPv6(.echoRequest(identifier: 3, sequence: 5), data: bytes(8), to: v6("fe80::99"))
        let replies = h.written()
        #expect(replies.compactMap(\.icmpv6).map(\.repr) == [.echoReply(identifier: 3, sequence: 4)])
        #expect(replies.first?.ipv6Header?.source == remoteIP6)
        #expect(h.counters[drop: .ipv6NotForUs] == 1)
    }

    @Test func gatewayExpiresHopLimitOneWithTimeExceeded() {
        let h = Harness6.gateway()
        h.learnPeer()
        h.receiveUDP(to: remoteIP6, port: 33434, payload: bytes(8), hopLimit: 1)
        let errors = h.written()
        #expect(errors.compactMap(\.icmpv6).map(\.repr) == [.timeExceeded(code: 0)])
        // From the gateway itself, the hop traceroute6 should show.
        #expect(errors.first?.ipv6Header?.source == stackIP6)
        #expect(h.counters[drop: .ipv6HopLimitExceeded] == 1)
    }

    @Test func gatewayAnswersPacketTooBigAboveTheRoutesPathMTU() throws {
        let hook = RecordingHook(verdict: .accept)
        let h = Harness6.gateway(hook: hook)
        h.learnPeer()
        h.stack.addRoute(Route(destination: .v6(IPv6Subnet(v6("2001:db8::"), prefixLength: 32)), nic: h.nic, mtu: 1280))
        h.receiveUDP(to: remoteIP6, port: 53, payload: bytes(1300))
        let errors = h.written()
        #expect(errors.compactMap(\.icmpv6).map(\.repr) == [.packetTooBig(mtu: 1280)])
        #expect(errors.first?.ipv6Header?.source == stackIP6)
        #expect(hook.flows.isEmpty)
        #expect(h.counters[drop: .ipv6PacketTooBig] == 1)
        // What fits is taken.
        h.receiveUDP(to: remoteIP6, port: 53, payload: bytes(1200))
        #expect(hook.recorder.datagrams.map(\.payload) == [bytes(1200)])
    }

    // MARK: Two stacks

    @Test func twoStacksResolveEachOtherByNDPAndExchangeFragmentedDatagrams() throws {
        let (a, b) = MemoryLink.pair(mtu: 1500)
        let client = Stack(), server = Stack()
        let clientNIC = client.addNIC(a), serverNIC = server.addNIC(b)
        client.addAddress(IPv6Subnet(peerIP6, prefixLength: 64), to: clientNIC)
        server.addAddress(IPv6Subnet(stackIP6, prefixLength: 64), to: serverNIC)
        let echo = UDPRecorder()
        echo.echo = true
        let received = UDPRecorder()
        let serverEndpoint = try server.udp.open(localPort: 7, delegate: echo)
        let clientEndpoint = try client.udp.open(localPort: 9000, delegate: received)
        defer {
            serverEndpoint.close()
            clientEndpoint.close()
        }
        for size in [10, 1452, 1453, 9000, 65_527] {
            _ = try send(clientEndpoint, bytes(size, seed: UInt8(size & 0xFF)), to: stackIP6, port: 7)
            MemoryLink.pump(a, b)
        }
        #expect(
            received.datagrams.map(\.payload)
                == [10, 1452, 1453, 9000, 65_527].map { bytes($0, seed: UInt8($0 & 0xFF)) })
        #expect(received.datagrams.allSatisfy { $0.source == .v6(stackIP6) && $0.port == 7 })
        #expect(client.neighbourEntries(of: clientNIC).map(\.address) == [.v6(stackIP6)])
        #expect(server.neighbourEntries(of: serverNIC).map(\.address) == [.v6(peerIP6)])
        #expect(client.counters(of: clientNIC).neighbourSolicitationsSent == 1)
    }
}
