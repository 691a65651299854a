// Known-answer tests on real Linux frames (Fixtures/LinuxFrames.swift): every header field is
// read back and compared with tshark's decoding of the same bytes, checksums verify, and every
// Repr re-emits the captured header byte for byte.
import Testing
import Wire

@Suite struct LinuxFrameTests {
    static let allFrames = linuxFrames + linuxSACKFrames

    @Test func fixturesCoverEveryProtocol() {
        let summaries = LinuxFrameTests.allFrames.map(\.summary)
        for needle in ["ARP, Request", "ARP, Reply", "ICMP echo request", "ICMP echo reply", "need to frag",
                       "time exceeded", "udp port 5001 unreachable", "Flags [S]", "Flags [S.]", "Flags [F.]",
                       "sack 1", "sack 2", "sack 3", "UDP, length"] {
            #expect(summaries.contains { $0.contains(needle) }, "no fixture for \(needle)")
        }
    }

    @Test(arguments: LinuxFrameTests.allFrames.filter { !$0.summary.hasPrefix("IP6") })
    func ethernetAndIPv4Frame(_ fixture: LinuxFrame) throws {
        let frame = fixture.frameBytes
        try frame.withUnsafeBytes { raw throws in
            let ethernet = try EthernetFrame(raw)
            #expect(ethernet.destination.description == fixture.value("eth.dst"))
            #expect(ethernet.source.description == fixture.value("eth.src"))
            #expect(UInt64(ethernet.etherType.rawValue) == fixture.number("eth.type"))
            #expect(ethernet.vlanID == nil)
            let ethernetRepr = EthernetRepr.parse(ethernet)
            try expectReemits(Array(raw[0..<14])) { ethernetRepr.emit(into: $0) }

            switch ethernet.etherType {
            case .arp:
                try checkARP(ethernet.payload, fixture)
            case .ipv4:
                try checkIPv4(ethernet.payload, fixture)
            default:
                Issue.record("unexpected EtherType in \(fixture.summary)")
            }
        }
    }

    func checkARP(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame) throws {
        let arp = try ARPRepr.parse(bytes)
        #expect(UInt64(arp.operation.rawValue) == fixture.number("arp.opcode"))
        #expect(arp.senderHardwareAddress.description == fixture.value("arp.src.hw_mac"))
        #expect(arp.senderProtocolAddress.description == fixture.value("arp.src.proto_ipv4"))
        #expect(arp.targetHardwareAddress.description == fixture.value("arp.dst.hw_mac"))
        #expect(arp.targetProtocolAddress.description == fixture.value("arp.dst.proto_ipv4"))
        try expectReemits(Array(bytes[0..<ARPRepr.length])) { arp.emit(into: $0) }
    }

    func checkIPv4(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame) throws {
        let packet = try IPv4Packet(bytes)
        #expect(UInt64(packet.headerLength) == fixture.number("ip.hdr_len"))
        #expect(UInt64(packet.totalLength) == fixture.number("ip.len"))
        #expect(UInt64(packet.dscpECN) == fixture.number("ip.dsfield"))
        #expect(UInt64(packet.identification) == fixture.number("ip.id"))
        #expect(packet.dontFragment == (fixture.number("ip.flags.df") == 1))
        #expect(packet.moreFragments == (fixture.number("ip.flags.mf") == 1))
        #expect(UInt64(packet.fragmentOffset / 8) == fixture.number("ip.frag_offset"))
        #expect(UInt64(packet.ttl) == fixture.number("ip.ttl"))
        #expect(UInt64(packet.protocolNumber.rawValue) == fixture.number("ip.proto"))
        #expect(UInt64(packet.checksum) == fixture.number("ip.checksum"))
        #expect(packet.source.description == fixture.value("ip.src"))
        #expect(packet.destination.description == fixture.value("ip.dst"))
        #expect(packet.verifyChecksum())
        let repr = try IPv4Repr.parse(packet, verifyChecksum: true)
        try expectReemits(Array(packet.header)) { repr.emit(into: $0) }

        // A fragment carries part of a transport message: its checksum covers the whole.
        let whole = !packet.moreFragments && packet.fragmentOffset == 0
        let first = packet.fragmentOffset == 0
        let pseudo = PseudoHeader.v4(source: packet.source, destination: packet.destination)
        switch packet.protocolNumber {
        case .icmp where first:
            try checkICMPv4(packet.payload, fixture, verify: whole)
        case .udp:
            try checkUDP(packet.payload, fixture, pseudo)
        case .tcp:
            try checkTCP(packet.payload, fixture, pseudo)
        case .icmp:
            #expect(fixture.value("icmp.type") == nil)
        default:
            Issue.record("unexpected protocol in \(fixture.summary)")
        }
    }

