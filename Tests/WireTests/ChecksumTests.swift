import Testing
import Wire

@Suite struct ChecksumTests {
    /// RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (checksum 220d).
    @Test func rfc1071Example() {
        let data: [UInt8] = [0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7]
        let checksum = data.withUnsafeBytes { InternetChecksum.checksum($0) }
        #expect(checksum == 0x220D)
    }

    /// The IPv4 header example used across the literature (checksum field b861).
    @Test func knownIPv4Header() {
        let header = bytes(hex: "450000730000400040110000c0a80001c0a800c7")
        #expect(header.withUnsafeBytes { InternetChecksum.checksum($0) } == 0xB861)
    }

    @Test func emptyAndSingleByte() {
        #expect([UInt8]().withUnsafeBytes { InternetChecksum.checksum($0) } == 0xFFFF)
        // One byte 0xab is the word ab00.
        #expect([UInt8](arrayLiteral: 0xAB).withUnsafeBytes { InternetChecksum.checksum($0) } == ~UInt16(0xAB00))
    }

    /// Every length 0...300 at every alignment 0...7 against the 16-bit reference.
    @Test func oddLengthsAndUnalignedBuffersMatchReference() {
        var rng = SplitMix64(seed: 1071)
        let storage = (0..<320).map { _ in UInt8.random(in: 0...255, using: &rng) }
        storage.withUnsafeBytes { all in
            for alignment in 0..<8 {
                for length in 0...300 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[alignment..<(alignment + length)])
                    let expected = referenceChecksum(Array(slice))
                    #expect(InternetChecksum.checksum(slice) == expected, "length \(length) alignment \(alignment)")
                }
            }
        }
    }

    /// Large random buffers (including all-0xff, which stresses carries) against the reference.
    @Test func randomBuffersMatchReference() {
        var rng = SplitMix64(seed: 42)
        for round in 0..<200 {
            let length = Int.random(in: 0...70_000, using: &rng)
            let data: [UInt8] =
                round == 0
                ? Array(repeating: 0xFF, count: 65536)
                : (0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) }
            #expect(data.withUnsafeBytes { InternetChecksum.checksum($0) } == referenceChecksum(data))
        }
    }

    /// Adding a buffer in pieces of any (odd) sizes gives the same sum as adding it whole.
    @Test func piecewiseAddsMatchWhole() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<500 {
            let data = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var sum = InternetChecksum()
            data.withUnsafeBytes { all in
                var offset = 0
                while offset < all.count {
                    let n = Swift.min(all.count - offset, Int.random(in: 0...17, using: &rng))
                    sum.add(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]))
                    offset += n
                }
            }
            #expect(sum.finalized == referenceChecksum(data))
        }
    }

    /// Words added with add(_ word:) count like the same two bytes in a buffer.
    @Test func wordsEqualBytes() {
        var viaWords = InternetChecksum()
        viaWords.add(UInt16(0x1234))
        viaWords.add(UInt16(0xFFFF))
        let viaBytes = [UInt8](arrayLiteral: 0x12, 0x34, 0xFF, 0xFF).withUnsafeBytes { InternetChecksum.checksum($0) }
        #expect(viaWords.finalized == viaBytes)
    }

    /// RFC 1624: updating one field incrementally equals recomputing, including the case
    /// eqn. 3 exists for (a result of 0x0000 vs 0xffff).
    @Test func incrementalUpdateMatchesRecompute() {
        var rng = SplitMix64(seed: 1624)
        for _ in 0..<20_000 {
            var data = (0..<20).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if Bool.random(using: &rng) { data = Array(repeating: 0, count: 20) }
            let before = referenceChecksum(data)
            let index = Int.random(in: 0..<10, using: &rng) * 2
            let old = UInt16(data[index]) << 8 | UInt16(data[index + 1])
            let new = UInt16.random(in: 0...UInt16.max, using: &rng)
            data[index] = UInt8(new >> 8)
            data[index + 1] = UInt8(new & 0xFF)
            let updated = InternetChecksum.update(before, old: old, new: new)
            let recomputed = referenceChecksum(data)
            // Both are valid encodings of the same ones'-complement value; RFC 1624 eqn. 3
            // never yields 0xffff for a non-zero sum, and matches exactly otherwise.
            #expect(
                updated == recomputed || (updated == 0xFFFF && recomputed == 0)
                    || (updated == 0 && recomputed == 0xFFFF))
        }
    }

    /// A checksum over data that includes its own correct checksum is zero (receive check).
    @Test func verifyingIncludedChecksumGivesZero() {
        var header = bytes(hex: "450000730000400040110000c0a80001c0a800c7")
        header[10] = 0xB8
        header[11] = 0x61
        #expect(header.withUnsafeBytes { InternetChecksum.checksum($0) } == 0)
    }

    /// IPv4 pseudo-header words: 10.0.2.15 -> 10.0.2.2, TCP, length 20, by hand.
    @Test func ipv4PseudoHeader() {
        var sum = InternetChecksum()
        sum.addPseudoHeader(
            source: IPv4Address(10, 0, 2, 15), destination: IPv4Address(10, 0, 2, 2),
            protocolNumber: .tcp, length: 20)
        let words: [UInt32] = [0x0A00, 0x020F, 0x0A00, 0x0202, 0x0006, 0x0014]
        var expected = words.reduce(0, +)
        while expected > 0xFFFF { expected = (expected & 0xFFFF) + (expected >> 16) }
        #expect(sum.folded == UInt16(expected))
    }

    @Test func ipv6PseudoHeaderMatchesByteLayout() throws {
        let source = try #require(IPv6Address("fd00::2"))
        let destination = try #require(IPv6Address("2001:db8::1:ffff"))
        var sum = InternetChecksum()
        sum.addPseudoHeader(source: source, destination: destination, protocolNumber: .udp, length: 70_000)
        // RFC 8200 8.1 layout as bytes: src, dst, 32-bit length, 3 zero bytes, next header.
        var layout: [UInt8] = []
        for a in [source, destination] {
            for g in 0..<8 { layout += [UInt8(a.group(g) >> 8), UInt8(a.group(g) & 0xFF)] }
        }
        layout += [0x00, 0x01, 0x11, 0x70, 0, 0, 0, 17]
        #expect(sum.finalized == referenceChecksum(layout))
    }
}
