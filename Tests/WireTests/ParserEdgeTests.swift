// Hand-made edge cases for each parser: every length check and every typed error the code can
// return, plus emit/parse round trips of values Linux did not happen to send.
import Testing
import Wire

/// Runs `body` over a copy of `data`.
func with<T>(_ data: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
    try data.withUnsafeBytes(body)
}

/// A captured fixture by a distinctive piece of its tcpdump summary.
func fixture(_ needle: String) -> [UInt8] {
    guard let frame = (linuxFrames + linuxSACKFrames).first(where: { $0.summary.contains(needle) }) else {
        preconditionFailure("no fixture matches \(needle)")
    }
    return frame.frameBytes
}

@Suite struct EthernetEdgeTests {
    @Test func shortFramesAreTruncated() {
        #expect(throws: WireError.truncated) { try with([UInt8](repeating: 0, count: 13)) { try EthernetFrame($0) } }
        var tagged = [UInt8](repeating: 0, count: 17)
        tagged[12] = 0x81
        #expect(throws: WireError.truncated) { try with(tagged) { try EthernetFrame($0) } }
    }

    /// A tagged frame made from a captured one by inserting an 802.1Q tag (PCP 5, DEI 1, VID
    /// 100): the tag is skipped and re-emitted as it was.
    @Test func vlanTagIsSkippedAndReemitted() throws {
        let plain = fixture("ICMP echo request")
        let tagged = Array(plain[0..<12]) + [0x81, 0x00, 0xB0, 0x64] + Array(plain[12...])
        try with(tagged) { raw in
            let frame = try EthernetFrame(raw)
            #expect(frame.headerLength == 18)
            #expect(frame.vlanID == 100)
            #expect(frame.vlanTCI == 0xB064)
            #expect(frame.etherType == .ipv4)
            #expect(Array(frame.payload) == Array(plain[14...]))
            let repr = EthernetRepr.parse(frame)
            #expect(repr.headerLength == 18)
            try expectReemits(Array(tagged[0..<18])) { repr.emit(into: $0) }
        }
    }
}

@Suite struct ARPEdgeTests {
    @Test func nonEthernetOrNonIPv4IsUnsupported() throws {
        let arp = Array(fixture("ARP, Request")[14...])
        for (index, value) in [(1, UInt8(6)), (2, 0x86), (4, 8), (5, 16), (7, 3)] {
            var bad = arp
            bad[index] = value
            #expect(throws: WireError.unsupported) { try with(bad) { try ARPRepr.parse($0) } }
        }
        #expect(throws: WireError.truncated) { try with(Array(arp[0..<27])) { try ARPRepr.parse($0) } }
        #expect(throws: WireError.truncated) { try with(Array(arp[0..<7])) { try ARPRepr.parse($0) } }
    }

    @Test func replyRoundTrips() throws {
        let repr = ARPRepr(
            operation: .reply, senderHardwareAddress: MACAddress(2, 0, 0, 0, 0, 1),
            senderProtocolAddress: IPv4Address(10, 0, 2, 2),
            targetHardwareAddress: MACAddress(2, 0, 0, 0, 0, 2),
            targetProtocolAddress: IPv4Address(10, 0, 2, 100))
        var out = [UInt8](repeating: 0, count: ARPRepr.length)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(try with(out) { try ARPRepr.parse($0) } == repr)
    }
}

@Suite struct IPv4EdgeTests {
    let packet = Array(fixture("ICMP echo request")[14...])

    @Test func lengthChecks() {
        #expect(throws: WireError.truncated) { try with(Array(packet[0..<19])) { try IPv4Packet($0) } }
        var p = packet
        p[0] = 0x65
        #expect(throws: WireError.badVersion) { try with(p) { try IPv4Packet($0) } }
        p = packet
        p[0] = 0x44
        #expect(throws: WireError.badLength) { try with(p) { try IPv4Packet($0) } }
        p = packet
        p[0] = 0x4F // 60-byte header in an 84-byte packet: fine
        #expect(throws: Never.self) { try with(p) { try IPv4Packet($0) } }
        p[2] = 0
        p[3] = 40 // total length below header length
        #expect(throws: WireError.badLength) { try with(p) { try IPv4Packet($0) } }
        p = packet
        p[3] &+= 1 // total length one past the buffer
        #expect(throws: WireError.truncated) { try with(p) { try IPv4Packet($0) } }
    }

    @Test func paddingIsExcludedAndChecksumChecked() throws {
        let padded = packet + [0, 0, 0, 0]
        try with(padded) { raw in
            let view = try IPv4Packet(raw)
            #expect(view.payload.count == packet.count - 20)
        }
        var bad = packet
        bad[8] &-= 1 // TTL changed, checksum not
        try with(bad) { raw in
            let view = try IPv4Packet(raw)
            #expect(!view.verifyChecksum())
            #expect(throws: WireError.badChecksum) { try IPv4Repr.parse(view, verifyChecksum: true) }
            #expect(throws: Never.self) { try IPv4Repr.parse(view, verifyChecksum: false) }
        }
    }

