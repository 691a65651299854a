// Time as the stack sees it. The stack is sans-IO: it never reads a clock. Its owner passes the
// current instant in (`Stack.advance(to:)`), and asks `Stack.nextDeadline` when to come back.
// An instant is a count of nanoseconds from an origin the owner chooses (CLOCK_MONOTONIC in
// production, zero in tests); only differences between instants mean anything.

/// A point on the owner's monotonic clock, in nanoseconds.
public struct NetstackInstant: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: UInt64

    @inlinable public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    public static let zero = NetstackInstant(nanoseconds: 0)
    /// Later than any real deadline; used as "no deadline" inside min computations.
    public static let distantFuture = NetstackInstant(nanoseconds: .max)

    @inlinable public static func < (a: Self, b: Self) -> Bool { a.nanoseconds < b.nanoseconds }

    /// `self + duration`, saturating at `distantFuture` (negative durations clamp at zero).
    @inlinable public func advanced(by duration: Duration) -> NetstackInstant {
        let delta = duration.nanosecondsSaturating
        if delta >= 0 {
            let (sum, overflow) = nanoseconds.addingReportingOverflow(UInt64(delta))
            return NetstackInstant(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = UInt64(delta.magnitude)
        return NetstackInstant(nanoseconds: nanoseconds > magnitude ? nanoseconds - magnitude : 0)
    }

    /// Time from `earlier` to `self`, zero when `earlier` is later.
    @inlinable public func duration(since earlier: NetstackInstant) -> Duration {
        nanoseconds > earlier.nanoseconds ? .nanoseconds(Int64(clamping: nanoseconds - earlier.nanoseconds)) : .zero
    }

    @inlinable public static func milliseconds(_ ms: UInt64) -> NetstackInstant {
        NetstackInstant(nanoseconds: ms &* 1_000_000)
    }

    /// `advanced(by:)` as an operator.
    @inlinable public static func + (instant: Self, duration: Duration) -> NetstackInstant {
        instant.advanced(by: duration)
    }

    /// The signed time from `b` to `a` (negative when `b` is later).
    @inlinable public static func - (a: Self, b: Self) -> Duration {
        .nanoseconds(Int64(bitPattern: a.nanoseconds &- b.nanoseconds))
    }

    /// The instant as the TCP core's signed arithmetic uses it (deadlines, RTT samples).
    @inlinable var signedNanoseconds: Int64 { Int64(clamping: nanoseconds) }

    /// From the TCP core's signed nanoseconds; an instant before the origin is the origin.
    @inlinable init(signedNanoseconds: Int64) { nanoseconds = UInt64(max(signedNanoseconds, 0)) }

    public var description: String { "t+\(Double(nanoseconds) / 1e6)ms" }
}

extension Duration {
    /// Whole nanoseconds, clamped to Int64 (the one conversion the stack's timers use).
    @usableFromInline var nanosecondsSaturating: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflow2 ? (seconds < 0 ? .min : .max) : sum
    }
}

/// Keeps the earliest of several deadlines; a small helper for `nextDeadline` computations.
public struct DeadlineAccumulator: Sendable {
    public private(set) var earliest: NetstackInstant? = nil
    public init() {}
    public mutating func consider(_ deadline: NetstackInstant?) {
        guard let deadline else { return }
        if let current = earliest, current <= deadline { return }
        earliest = deadline
    }
}
