import Testing
import Wire

@Suite struct SeqNumberTests {
    @Test func comparisonsWrapAround() {
        let near = SeqNumber(0xFFFF_FFF0)
        let past = near &+ 0x20 // wrapped to 0x10
        #expect(past.rawValue == 0x10)
        #expect(near < past && past > near && near <= past && past >= near)
        #expect(past - near == 0x20 && near - past == -0x20)
        #expect(!(near < near) && near <= near)
        #expect((past &- 0x20) == near)
        #expect((near &+ -16).rawValue == 0xFFFF_FFE0)
        // Half the space away flips the order (RFC 9293 3.4 modular comparison).
        #expect(SeqNumber(0) &+ UInt32(0x7FFF_FFFF) > SeqNumber(0))
        #expect(SeqNumber(0) &+ UInt32(0x8000_0001) < SeqNumber(0))
    }
}

@Suite struct TCPOptionTests {
    func parse(_ bytes: [UInt8]) throws -> TCPOptions {
        try bytes.withUnsafeBytes { try TCPOptions.parse($0) }
    }

    @Test func unknownOptionsAreSkippedAndEOLEnds() throws {
        // NOP, unknown kind 30 (length 4), MSS 1400, EOL, then garbage that must be ignored.
        let options = try parse([1, 30, 4, 0xAA, 0xBB, 2, 4, 0x05, 0x78, 0, 2, 0, 0])
        #expect(options.mss == 1400)
        #expect(options.windowScale == nil && !options.sackPermitted && options.timestamp == nil)
    }

    @Test(
        arguments: [
            [2], // kind without length byte
            [2, 1], // length below 2
            [2, 0], // zero length
            [8, 10, 0, 0], // length past the end
            [2, 3, 0], // MSS with wrong length
            [3, 4, 0, 0], // window scale with wrong length
            [4, 3, 0], // SACK-permitted with wrong length
            [5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK not 2 + 8n
            [5, 2], // SACK with no block
            [8, 8, 0, 0, 0, 0, 0, 0] // timestamp with wrong length
        ] as [[UInt8]])
    func badLengthsAreMalformed(_ bytes: [UInt8]) {
        #expect(throws: WireError.malformed) { try parse(bytes) }
    }

    @Test func sackBlocksAreBoundedAndRoundTrip() throws {
        var options = TCPOptions(timestamp: (value: 7, echo: 9))
        for i in 0..<4 {
            let appended = options.sackBlocks.append(
                SACKBlock(left: SeqNumber(UInt32(i * 100)), right: SeqNumber(UInt32(i * 100 + 50))))
            #expect(appended)
        }
        let fifth = options.sackBlocks.append(SACKBlock(left: SeqNumber(1), right: SeqNumber(2)))
        #expect(!fifth)
        #expect(options.sackBlocks.count == 4)
        // With timestamps only three blocks fit in 40 bytes: 12 + 4 + 3 * 8.
        #expect(options.emittedSACKBlockCount == 3)
        #expect(options.encodedLength == 40)
        var out = [UInt8](repeating: 0xEE, count: options.encodedLength)
        out.withUnsafeMutableBytes { options.emit(into: $0) }
        let parsed = try parse(out)
        #expect(parsed.sackBlocks.count == 3)
        #expect(Array(parsed.sackBlocks) == Array(options.sackBlocks.prefix(3)))
        #expect(parsed.timestamp?.value == 7 && parsed.timestamp?.echo == 9)
        // Without timestamps all four fit: 4 + 32 = 36.
        options.timestamp = nil
        #expect(options.encodedLength == 36)
        out = [UInt8](repeating: 0xEE, count: options.encodedLength)
        out.withUnsafeMutableBytes { options.emit(into: $0) }
        #expect(try parse(out) == options)
    }

    /// Linux's SYN layouts: with and without timestamps or SACK-permitted.
    @Test func synLayoutsMatchLinux() {
        func encoded(_ options: TCPOptions) -> [UInt8] {
            var out = [UInt8](repeating: 0xEE, count: options.encodedLength)
            out.withUnsafeMutableBytes { options.emit(into: $0) }
            return out
        }
        #expect(
            encoded(TCPOptions(mss: 1460, windowScale: 7, sackPermitted: true, timestamp: (1, 0)))
                == [2, 4, 5, 0xB4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])
        #expect(
            encoded(TCPOptions(mss: 1460, windowScale: 7, sackPermitted: true))
                == [2, 4, 5, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7])
        #expect(encoded(TCPOptions(mss: 536)) == [2, 4, 2, 0x18])
        #expect(encoded(TCPOptions()).isEmpty)
    }
}

