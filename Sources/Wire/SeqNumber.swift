// TCP sequence numbers: 32-bit values compared modulo 2^32 (RFC 9293 section 3.4).

/// A TCP sequence number. Arithmetic wraps; comparisons use the signed 32-bit difference, so
/// `a < b` means "b is ahead of a by less than 2^31", as RFC 9293 3.4 requires. (That order is
/// not transitive across more than half the space; compare only numbers within one window.)
public struct SeqNumber: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var rawValue: UInt32

    @inlinable public init(rawValue: UInt32) { self.rawValue = rawValue }
    @inlinable public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    @inlinable public static func &+ (a: SeqNumber, b: UInt32) -> SeqNumber { SeqNumber(rawValue: a.rawValue &+ b) }
    @inlinable public static func &+ (a: SeqNumber, b: Int) -> SeqNumber {
        SeqNumber(rawValue: a.rawValue &+ UInt32(truncatingIfNeeded: b))
    }
    @inlinable public static func &- (a: SeqNumber, b: UInt32) -> SeqNumber { SeqNumber(rawValue: a.rawValue &- b) }
    @inlinable public static func &- (a: SeqNumber, b: Int) -> SeqNumber {
        SeqNumber(rawValue: a.rawValue &- UInt32(truncatingIfNeeded: b))
    }
    @inlinable public static func &+= (a: inout SeqNumber, b: UInt32) { a = a &+ b }
    @inlinable public static func &+= (a: inout SeqNumber, b: Int) { a = a &+ b }

    /// The wrapping distance from `b` to `a`: positive when `a` is ahead of `b`.
    @inlinable public static func - (a: SeqNumber, b: SeqNumber) -> Int32 {
        Int32(bitPattern: a.rawValue &- b.rawValue)
    }

    @inlinable public static func < (a: SeqNumber, b: SeqNumber) -> Bool { a - b < 0 }
    @inlinable public static func <= (a: SeqNumber, b: SeqNumber) -> Bool { a - b <= 0 }
    @inlinable public static func > (a: SeqNumber, b: SeqNumber) -> Bool { a - b > 0 }
    @inlinable public static func >= (a: SeqNumber, b: SeqNumber) -> Bool { a - b >= 0 }

    public var description: String { String(rawValue) }
}