    func checkICMPv4(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame, verify: Bool) throws {
        let (repr, data) = try ICMPv4Repr.parse(bytes, verifyChecksum: verify)
        let type = fixture.number("icmp.type"), code = fixture.number("icmp.code")
        switch repr {
        case let .echoRequest(identifier, sequence):
            #expect(type == 8 && code == 0)
            #expect(UInt64(identifier) == fixture.number("icmp.ident"))
            #expect(UInt64(sequence) == fixture.number("icmp.seq"))
        case let .echoReply(identifier, sequence):
            #expect(type == 0 && code == 0)
            #expect(UInt64(identifier) == fixture.number("icmp.ident"))
            #expect(UInt64(sequence) == fixture.number("icmp.seq"))
        case let .destinationUnreachable(unreachable, mtu):
            #expect(type == 3 && UInt64(unreachable.rawValue) == code)
            if unreachable == .fragmentationNeeded {
                #expect(UInt64(mtu) == fixture.number("icmp.mtu"))
            }
            // The quoted datagram is an IPv4 header we can parse in turn.
            // A quote cut short is rejected by the strict view and taken by the quoted view.
            let quoted = try IPv4Packet(quoted: data)
            if let quotedLength = fixture.numbers("ip.len").last, quotedLength > UInt64(data.count) {
                #expect(throws: WireError.truncated) { try IPv4Packet(data) }
            }
            #expect(quoted.destination.description == fixture.values("ip.dst").last)
            #expect(UInt64(quoted.identification) == fixture.numbers("ip.id").last)
        case let .timeExceeded(exceeded):
            #expect(type == 11 && UInt64(exceeded) == code)
        case .other:
            Issue.record("Linux ICMP decoded as other: \(fixture.summary)")
        }
        if verify {
            #expect(bytes.count == repr.headerLength + data.count)
            var out = [UInt8](repeating: 0xEE, count: repr.headerLength)
            out.withUnsafeMutableBytes { repr.emit(into: $0, data: data) }
            #expect(out == Array(bytes[0..<repr.headerLength]))
        }
    }

    func checkUDP(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame, _ pseudo: PseudoHeader) throws {
        let datagram = try UDPDatagram(bytes)
        #expect(UInt64(datagram.sourcePort) == fixture.number("udp.srcport"))
        #expect(UInt64(datagram.destinationPort) == fixture.number("udp.dstport"))
        #expect(UInt64(datagram.length) == fixture.number("udp.length"))
        #expect(UInt64(datagram.checksum) == fixture.number("udp.checksum"))
        let repr = try UDPRepr.parse(datagram, checksum: pseudo)
        #expect(repr.payloadLength == datagram.payload.count)
        try expectReemits(Array(bytes[0..<8])) {
            repr.emit(into: $0, payload: datagram.payload, pseudoHeader: pseudo, checksum: .compute)
        }
    }

    func checkTCP(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame, _ pseudo: PseudoHeader) throws {
        let segment = try TCPSegment(bytes)
        #expect(UInt64(segment.sourcePort) == fixture.number("tcp.srcport"))
        #expect(UInt64(segment.destinationPort) == fixture.number("tcp.dstport"))
        #expect(UInt64(segment.sequenceNumber.rawValue) == fixture.number("tcp.seq_raw"))
        #expect(UInt64(segment.acknowledgmentNumber.rawValue) == fixture.number("tcp.ack_raw"))
        #expect(UInt64(segment.headerLength) == fixture.number("tcp.hdr_len"))
        #expect(UInt64(segment.flags.rawValue) == fixture.number("tcp.flags"))
        #expect(UInt64(segment.window) == fixture.number("tcp.window_size_value"))
        #expect(UInt64(segment.checksum) == fixture.number("tcp.checksum"))
        #expect(UInt64(segment.urgentPointer) == fixture.number("tcp.urgent_pointer"))
        #expect(UInt64(segment.payload.count) == fixture.number("tcp.len"))
        #expect(segment.verifyChecksum(pseudo))

        let repr = try TCPRepr.parse(segment, checksum: pseudo)
        let options = repr.options
        #expect(options.mss.map(UInt64.init) == fixture.number("tcp.options.mss_val"))
        #expect(options.windowScale.map(UInt64.init) == fixture.number("tcp.options.wscale.shift"))
        #expect(options.sackPermitted == (fixture.value("tcp.options.sack_perm") != nil))
        #expect(options.timestamp.map { UInt64($0.value) } == fixture.number("tcp.options.timestamp.tsval"))
        #expect(options.timestamp.map { UInt64($0.echo) } == fixture.number("tcp.options.timestamp.tsecr"))
        #expect(options.sackBlocks.map { UInt64($0.left.rawValue) } == fixture.numbers("tcp.options.sack_le"))
        #expect(options.sackBlocks.map { UInt64($0.right.rawValue) } == fixture.numbers("tcp.options.sack_re"))
        #expect(repr.headerLength == segment.headerLength)
        #expect(repr.payloadLength == segment.payload.count)
        try expectReemits(Array(bytes[0..<segment.headerLength])) {
            repr.emit(into: $0, payload: segment.payload, pseudoHeader: pseudo, checksum: .compute)
        }
    }
}

/// Emits into a buffer pre-filled with garbage of exactly the expected size and compares.
func expectReemits(_ expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation,
                   _ emit: (UnsafeMutableRawBufferPointer) -> Void) throws {
    var out = [UInt8](repeating: 0xEE, count: expected.count)
    out.withUnsafeMutableBytes { emit($0) }
    #expect(out == expected, sourceLocation: sourceLocation)
}
