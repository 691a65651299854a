import Link
import Netstack
import NetstackTesting
import Testing
import Wire

@Suite struct IPv4Tests {
    func echoRequest(id: UInt16 = 1, seq: UInt16 = 1, data: [UInt8] = [1, 2, 3, 4]) -> [UInt8] {
        FrameBuilder.ipv4(
            source: peerIP, destination: stackIP, protocolNumber: .icmp,
            payload: FrameBuilder.icmp(.echoRequest(identifier: id, sequence: seq), data: data))
    }

    @Test func badHeaderChecksumIsDropped() {
        let h = Harness()
        h.learnPeer()
        var packet = echoRequest()
        packet[10] ^= 0xFF
        h.receiveIPv4(packet)
        #expect(h.written().isEmpty)
        #expect(h.counters[drop: .ipv4BadChecksum] == 1)
    }

    @Test func truncatedAndWrongVersionAreMalformed() {
        let h = Harness()
        h.learnPeer()
        let packet = echoRequest()
        h.receiveIPv4(Array(packet.prefix(packet.count - 3))) // total length beyond the buffer
        var v6 = packet
        v6[0] = 0x65
        h.receiveIPv4(v6)
        h.receiveIPv4([0x45, 0])
        #expect(h.counters[drop: .ipv4Malformed] == 3)
        #expect(h.written().isEmpty)
    }

    @Test func optionsAreTolerated() {
        let h = Harness()
        h.learnPeer()
        // Insert a 4-byte option area (NOP NOP NOP EOL) and fix IHL, length and checksum.
        var packet = echoRequest()
        packet.insert(contentsOf: [1, 1, 1, 0], at: 20)
        packet[0] = 0x46
        packet[2] = UInt8(packet.count >> 8)
        packet[3] = UInt8(packet.count & 0xFF)
        packet[10] = 0
        packet[11] = 0
        let sum = packet.prefix(24).withUnsafeBytes {
            InternetChecksum.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<24]))
        }
        packet[10] = UInt8(sum >> 8)
        packet[11] = UInt8(sum & 0xFF)
        h.receiveIPv4(packet)
        #expect(h.written().compactMap(\.icmp).map(\.repr) == [.echoReply(identifier: 1, sequence: 1)])
    }

    @Test func packetForAnotherHostIsDroppedOutsideGatewayMode() {
        let h = Harness()
        h.learnPeer()
        h.receiveUDP(to: remoteIP, port: 53, payload: [1])
        #expect(h.counters[drop: .ipv4NotForUs] == 1)
        #expect(h.written().isEmpty)
    }

    @Test func unicastFrameForAnotherMACIsDropped() {
        let h = Harness()
        h.learnPeer()
        h.receiveIPv4(echoRequest(), destinationMAC: MACAddress(0x02, 9, 9, 9, 9, 9))
        #expect(h.counters[drop: .notOurLinkAddress] == 1)
        #expect(h.written().isEmpty)
    }

    @Test func broadcastSourceIsDropped() {
        let h = Harness()
        h.learnPeer()
        h.receiveIPv4(
            FrameBuilder.ipv4(
                source: .broadcast, destination: stackIP, protocolNumber: .icmp,
                payload: FrameBuilder.icmp(.echoRequest(identifier: 1, sequence: 1), data: [])))
        #expect(h.counters[drop: .ipv4BadSource] == 1)
    }

    @Test func sendAboveMTUIsFragmentedOnEightByteBoundaries() throws {
        let h = Harness(mtu: 1500)
        h.learnPeer()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        let payload = bytes(4000)
        #expect(try send(endpoint, payload, to: peerIP, port: 7) == .sent)
        var fragments: [(IPv4Repr, [UInt8])] = []
        for case .ipv4(let ip, let data, _) in h.written() { fragments.append((ip, data)) }
        #expect(fragments.map { $0.0.fragmentOffset } == [0, 1480, 2960])
        #expect(fragments.map { $0.0.moreFragments } == [true, true, false])
        #expect(fragments.map { $0.1.count } == [1480, 1480, 4008 - 2960])
        #expect(Set(fragments.map { $0.0.identification }).count == 1)
        // The fragments, concatenated, are the UDP datagram.
        let joined = fragments.flatMap { $0.1 }
        #expect(Array(joined.dropFirst(8)) == payload)
        #expect(h.counters.fragmentsSent == 3)
    }

    @Test func dontFragmentAboveMTUFailsWithTheMTU() throws {
        let h = Harness(mtu: 1500)
        h.learnPeer()
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        endpoint.dontFragment = true
        #expect(throws: SendError.messageTooLong(mtu: 1500)) { try send(endpoint, bytes(1473), to: peerIP, port: 7) }
        #expect(try send(endpoint, bytes(1472), to: peerIP, port: 7) == .sent)
        #expect(h.counters[drop: .messageTooLong] == 1)
    }

    @Test func routeMTUBelowNICMTUApplies() throws {
        let h = Harness(mtu: 1500)
        h.learnPeer()
        h.stack.addRoute(
            Route(destination: .v4(IPv4Subnet(remoteIP, prefixLength: 32)), gateway: .v4(peerIP), nic: h.nic, mtu: 576))
        #expect(h.stack.route(to: .v4(remoteIP))?.mtu == 576)
        let endpoint = try h.stack.udp.open(localPort: 5000, delegate: nil)
        try send(endpoint, bytes(1000), to: remoteIP, port: 7)
        var sizes: [Int] = []
        for case .ipv4(_, let data, _) in h.written() { sizes.append(data.count) }
        #expect(sizes == [552, 1008 - 552])
    }

    @Test func noRouteIsAnError() throws {
        let stack = Stack()
        let endpoint = try stack.udp.open(localAddress: .v4(stackIP), localPort: 5000, delegate: nil)
        #expect(throws: SendError.noRoute) { try send(endpoint, [1], to: remoteIP, port: 7) }
        #expect(stack.noRouteDrops == 1)
    }

    @Test func twoStacksExchangeFragmentedDatagramsOverAMemoryLink() throws {
        let (a, b) = MemoryLink.pair(mtu: 1500)
        let left = Stack(), right = Stack()
        let leftNIC = left.addNIC(a), rightNIC = right.addNIC(b)
        left.addAddress(IPv4Subnet(IPv4Address(10, 0, 0, 1), prefixLength: 24), to: leftNIC)
        right.addAddress(IPv4Subnet(IPv4Address(10, 0, 0, 2), prefixLength: 24), to: rightNIC)
        let echo = UDPRecorder()
        echo.echo = true
        let server = try right.udp.open(localPort: 7, delegate: echo)
        let client = UDPRecorder()
        let socket = try left.udp.open(localPort: 9000, delegate: client)
        for size in [1, 1472, 1473, 9000, 65_507] {
            try send(socket, bytes(size, seed: UInt8(size & 0xFF)), to: IPv4Address(10, 0, 0, 2), port: 7)
            MemoryLink.pump(a, b)
        }
        #expect(client.datagrams.map(\.payload.count) == [1, 1472, 1473, 9000, 65_507])
        #expect(
            client.datagrams.map(\.payload) == [1, 1472, 1473, 9000, 65_507].map { bytes($0, seed: UInt8($0 & 0xFF)) })
        #expect(server.datagramsReceived == 5)
        #expect(left.counters(of: leftNIC).totalDrops == 0 && right.counters(of: rightNIC).totalDrops == 0)
    }
}
