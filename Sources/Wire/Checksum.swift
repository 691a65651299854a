// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// Written by hand because no package on this machine provides it, and it is the hottest loop of
// the stack. The sum is byte-order independent (RFC 1071 section 2(B)), so the bulk loop adds
// native-order words read with wide unaligned loads and converts once at the end.

/// A running ones'-complement sum. Add byte runs (any length, any alignment, in order), 16-bit
/// words and pseudo-headers, then read `finalized` for the value to store in a checksum field.
public struct InternetChecksum: Sendable, Hashable {
    /// Sum of 16-bit words with their big-endian (wire) meaning, not yet folded.
    @usableFromInline var sum: UInt64
    /// True when the bytes added so far have odd length: the next byte run starts in the low
    /// half of a word, which swaps its sum (RFC 1071 section 2(B)).
    @usableFromInline var odd: Bool

    @inlinable public init() {
        sum = 0
        odd = false
    }

    /// Adds a run of bytes that follows the bytes added before it.
    @inlinable public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        // Native-order sum folded to 16 bits, turned into the wire meaning.
        var chunk = UInt16(bigEndian: InternetChecksum.fold16(InternetChecksum.nativeSum(bytes)))
        if odd { chunk = chunk.byteSwapped }
        sum &+= UInt64(chunk)
        if bytes.count & 1 == 1 { odd.toggle() }
    }

    /// Adds one 16-bit word given in host order (the value a big-endian field holds).
    @inlinable public mutating func add(_ word: UInt16) {
        sum &+= UInt64(word)
    }

    /// Adds the IPv4 pseudo-header (RFC 793 section 3.1, RFC 768): addresses, zero + protocol,
    /// and the upper-layer length.
    @inlinable public mutating func addPseudoHeader(
        source: IPv4Address, destination: IPv4Address,
        protocolNumber: IPProtocol, length: Int
    ) {
        sum &+= UInt64(source.rawValue >> 16) &+ UInt64(source.rawValue & 0xFFFF)
        sum &+= UInt64(destination.rawValue >> 16) &+ UInt64(destination.rawValue & 0xFFFF)
        sum &+= UInt64(protocolNumber.rawValue)
        sum &+= UInt64(UInt16(truncatingIfNeeded: length))
    }

    /// Adds the IPv6 pseudo-header (RFC 8200 section 8.1): addresses, 32-bit upper-layer
    /// length, three zero bytes and the next header.
    @inlinable public mutating func addPseudoHeader(
        source: IPv6Address, destination: IPv6Address,
        protocolNumber: IPProtocol, length: Int
    ) {
        sum &+= InternetChecksum.words(source.high) &+ InternetChecksum.words(source.low)
        sum &+= InternetChecksum.words(destination.high) &+ InternetChecksum.words(destination.low)
        let length32 = UInt32(truncatingIfNeeded: length)
        sum &+= UInt64(length32 >> 16) &+ UInt64(length32 & 0xFFFF)
        sum &+= UInt64(protocolNumber.rawValue)
    }

    /// The ones'-complement sum folded to 16 bits, not complemented. This is what a checksum
    /// field holds for checksum offload (CHECKSUM_PARTIAL): the pseudo-header sum alone.
    @inlinable public var folded: UInt16 { InternetChecksum.fold16(sum) }

    /// The value to store in a checksum field, in host order. Over data that already contains a
    /// correct checksum this is 0, which is how received packets are verified.
    @inlinable public var finalized: UInt16 { ~folded }

    /// The checksum of one run of bytes.
    @inlinable public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        var c = InternetChecksum()
        c.add(bytes)
        return c.finalized
    }

    /// RFC 1624 eqn. 3: the checksum after one 16-bit field changes from `old` to `new`,
    /// HC' = ~(~HC + ~m + m'). All values in host order.
    @inlinable public static func update(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        ~fold16(UInt64(~checksum) &+ UInt64(~old) &+ UInt64(new))
    }

    /// The sum of the four 16-bit words of a 64-bit value.
    @inlinable @inline(__always)
    static func words(_ value: UInt64) -> UInt64 {
        (value >> 48) &+ (value >> 32 & 0xFFFF) &+ (value >> 16 & 0xFFFF) &+ (value & 0xFFFF)
    }

    /// Folds a 64-bit ones'-complement accumulator to 16 bits (end-around carry).
    @inlinable @inline(__always)
    static func fold16(_ value: UInt64) -> UInt16 {
        var s = (value & 0xFFFF_FFFF) &+ (value >> 32) // <= 33 bits
        s = (s & 0xFFFF) &+ (s >> 16) // <= 18 bits
        s = (s & 0xFFFF) &+ (s >> 16) // <= 17 bits
        s = (s & 0xFFFF) &+ (s >> 16)
        return UInt16(truncatingIfNeeded: s)
    }

    /// The sum of `bytes` as native-order 16-bit words, the odd last byte padded with zero,
    /// as a 64-bit ones'-complement value (fold it to 16 bits). Reads 32 bytes per round with
    /// unaligned 64-bit loads into two add-with-carry chains; the carries out of bit 63 are
    /// counted and added back at the end (end-around carry), which keeps the 16-bit sum because
    /// 2^64 = 1 modulo 0xffff.
    @inlinable
    static func nativeSum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        guard let base = bytes.baseAddress else { return 0 }
        let count = bytes.count
        var a0: UInt64 = 0, a1: UInt64 = 0
        var carries0: UInt64 = 0, carries1: UInt64 = 0
        var offset = 0
        var overflow: Bool
        while count &- offset >= 32 {
            (a0, overflow) = a0.addingReportingOverflow(base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            carries0 &+= overflow ? 1 : 0
            (a1, overflow) = a1.addingReportingOverflow(
                base.loadUnaligned(fromByteOffset: offset &+ 8, as: UInt64.self))
            carries1 &+= overflow ? 1 : 0
            (a0, overflow) = a0.addingReportingOverflow(
                base.loadUnaligned(fromByteOffset: offset &+ 16, as: UInt64.self))
            carries0 &+= overflow ? 1 : 0
            (a1, overflow) = a1.addingReportingOverflow(
                base.loadUnaligned(fromByteOffset: offset &+ 24, as: UInt64.self))
            carries1 &+= overflow ? 1 : 0
            offset &+= 32
        }
        var total = addWithCarry(addWithCarry(a0, a1), carries0 &+ carries1)
        while count &- offset >= 8 {
            total = addWithCarry(total, base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            offset &+= 8
        }
        if offset < count {
            // The last 1...7 bytes at the start of a zeroed word: an odd last byte becomes the
            // first (wire-high) byte of a word whose second byte is zero.
            let remaining = count &- offset
            var tail: UInt64 = 0
            #if _endian(little)
                // Lower addresses are lower bits: place 4-, 2- and 1-byte pieces upward.
                var shift: UInt64 = 0
                if remaining & 4 != 0 {
                    tail = UInt64(base.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                    offset &+= 4
                    shift = 32
                }
                if remaining & 2 != 0 {
                    tail |= UInt64(base.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) << shift
                    offset &+= 2
                    shift &+= 16
                }
                if remaining & 1 != 0 {
                    tail |= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) << shift
                }
            #else
                withUnsafeMutableBytes(of: &tail) {
                    $0.baseAddress?.copyMemory(from: base + offset, byteCount: remaining)
                }
            #endif
            total = addWithCarry(total, tail)
        }
        return total
    }

    /// Ones'-complement 64-bit addition: the carry out of bit 63 comes back in at bit 0.
    @inlinable @inline(__always)
    static func addWithCarry(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return sum &+ (overflow ? 1 : 0)
    }
}

