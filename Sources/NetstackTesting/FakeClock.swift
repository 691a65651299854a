// A clock that moves only when told, for deterministic tests of timers.

import Netstack

public final class FakeClock {
    public private(set) var now: NetstackInstant

    public init(start: NetstackInstant = NetstackInstant(nanoseconds: 1_000_000_000)) { now = start }

    /// Moves the clock forward and lets each stack run its due timers.
    public func advance(by duration: Duration, stacks: Stack...) {
        now = now.advanced(by: duration)
        for stack in stacks { stack.advance(to: now) }
    }

    /// Moves the clock to each of the stacks' next deadlines in turn, up to `limit` from now,
    /// running timers at each step; returns the steps taken.
    @discardableResult
    public func runTimers(upTo limit: Duration, stacks: Stack...) -> Int {
        let end = now.advanced(by: limit)
        var steps = 0
        while steps < 10_000 {
            var next = DeadlineAccumulator()
            for stack in stacks { next.consider(stack.nextDeadline) }
            guard let deadline = next.earliest, deadline <= end else { break }
            if deadline > now { now = deadline }
            for stack in stacks { stack.advance(to: now) }
            steps += 1
        }
        now = end
        for stack in stacks { stack.advance(to: now) }
        return steps
    }
}