    /// RFC 1624 in use: decrementing TTL and patching the checksum incrementally verifies.
    @Test func ttlDecrementWithIncrementalChecksum() throws {
        var p = packet
        let oldWord = UInt16(p[8]) << 8 | UInt16(p[9])
        p[8] -= 1
        let newWord = UInt16(p[8]) << 8 | UInt16(p[9])
        let updated = InternetChecksum.update(UInt16(p[10]) << 8 | UInt16(p[11]), old: oldWord, new: newWord)
        p[10] = UInt8(updated >> 8)
        p[11] = UInt8(updated & 0xFF)
        #expect(try with(p) { try IPv4Packet($0).verifyChecksum() })
    }

    @Test func fragmentPastDatagramLimitIsMalformed() throws {
        let repr = IPv4Repr(
            source: IPv4Address(10, 0, 2, 100), destination: IPv4Address(10, 0, 2, 2), protocolNumber: .udp,
            payloadLength: 100, dontFragment: false, moreFragments: false, fragmentOffset: 65528)
        var out = [UInt8](repeating: 0, count: 120)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(throws: WireError.malformed) {
            try with(out) { try IPv4Repr.parse(IPv4Packet($0), verifyChecksum: true) }
        }
    }

    @Test func reprRoundTripsFragmentFields() throws {
        let repr = IPv4Repr(
            source: IPv4Address(10, 0, 2, 100), destination: IPv4Address(1, 2, 3, 4), protocolNumber: .tcp,
            payloadLength: 8, ttl: 3, dscpECN: 0xB9, identification: 0xBEEF, dontFragment: false,
            moreFragments: true, fragmentOffset: 1480)
        var out = [UInt8](repeating: 0, count: 28)
        out.withUnsafeMutableBytes { repr.emit(into: $0) }
        #expect(try with(out) { try IPv4Repr.parse(IPv4Packet($0), verifyChecksum: true) } == repr)
    }
}

@Suite struct UDPEdgeTests {
    let v4 = PseudoHeader.v4(source: IPv4Address(10, 0, 2, 100), destination: IPv4Address(10, 0, 2, 3))
    let v6 = PseudoHeader.v6(
        source: IPv6Address(high: 0xFD00 << 48, low: 0x100), destination: IPv6Address(high: 0xFD00 << 48, low: 3))

    func datagram(_ payload: [UInt8], _ pseudo: PseudoHeader, _ mode: ChecksumMode) -> [UInt8] {
        let repr = UDPRepr(sourcePort: 40000, destinationPort: 53, payloadLength: payload.count)
        var out = [UInt8](repeating: 0, count: 8) + payload
        out.withUnsafeMutableBytes { raw in
            payload.withUnsafeBytes { repr.emit(into: raw, payload: $0, pseudoHeader: pseudo, checksum: mode) }
        }
        return out
    }

    @Test func lengthChecks() {
        #expect(throws: WireError.truncated) { try with([0, 1, 0, 2, 0, 8, 0]) { try UDPDatagram($0) } }
        #expect(throws: WireError.badLength) { try with([0, 1, 0, 2, 0, 7, 0, 0]) { try UDPDatagram($0) } }
        #expect(throws: WireError.truncated) { try with([0, 1, 0, 2, 0, 9, 0, 0]) { try UDPDatagram($0) } }
    }

    @Test func checksumModes() throws {
        let payload: [UInt8] = Array("hello wire".utf8)
        for pseudo in [v4, v6] {
            let full = datagram(payload, pseudo, .compute)
            #expect(
                try with(full) { try UDPRepr.parse(UDPDatagram($0), checksum: pseudo) }.payloadLength == payload.count)
            var corrupted = full
            corrupted[9] ^= 1
            #expect(throws: WireError.badChecksum) {
                try with(corrupted) { try UDPRepr.parse(UDPDatagram($0), checksum: pseudo) }
            }
            // Partial: the field holds the folded pseudo-header sum; completing it the way a NIC
            // does (checksum from the UDP header on, stored) gives the full checksum.
            var partial = datagram(payload, pseudo, .partial)
            let completed = with(partial) { InternetChecksum.checksum($0) }
            partial[6] = UInt8(completed >> 8)
            partial[7] = UInt8(completed & 0xFF)
            #expect(partial == full)
        }
        // Zero checksum: "no checksum" over IPv4, forbidden over IPv6 (RFC 8200 8.1).
        let zero = datagram(payload, v4, .zero)
        #expect(zero[6] == 0 && zero[7] == 0)
        #expect(throws: Never.self) { try with(zero) { try UDPRepr.parse(UDPDatagram($0), checksum: v4) } }
        #expect(throws: WireError.badChecksum) { try with(zero) { try UDPRepr.parse(UDPDatagram($0), checksum: v6) } }
    }

    /// RFC 768: a computed checksum of zero is sent as all ones. With a zero payload word the
    /// checksum is c = ~S; putting c in that word makes the sum all ones, the checksum zero.
    @Test func computedZeroIsSentAsAllOnes() throws {
        let base = datagram([0, 0], v4, .compute)
        let out = datagram([base[6], base[7]], v4, .compute)
        #expect(out[6] == 0xFF && out[7] == 0xFF)
        #expect(throws: Never.self) { try with(out) { try UDPRepr.parse(UDPDatagram($0), checksum: v4) } }
    }

    @Test func zeroDestinationPortIsMalformed() {
        #expect(throws: WireError.malformed) {
            try with([0, 1, 0, 0, 0, 8, 0, 0]) { try UDPRepr.parse(UDPDatagram($0), checksum: nil) }
        }
    }
}
