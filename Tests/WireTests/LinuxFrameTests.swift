// Known-answer tests on real Linux frames (Fixtures/LinuxFrames.swift): every header field is
// read back and compared with tshark's decoding of the same bytes, checksums verify, and every
// Repr re-emits the captured header byte for byte.
import Testing
import Wire

@Suite struct LinuxFrameTests {
    static let allFrames = linuxFrames + linuxSACKFrames

    @Test func fixturesCoverEveryProtocol() {
        let summaries = LinuxFrameTests.allFrames.map(\.summary)
        for needle in [
            "ARP, Request", "ARP, Reply", "ICMP echo request", "ICMP echo reply", "need to frag",
            "time exceeded", "udp port 5001 unreachable", "Flags [S]", "Flags [S.]", "Flags [F.]",
            "sack 1", "sack 2", "sack 3", "UDP, length", "IP6", "HBH", "DSTOPT", "frag (0|",
            "frag (1448|", "router solicitation", "router advertisement", "neighbor solicitation",
            "neighbor advertisement", "packet too big", "unreachable port", "ICMP6, echo request",
            "ICMP6, echo reply", "ICMP6, time exceeded"
        ] {
            #expect(summaries.contains { $0.contains(needle) }, "no fixture for \(needle)")
        }
    }

    @Test(arguments: LinuxFrameTests.allFrames)
    func linuxFrame(_ fixture: LinuxFrame) throws {
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
            case .ipv6:
                try checkIPv6(ethernet.payload, fixture)
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

extension LinuxFrameTests {
    func checkIPv6(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame) throws {
        let packet = try IPv6Packet(bytes)
        #expect(UInt64(packet.trafficClass) == fixture.number("ipv6.tclass"))
        #expect(UInt64(packet.flowLabel) == fixture.number("ipv6.flow"))
        #expect(UInt64(packet.payloadLength) == fixture.number("ipv6.plen"))
        #expect(UInt64(packet.nextHeader.rawValue) == fixture.number("ipv6.nxt"))
        #expect(UInt64(packet.hopLimit) == fixture.number("ipv6.hlim"))
        #expect(packet.source.description == fixture.value("ipv6.src"))
        #expect(packet.destination.description == fixture.value("ipv6.dst"))
        let repr = try IPv6Repr.parse(packet)
        try expectReemits(Array(packet.header)) { repr.emit(into: $0) }

        let (upper, offset, fragment) = try IPv6ExtensionWalk.walk(packet)
        if let fragment {
            #expect(UInt64(fragment.nextHeader.rawValue) == fixture.number("ipv6.fraghdr.nxt"))
            #expect(UInt64(fragment.fragmentOffset / 8) == fixture.number("ipv6.fraghdr.offset"))
            #expect(fragment.moreFragments == (fixture.number("ipv6.fraghdr.more") == 1))
            #expect(UInt64(fragment.identification) == fixture.number("ipv6.fraghdr.ident"))
            let header = Array(packet.payload[(offset - 8)..<offset])
            try expectReemits(header) { fragment.emit(into: $0) }
        } else {
            #expect(fixture.value("ipv6.fraghdr.nxt") == nil)
        }
        if fixture.summary.contains("HBH") || fixture.summary.contains("DSTOPT") {
            #expect(offset == 8, "one 8-byte extension header")
        }
        let whole = fragment == nil || (fragment?.fragmentOffset == 0 && fragment?.moreFragments == false)
        let first = fragment == nil || fragment?.fragmentOffset == 0
        let transport = UnsafeRawBufferPointer(rebasing: packet.payload[offset...])
        let pseudo = PseudoHeader.v6(source: packet.source, destination: packet.destination)
        switch upper {
        case .icmpv6 where first:
            try checkICMPv6(transport, fixture, packet, verify: whole)
        case .icmpv6:
            #expect(fixture.value("icmpv6.type") == nil)
        case .udp:
            try checkUDP(transport, fixture, pseudo)
        case .tcp:
            try checkTCP(transport, fixture, pseudo)
        default:
            Issue.record("unexpected upper layer \(upper) in \(fixture.summary)")
        }
    }

    func checkICMPv6(_ bytes: UnsafeRawBufferPointer, _ fixture: LinuxFrame, _ packet: IPv6Packet, verify: Bool) throws
    {
        let (repr, data) = try ICMPv6Repr.parse(
            bytes, source: packet.source, destination: packet.destination,
            verifyChecksum: verify)
        let type = fixture.number("icmpv6.type"), code = fixture.number("icmpv6.code")
        switch repr {
        case let .echoRequest(identifier, sequence), let .echoReply(identifier, sequence):
            #expect(type == 128 || type == 129)
            #expect(UInt64(identifier) == fixture.number("icmpv6.echo.identifier"))
            #expect(UInt64(sequence) == fixture.number("icmpv6.echo.sequence_number"))
        case let .destinationUnreachable(unreachable):
            #expect(type == 1 && UInt64(unreachable.rawValue) == code)
            let quoted = try IPv6Packet(quoted: data)
            #expect(quoted.destination.description == fixture.values("ipv6.dst").last)
        case let .packetTooBig(mtu):
            #expect(type == 2)
            #expect(UInt64(mtu) == fixture.number("icmpv6.mtu"))
            // Quoted as much as fits in 1280 bytes: the strict view refuses, the quoted view reads it.
            #expect(throws: WireError.truncated) { try IPv6Packet(data) }
            let quoted = try IPv6Packet(quoted: data)
            #expect(quoted.destination.description == fixture.values("ipv6.dst").last)
        case let .timeExceeded(exceeded):
            #expect(type == 3 && UInt64(exceeded) == code)
        case .parameterProblem:
            Issue.record("no parameter problem was captured: \(fixture.summary)")
        case let .ndp(ndp):
            #expect(UInt64(ndp.type) == type)
            #expect(data.isEmpty)
            checkNDP(ndp, fixture)
        case let .other(otherType, otherCode):
            #expect(UInt64(otherType) == type && UInt64(otherCode) == code)
            #expect(otherType == 143, "only MLDv2 reports are expected as other: \(fixture.summary)")
        }
        if verify {
            #expect(bytes.count == repr.headerLength + data.count)
            try expectReemits(Array(bytes[0..<repr.headerLength])) {
                repr.emit(into: $0, data: data, source: packet.source, destination: packet.destination)
            }
        }
    }

    func checkNDP(_ ndp: NDPRepr, _ fixture: LinuxFrame) {
        let linkAddress = fixture.value("icmpv6.opt.linkaddr")
        switch ndp {
        case let .routerSolicitation(rs):
            #expect(rs.sourceLinkAddress?.description == linkAddress)
        case let .routerAdvertisement(ra):
            #expect(UInt64(ra.currentHopLimit) == fixture.number("icmpv6.nd.ra.cur_hop_limit"))
            #expect(UInt64(ra.flags) == fixture.number("icmpv6.nd.ra.flag"))
            #expect(UInt64(ra.routerLifetime) == fixture.number("icmpv6.nd.ra.router_lifetime"))
            #expect(UInt64(ra.reachableTime) == fixture.number("icmpv6.nd.ra.reachable_time"))
            #expect(UInt64(ra.retransTimer) == fixture.number("icmpv6.nd.ra.retrans_timer"))
            #expect(ra.sourceLinkAddress?.description == linkAddress)
            #expect(ra.mtu.map(UInt64.init) == fixture.number("icmpv6.opt.mtu"))
            #expect(ra.prefixes.count == 1)
            let prefix = ra.prefixes.first
            #expect(prefix?.prefix.description == fixture.value("icmpv6.opt.prefix"))
            #expect(prefix.map { UInt64($0.prefixLength) } == fixture.number("icmpv6.opt.prefix.length"))
            #expect(prefix?.onLink == (fixture.number("icmpv6.opt.prefix.flag.l") == 1))
            #expect(prefix?.autonomous == (fixture.number("icmpv6.opt.prefix.flag.a") == 1))
            #expect(prefix.map { UInt64($0.validLifetime) } == fixture.number("icmpv6.opt.prefix.valid_lifetime"))
            #expect(
                prefix.map { UInt64($0.preferredLifetime) } == fixture.number("icmpv6.opt.prefix.preferred_lifetime"))
        case let .neighborSolicitation(ns):
            #expect(ns.target.description == fixture.value("icmpv6.nd.ns.target_address"))
            #expect(ns.sourceLinkAddress?.description == linkAddress)
            // Linux's duplicate address detection probes carry a nonce (option 14).
            #expect((ns.nonce != nil) == fixture.numbers("icmpv6.opt.type").contains(14))
        case let .neighborAdvertisement(na):
            #expect(na.target.description == fixture.value("icmpv6.nd.na.target_address"))
            #expect(na.router == (fixture.number("icmpv6.nd.na.flag.r") == 1))
            #expect(na.solicited == (fixture.number("icmpv6.nd.na.flag.s") == 1))
            #expect(na.override == (fixture.number("icmpv6.nd.na.flag.o") == 1))
            #expect(na.targetLinkAddress?.description == linkAddress)
        }
    }
}

/// Emits into a buffer pre-filled with garbage of exactly the expected size and compares.
func expectReemits(
    _ expected: [UInt8], sourceLocation: SourceLocation = #_sourceLocation,
    _ emit: (UnsafeMutableRawBufferPointer) -> Void
) throws {
    var out = [UInt8](repeating: 0xEE, count: expected.count)
    out.withUnsafeMutableBytes { emit($0) }
    #expect(out == expected, sourceLocation: sourceLocation)
}
