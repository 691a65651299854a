// A token bucket, refilled from the `now` the stack is given. Used to rate-limit the ICMP
// errors the stack sends (RFC 1812 4.3.2.8, RFC 1122 3.2.2: "a host SHOULD limit the rate"),
// so that a port scan or a flood of bad packets cannot make the stack a traffic amplifier.

/// Tunables of a token bucket.
public struct RateLimit: Sendable, Equatable {
    /// Tokens added per second.
    public var perSecond: Int
    /// Tokens the bucket holds at most (the burst a quiet period allows).
    public var burst: Int

    public init(perSecond: Int, burst: Int) {
        self.perSecond = max(0, perSecond)
        self.burst = max(0, burst)
    }
}

struct TokenBucket {
    let limit: RateLimit
    private var tokens: Int
    private var lastRefill: NetstackInstant?
    /// Nanoseconds carried over that did not yet make a whole token.
    private var remainder: UInt64 = 0

    init(_ limit: RateLimit) {
        self.limit = limit
        tokens = limit.burst
    }

    /// Takes one token if there is one.
    mutating func take(now: NetstackInstant) -> Bool {
        refill(now: now)
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }

    private mutating func refill(now: NetstackInstant) {
        guard let last = lastRefill else {
            lastRefill = now
            return
        }
        guard now > last, limit.perSecond > 0 else { return }
        let elapsed = now.nanoseconds - last.nanoseconds + remainder
        let perToken = 1_000_000_000 / UInt64(limit.perSecond)
        guard perToken > 0 else {
            tokens = limit.burst
            lastRefill = now
            return
        }
        let fresh = elapsed / perToken
        remainder = elapsed % perToken
        lastRefill = now
        if fresh > 0 { tokens = Int(min(UInt64(limit.burst), UInt64(tokens) + fresh)) }
    }
}