@Suite struct TCPSegmentTests {
    let pseudo = PseudoHeader.v4(source: IPv4Address(10, 0, 2, 100), destination: IPv4Address(10, 0, 2, 2))

    @Test func lengthChecks() {
        #expect(throws: WireError.truncated) { try with([UInt8](repeating: 0, count: 19)) { try TCPSegment($0) } }
        var header = [UInt8](repeating: 0, count: 20)
        header[12] = 0x40
        #expect(throws: WireError.badLength) { try with(header) { try TCPSegment($0) } }
        header[12] = 0x60 // 24-byte header in 20 bytes
        #expect(throws: WireError.truncated) { try with(header) { try TCPSegment($0) } }
    }

    @Test func emitParseRoundTripWithEveryMode() throws {
        var sack = SACKBlocks()
        sack.append(SACKBlock(left: SeqNumber(0xFFFF_FF00), right: SeqNumber(0x100)))
        let repr = TCPRepr(
            sourcePort: 443, destinationPort: 50000, sequenceNumber: SeqNumber(0xFFFF_FFFF),
            acknowledgmentNumber: SeqNumber(1), flags: [.ack, .psh, .ece], window: 512, urgentPointer: 0,
            options: TCPOptions(sackBlocks: sack, timestamp: (value: 123, echo: 456)), payloadLength: 5)
        let payload: [UInt8] = [1, 2, 3, 4, 5]
        func segment(_ mode: ChecksumMode) -> [UInt8] {
            var out = [UInt8](repeating: 0xEE, count: repr.headerLength) + payload
            out.withUnsafeMutableBytes { raw in
                payload.withUnsafeBytes { repr.emit(into: raw, payload: $0, pseudoHeader: pseudo, checksum: mode) }
            }
            return out
        }
        let full = segment(.compute)
        let parsed = try with(full) { try TCPRepr.parse(TCPSegment($0), checksum: pseudo) }
        #expect(parsed == repr)
        #expect(parsed.sequenceLength == 5)
        var partial = segment(.partial)
        let completed = with(partial) { InternetChecksum.checksum($0) }
        partial[16] = UInt8(completed >> 8)
        partial[17] = UInt8(completed & 0xFF)
        #expect(partial == full)
        let zero = segment(.zero)
        #expect(zero[16] == 0 && zero[17] == 0)
        #expect(throws: WireError.badChecksum) {
            try with(zero) { try TCPRepr.parse(TCPSegment($0), checksum: pseudo) }
        }
        #expect(throws: Never.self) { try with(zero) { try TCPRepr.parse(TCPSegment($0), checksum: nil) } }
    }

    @Test func zeroPortIsMalformed() {
        var header = [UInt8](repeating: 0, count: 20)
        header[1] = 80
        header[12] = 0x50
        #expect(throws: WireError.malformed) { try with(header) { try TCPRepr.parse(TCPSegment($0), checksum: nil) } }
    }

    @Test func synAndFinCountInSequenceSpace() {
        let syn = TCPRepr(
            sourcePort: 1, destinationPort: 2, sequenceNumber: SeqNumber(0), acknowledgmentNumber: SeqNumber(0),
            flags: [.syn, .fin], window: 0, payloadLength: 10)
        #expect(syn.sequenceLength == 12)
    }
}
