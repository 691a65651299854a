// The MSS we advertise, per family (RFC 9293 3.7.1, after RFC 879 and RFC 6691): the MTU less
// the fixed IP and TCP headers. One TCPConfig (one listener) serves both families, as in the
// gateway: the family comes from the connection, not the config.

import Netstack
import Testing
import Wire

@Suite struct TCPMSSTests {
    static let v6Local = TCPSocketAddress(.v6(v6("fd00::2")), 80)
    static let v6Peer = TCPSocketAddress(.v6(v6("fd00::100")), 49152)

    static func synAck(to flow: TCPFlowID, mtu: Int) throws -> Sent {
        var config = plainConfig()
        config.mtu = mtu
        let listener = TCPListener(config: config, synBacklog: 16, acceptBacklog: 16, secret: (1, 2))
        var out = Capture()
        let syn = TCPRepr(
            sourcePort: flow.remote.port, destinationPort: flow.local.port, sequenceNumber: seq(peerISS),
            acknowledgmentNumber: seq(0), flags: .syn, window: 64240, urgentPointer: 0,
            options: options(mss: 1460), payloadLength: 0)
        _ = listener.handle(
            syn, payload: UnsafeRawBufferPointer(start: nil, count: 0), flow: flow, now: .zero, output: &out)
        let sent = out.take()
        #expect(sent.count == 1)
        return try #require(sent.first)
    }

    /// "The MSS value to be sent in an MSS option should be equal to the effective MTU minus the
    /// fixed IP and TCP headers": 20 + 20 bytes on IPv4, so 1460 at MTU 1500 (as Linux sends).
    /// The whole SYN-ACK, exactly.
    @Test(arguments: [(1280, 1240), (1500, 1460), (9000, 8960), (65520, 65480)])
    func synAckMSSIsTheMTUMinusFixedIPv4AndTCPHeaders(_ mtu: Int, _ mss: Int) throws {
        let synAck = try Self.synAck(to: testFlow, mtu: mtu)
        let expected = TCPRepr(
            sourcePort: 80, destinationPort: 49152, sequenceNumber: synAck.repr.sequenceNumber,
            acknowledgmentNumber: seq(peerISS + 1), flags: [.syn, .ack], window: 65535,
            urgentPointer: 0, options: options(mss: UInt16(mss)), payloadLength: 0)
        #expect(synAck.repr == expected)
        #expect(synAck.payload.isEmpty)
        #expect(synAck.flow == testFlow)
    }

    /// The same rule over IPv6, whose fixed header is 40 bytes: MTU - 60 (1440 at MTU 1500,
    /// 1220 at IPv6's minimum link MTU 1280, RFC 8200 5).
    @Test(arguments: [(1280, 1220), (1500, 1440), (9000, 8940), (65520, 65460)])
    func synAckMSSIsTheMTUMinusFixedIPv6AndTCPHeaders(_ mtu: Int, _ mss: Int) throws {
        let flow = TCPFlowID(local: Self.v6Local, remote: Self.v6Peer)
        let synAck = try Self.synAck(to: flow, mtu: mtu)
        let expected = TCPRepr(
            sourcePort: 80, destinationPort: 49152, sequenceNumber: synAck.repr.sequenceNumber,
            acknowledgmentNumber: seq(peerISS + 1), flags: [.syn, .ack], window: 65535,
            urgentPointer: 0, options: options(mss: UInt16(mss)), payloadLength: 0)
        #expect(synAck.repr == expected)
        #expect(synAck.flow == flow)
    }

    /// An active open takes its family's MSS from the same config, and, before the peer's MSS
    /// is known, RFC 9293 3.7.1's defaults: "536" on IPv4, 1220 on IPv6 (RFC 8200 5, 1280 - 60).
    @Test func activeOpenSynCarriesTheFamilysMSS() throws {
        var config = plainConfig()
        config.mtu = 1500
        var out = Capture()
        let v4 = try TCPConnection.connect(flow: testFlow, config: config, iss: seq(ourISS), now: .zero, output: &out)
        let v6Flow = TCPFlowID(local: Self.v6Local, remote: Self.v6Peer)
        let v6 = try TCPConnection.connect(flow: v6Flow, config: config, iss: seq(ourISS), now: .zero, output: &out)
        let syns = out.take()
        #expect(syns.map(\.repr.options.mss) == [1460, 1440])
        #expect(syns.map(\.repr.flags) == [.syn, .syn])
        #expect(v4.maximumSegmentSize == 536)
        #expect(v6.maximumSegmentSize == 1220)
    }
}