/// How an emitter fills a transport checksum field.
public enum ChecksumMode: Sendable, Hashable {
    /// The full checksum over pseudo-header, header and payload.
    case compute
    /// Only the folded pseudo-header sum, for the device or kernel to complete (tx checksum
    /// offload, GSO): the CHECKSUM_PARTIAL convention of virtio_net_hdr.
    case partial
    /// Zero (IPv4 UDP "no checksum", RFC 768; or a field someone else fills).
    case zero
}

/// The addresses of the IP header a transport checksum covers.
public enum PseudoHeader: Sendable, Hashable {
    case v4(source: IPv4Address, destination: IPv4Address)
    case v6(source: IPv6Address, destination: IPv6Address)

    /// A checksum accumulator seeded with this pseudo-header.
    @inlinable public func checksum(protocolNumber: IPProtocol, length: Int) -> InternetChecksum {
        var c = InternetChecksum()
        switch self {
        case let .v4(source, destination):
            c.addPseudoHeader(source: source, destination: destination, protocolNumber: protocolNumber, length: length)
        case let .v6(source, destination):
            c.addPseudoHeader(source: source, destination: destination, protocolNumber: protocolNumber, length: length)
        }
        return c
    }
}

/// The name the API contract uses for `UDPRepr.parse`'s checksum argument.
public typealias PseudoHeaderSource = PseudoHeader
