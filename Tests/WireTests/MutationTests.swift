import Testing
import Wire

// Randomized and mutation testing: over a million frames, random and mutated from the real
// Linux fixtures (bit flips, byte and word overwrites with boundary values, length-field edits,
// truncations, extensions), through every parser. A trap would crash the test process, which
// fails the run. Out-of-bounds reads are caught too: each frame is placed so that it ends
// exactly at a PROT_NONE guard page, so reading one byte past it faults.
#if canImport(Glibc)
    import Glibc
#endif

/// A buffer whose usable bytes end right at an inaccessible page.
final class GuardedBuffer {
    let base: UnsafeMutableRawPointer
    let usable: Int
    let pageSize: Int

    init(usable: Int) {
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let rounded = (usable + pageSize - 1) / pageSize * pageSize
        self.usable = rounded
        guard let mapped = mmap(nil, rounded + pageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
            mapped != MAP_FAILED
        else { preconditionFailure("mmap failed") }
        base = mapped
        precondition(mprotect(base + rounded, pageSize, PROT_NONE) == 0, "mprotect failed")
    }

    deinit { munmap(base, usable + pageSize) }

    /// Copies `bytes` so that they end at the guard page; returns the copy.
    func place(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        precondition(bytes.count <= usable)
        let start = base + (usable - bytes.count)
        if let source = bytes.baseAddress, bytes.count > 0 { start.copyMemory(from: source, byteCount: bytes.count) }
        return UnsafeRawBufferPointer(start: start, count: bytes.count)
    }
}

@Suite struct MutationTests {
    #if DEBUG
        /// Debug builds run a fifth of the frames (the bounds preconditions of the unoptimized
        /// standard library then also check every read); CI runs release with the full count.
        static let frameCount = 200_000
    #else
        static let frameCount = 1_000_000
    #endif

    /// Offsets where length and type fields live in the fixtures (Ethernet + IPv4/IPv6 +
    /// transport), where an edit is most likely to reach deep code.
    static let interestingOffsets = [
        12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24, 25, 34, 38, 39, 46, 47, 53, 54, 58, 59,
        60, 61, 62, 66, 67, 74, 75, 76, 77, 78
    ]
    static let boundaryBytes: [UInt8] = [
        0, 1, 2, 3, 4, 5, 6, 8, 10, 0x0F, 0x10, 0x3F, 0x40, 0x45, 0x4F, 0x50, 0x60, 0x7F,
        0x80, 0x81, 0xF0, 0xFE, 0xFF
    ]

    @Test func millionRandomAndMutatedFramesThroughEveryParser() {
        let seeds = (linuxFrames + linuxSACKFrames).map(\.frameBytes)
        let guarded = GuardedBuffer(usable: 70_000)
        let scratch = ParseScratch()
        defer { scratch.free() }
        var rng = SplitMix64(seed: 0x5EED_F00D)
        var frame = [UInt8]()
        frame.reserveCapacity(4096)
        var failures = 0
        var accepted = 0

        for _ in 0..<MutationTests.frameCount {
            frame.removeAll(keepingCapacity: true)
            if rng.next() % 10 == 0 {
                // Pure random bytes, mostly short.
                let length = Int(rng.next() % 160)
                for _ in 0..<length { frame.append(UInt8(truncatingIfNeeded: rng.next())) }
            } else {
                frame.append(contentsOf: seeds[Int(rng.next() % UInt64(seeds.count))])
                let mutations = 1 + Int(rng.next() % 4)
                for _ in 0..<mutations { mutate(&frame, &rng) }
            }
            let failure = frame.withUnsafeBytes { raw in parseEverything(guarded.place(raw), scratch) }
            if let failure {
                failures += 1
                if failures <= 5 { Issue.record("\(failure) for frame \(hex(frame))") }
            }
            if frame.withUnsafeBytes({ raw in (try? EthernetFrame(raw)).map { _ in true } ?? false }) { accepted += 1 }
        }
        #expect(failures == 0)
        // The mutations must leave many frames parseable, or the deep code goes untested.
        #expect(accepted > MutationTests.frameCount / 2)
    }

    func mutate(_ frame: inout [UInt8], _ rng: inout SplitMix64) {
        func position() -> Int? {
            guard !frame.isEmpty else { return nil }
            if rng.next() % 2 == 0 {
                let offset = MutationTests.interestingOffsets[
                    Int(rng.next() % UInt64(MutationTests.interestingOffsets.count))]
                if offset < frame.count { return offset }
            }
            return Int(rng.next() % UInt64(frame.count))
        }
        switch rng.next() % 8 {
        case 0, 1: // flip one bit
            if let i = position() { frame[i] ^= 1 << UInt8(rng.next() % 8) }
        case 2: // boundary byte
            if let i = position() {
                frame[i] = MutationTests.boundaryBytes[Int(rng.next() % UInt64(MutationTests.boundaryBytes.count))]
            }
        case 3: // random byte
            if let i = position() { frame[i] = UInt8(truncatingIfNeeded: rng.next()) }
        case 4: // 16-bit length field: off by a little, or extreme
            if let i = position(), i + 1 < frame.count {
                let old = Int(frame[i]) << 8 | Int(frame[i + 1])
                let deltas = [-9, -8, -4, -2, -1, 1, 2, 4, 8, 9]
                let new =
                    rng.next() % 3 == 0
                    ? Int(truncatingIfNeeded: rng.next() % 3 == 0 ? 0 : 0xFFFF)
                    : old + deltas[Int(rng.next() % UInt64(deltas.count))]
                frame[i] = UInt8(truncatingIfNeeded: new >> 8)
                frame[i + 1] = UInt8(truncatingIfNeeded: new)
            }
        case 5: // truncate
            if !frame.isEmpty { frame.removeLast(Int(rng.next() % UInt64(min(frame.count, 64) + 1))) }
        case 6: // extend with random bytes
            for _ in 0..<Int(rng.next() % 24) { frame.append(UInt8(truncatingIfNeeded: rng.next())) }
        default: // set a whole option/extension run to one value
            if let i = position() {
                let value = MutationTests.boundaryBytes[Int(rng.next() % UInt64(MutationTests.boundaryBytes.count))]
                for j in i..<min(frame.count, i + 1 + Int(rng.next() % 12)) { frame[j] = value }
            }
        }
    }

    /// The guard page really guards: reading the placed bytes is fine, and the byte after them
    /// is the first byte of the PROT_NONE page.
    @Test func guardPageSitsRightAfterPlacedBytes() {
        let guarded = GuardedBuffer(usable: 100)
        let placed = [UInt8](repeating: 7, count: 10).withUnsafeBytes { guarded.place($0) }
        #expect(placed.allSatisfy { $0 == 7 })
        #expect(placed.baseAddress.map { $0 + placed.count } == UnsafeRawPointer(guarded.base + guarded.usable))
    }
}

func hex(_ bytes: [UInt8]) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
