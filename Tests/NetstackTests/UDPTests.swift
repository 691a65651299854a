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
