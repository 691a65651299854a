// Time as the TCP core sees it: an instant handed in by the caller. The core never reads a clock
// (sans-IO), so tests drive it with a fake clock and the event loop with its own.

/// A point in time, in nanoseconds since an arbitrary origin chosen by the caller.
public struct TCPInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    @inlinable public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public static let zero = TCPInstant(nanoseconds: 0)

    @inlinable public static func milliseconds(_ ms: Int64) -> TCPInstant { TCPInstant(nanoseconds: ms &* 1_000_000) }

    @inlinable public static func < (a: TCPInstant, b: TCPInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    @inlinable public static func + (a: TCPInstant, d: Duration) -> TCPInstant {
        TCPInstant(nanoseconds: a.nanoseconds &+ d.tcpNanoseconds)
    }

    @inlinable public static func - (a: TCPInstant, b: TCPInstant) -> Duration {
        .nanoseconds(a.nanoseconds &- b.nanoseconds)
    }

    /// Milliseconds since the origin, the unit of our TCP timestamp clock (RFC 7323 section 5.4
    /// asks for a tick between 1 ms and 1 s).
    @inlinable var milliseconds: Int64 { nanoseconds / 1_000_000 }

    public var description: String { "t+\(Double(nanoseconds) / 1e6)ms" }
}

extension Duration {
    /// Whole nanoseconds, saturating; enough for every TCP timer.
    @inlinable var tcpNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        return ns &+ attoseconds / 1_000_000_000
    }
}
