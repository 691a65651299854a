import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct UDPTests {
    @Test func connectedBeatsBoundBeatsWildcard() throws {
        let h = Harness()
        h.learnPeer()
        let wildcard = UDPRecorder(), bound = UDPRecorder(), connected = UDPRecorder()
        _ = try h.stack.udp.open(localPort: 53, delegate: wildcard)
        _ = try h.stack.udp.open(localAddress: .v4(stackIP), localPort: 53, delegate: bound)
        _ = try h.stack.udp.open(
            localAddress: .v4(stackIP), localPort: 53, remoteAddress: .v4(peerIP), remotePort: 1111, delegate: connected
        )
        h.receiveUDP(sourcePort: 1111, port: 53, payload: [1]) // the connected 4-tuple
        h.receiveUDP(sourcePort: 2222, port: 53, payload: [2]) // bound address
        h.receiveUDP(to: IPv4Address(10, 0, 2, 255), port: 53, payload: [3]) // broadcast: wildcard only
        #expect(connected.datagrams.map(\.payload) == [[1]])
        #expect(bound.datagrams.map(\.payload) == [[2]])
        #expect(wildcard.datagrams.map(\.payload) == [[3]])
        #expect(wildcard.datagrams.first?.destination == .v4(IPv4Address(10, 0, 2, 255)))
    }

    @Test func zeroChecksumIsAcceptedBadChecksumIsDropped() throws {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        _ = try h.stack.udp.open(localPort: 53, delegate: recorder)
        h.receiveUDP(port: 53, payload: [1, 2], checksum: .zero)
        var udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 1, destination: stackIP, destinationPort: 53, payload: [3, 4])
        udp[6] ^= 0x55
        h.receiveIPv4(FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .udp, payload: udp))
        #expect(recorder.datagrams.map(\.payload) == [[1, 2]])
        #expect(h.counters[drop: .udpBadChecksum] == 1)
    }

    /// A UDP GSO super-datagram (an app's UDP_SEGMENT send, passed up uncut) is received as the
    /// datagrams the sender's kernel would have cut: `segmentSize` bytes each, the last shorter.
    @Test func aUDPGSOSuperDatagramIsReceivedAsItsDatagrams() throws {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        _ = try h.stack.udp.open(localPort: 443, delegate: recorder)
        let payload = bytes(2_500)
        let udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 1, destination: stackIP, destinationPort: 443, payload: payload)
        let packet = FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .udp, payload: udp)
        func gso(_ size: UInt16) -> GSOInfo {
            GSOInfo(kind: .udpL4, headerLength: UInt16(14 + 20 + 8), segmentSize: size)
        }
        h.receiveIPv4(packet, gso: gso(1_000))
        #expect(
            recorder.datagrams.map(\.payload)
                == [payload[0..<1000], payload[1000..<2000], payload[2000...]].map(Array.init))
        // A segment size over the payload is one datagram; a TCP GSO kind is no UDP batch.
        h.receiveIPv4(packet, gso: gso(4_000))
        h.receiveIPv4(packet, gso: GSOInfo(kind: .tcpv4, headerLength: 54, segmentSize: 100))
        #expect(recorder.datagrams.dropFirst(3).map(\.payload) == [payload, payload])
    }

    /// An endpoint that closes on the first datagram of a batch is handed no more of it.
    @Test func anEndpointClosedMidBatchReceivesNoMore() throws {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        recorder.closeOnFirst = true
        let endpoint = try h.stack.udp.open(localPort: 443, delegate: recorder)
        let udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 1, destination: stackIP, destinationPort: 443, payload: bytes(3_000))
        h.receiveIPv4(
            FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .udp, payload: udp),
            gso: GSOInfo(kind: .udpL4, headerLength: 42, segmentSize: 1_000))
        #expect(recorder.datagrams.count == 1 && endpoint.datagramsReceived == 1)
    }

    @Test func lengthFieldBeyondPacketIsMalformed() throws {
        let h = Harness()
        h.learnPeer()
        _ = try h.stack.udp.open(localPort: 53, delegate: UDPRecorder())
        var udp = FrameBuilder.udp(
            source: peerIP, sourcePort: 1, destination: stackIP, destinationPort: 53, payload: [3, 4])
        udp[5] = 200
        h.receiveIPv4(FrameBuilder.ipv4(source: peerIP, destination: stackIP, protocolNumber: .udp, payload: udp))
        #expect(h.counters[drop: .udpMalformed] == 1)
    }

    @Test func sentDatagramsCarryAValidChecksumAndTheBoundSource() throws {
        let h = Harness()
        h.learnPeer()
        let endpoint = try h.stack.udp.open(localAddress: .v4(stackIP), localPort: 5353, delegate: nil)
        try send(endpoint, bytes(33), to: peerIP, port: 9)
        let frames = h.written()
        // DecodedFrame.udp verifies the checksum.
        #expect(
            frames.compactMap(\.udp).map(\.repr) == [UDPRepr(sourcePort: 5353, destinationPort: 9, payloadLength: 33)])
        guard case .ipv4(let ip, _, _)? = frames.first else { return }
        #expect(ip.source == stackIP)
    }

    @Test func portsConflictAndEphemeralPortsAreDistinct() throws {
        let h = Harness()
        _ = try h.stack.udp.open(localPort: 53, delegate: nil)
        #expect(throws: UDPOpenError.addressInUse) { try h.stack.udp.open(localPort: 53, delegate: nil) }
        let a = try h.stack.udp.open(delegate: nil), b = try h.stack.udp.open(delegate: nil)
        #expect(a.localPort != b.localPort && a.localPort >= 49_152 && b.localPort >= 49_152)
    }

    @Test func closedEndpointStopsReceiving() throws {
        let h = Harness()
        h.learnPeer()
        let recorder = UDPRecorder()
        let endpoint = try h.stack.udp.open(localPort: 53, delegate: recorder)
        endpoint.close()
        h.receiveUDP(port: 53, payload: [1])
        #expect(recorder.datagrams.isEmpty)
        #expect(h.stack.udp.endpointCount == 0)
        #expect(throws: SendError.closed) { try send(endpoint, [1], to: peerIP, port: 1) }
    }

    @Test func connectedEndpointSendsOnlyToItsRemote() throws {
        let h = Harness()
        h.learnPeer()
        let endpoint = try h.stack.udp.open(remoteAddress: .v4(peerIP), remotePort: 53, delegate: nil)
        #expect(endpoint.localAddress == .v4(stackIP))
        #expect(throws: SendError.invalidArgument) { try send(endpoint, [1], to: remoteIP, port: 53) }
        #expect(try [UInt8]([1]).withUnsafeBytes { try endpoint.send($0) } == .sent)
    }
}
