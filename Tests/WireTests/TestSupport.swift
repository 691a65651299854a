// Helpers shared by the Wire tests: hex fixtures, tshark field lookup, a seeded PRNG.
import Testing
import Wire

/// Bytes from a hex string (no separators); traps on bad hex, which only a broken fixture has.
func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(hex.utf8.count / 2)
    var high: UInt8?
    for c in hex.utf8 {
        let v: UInt8
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
        default: preconditionFailure("bad hex digit in fixture")
        }
        if let h = high {
            out.append(h << 4 | v)
            high = nil
        } else {
            high = v
        }
    }
    precondition(high == nil, "odd hex length in fixture")
    return out
}

extension LinuxFrame {
    var frameBytes: [UInt8] { bytes(hex: hex) }

    /// tshark's values for `name`, outermost header first.
    func values(_ name: String) -> [String] {
        for entry in fields.split(separator: ";") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts.count == 2 && parts[0] == name[...] {
                return parts[1].split(separator: ",").map(String.init)
            }
        }
        return []
    }

    /// The first (outermost) value of `name`.
    func value(_ name: String) -> String? { values(name).first }

    /// The first value of `name` as a number (decimal or 0x hex).
    func number(_ name: String) -> UInt64? { value(name).flatMap(parseNumber) }

    func numbers(_ name: String) -> [UInt64] { values(name).compactMap(parseNumber) }
}

func parseNumber(_ text: String) -> UInt64? {
    if text.hasPrefix("0x") { return UInt64(text.dropFirst(2), radix: 16) }
    return UInt64(text, radix: 10)
}

/// SplitMix64: a tiny seeded generator, so randomized tests replay exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The plain RFC 1071 reference: 16-bit big-endian words one at a time, odd byte padded.
func referenceChecksum(_ data: [UInt8]) -> UInt16 {
    var sum: UInt32 = 0
    var i = 0
    while i + 1 < data.count {
        sum += UInt32(data[i]) << 8 | UInt32(data[i + 1])
        i += 2
    }
    if i < data.count { sum += UInt32(data[i]) << 8 }
    while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}
