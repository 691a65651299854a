/// Seccomp rules can only say "deny when the argument matches"; libseccomp has no masked
/// not-equal. To deny every 32-bit value except a few, this computes a set of masked-equal
/// patterns (mask, value) whose union is exactly the complement of the allowed set within the
/// low `bits` bits. Matching on the low 32 bits with a mask is what makes the rule hold against
/// a caller that sets the high bits of an `int` argument (the kernel ignores them; a plain
/// 64-bit equality would not).
///
/// Walks the bits from the top: a prefix that no allowed value starts with becomes one pattern;
/// a prefix shared with an allowed value is split on the next bit. The result has at most
/// `bits * allowed.count` patterns.
public enum MaskedCover {
    public struct Pattern: Sendable, Equatable, Hashable {
        public var mask: UInt64
        public var value: UInt64

        public func matches(_ argument: UInt64) -> Bool { argument & mask == value }
    }

    public static func complement(of allowed: Set<UInt64>, bits: Int = 32) -> [Pattern] {
        precondition(bits >= 1 && bits <= 64, "bits is a property of the argument type, 1...64")
        let width: UInt64 = bits == 64 ? ~0 : (1 << UInt64(bits)) &- 1
        let candidates = allowed.filter { $0 & ~width == 0 }
        var result: [Pattern] = []
        // Explicit stack instead of recursion: (mask, value, next bit to split on).
        var pending: [(UInt64, UInt64, Int)] = [(0, 0, bits - 1)]
        while let (mask, value, bit) = pending.popLast() {
            let sharing = candidates.contains { $0 & mask == value }
            if !sharing {
                result.append(Pattern(mask: mask, value: value))
                continue
            }
            if bit < 0 { continue } // every bit fixed, and the value is allowed
            let bitMask: UInt64 = 1 << UInt64(bit)
            pending.append((mask | bitMask, value | bitMask, bit - 1))
            pending.append((mask | bitMask, value, bit - 1))
        }
        return result
    }
}
