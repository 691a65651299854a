// Packetization-layer path MTU discovery (RFC 4821, as RFC 8899 carries on) for paths that drop
// big segments without telling us: ICMP filtered on the way, a "black hole". After repeated
// timeouts the segment size falls to a base that nearly every path carries, then probes search
// upward between what is known to pass (`low`) and what may not (`high`), as Linux does with
// tcp_mtu_probing = 1. The values are MTUs: IP and TCP headers included.

import Wire

struct TCPPathMTUSearch {
    /// Linux's tcp_base_mss: the segment size a black hole falls back to first.
    static let baseMSS = 1024
    /// Linux's tcp_probe_threshold: the search stops when high - low is below this.
    static let threshold = 8
    /// Linux's tcp_probe_interval: how long a finished search rests before it looks again.
    static let reprobeInterval: Int64 = 600 * 1_000_000_000
    /// Linux's tcp_mtu_probe: no probe below this congestion window, in segments.
    static let minimumWindowSegments = 11
    /// RFC 4821 7.7's black-hole signal: this many consecutive timeouts of one segment
    /// (Linux's tcp_retries1).
    static let blackHoleTimeouts = 3

    /// A black hole was seen: the search runs.
    private(set) var isActive = false
    private(set) var low = 0
    private(set) var high = 0
    /// The probe in flight: its sequence range and its size.
    var probe: (start: SeqNumber, end: SeqNumber, mtu: Int)?
    /// When a finished search starts again from the route's MTU.
    private var reprobeAt: Int64?

    /// The MTU to fall back to after a black hole: the base at first, then half what was
    /// thought safe, never below `floor`. `current` is the MTU that timed out; `routeMTU` caps
    /// the search.
    mutating func blackHole(current: Int, routeMTU: Int, headers: Int, floor: Int) -> Int {
        if isActive {
            low = max(min((low - headers) / 2 + headers, low), floor)
        } else {
            isActive = true
            high = routeMTU
            low = max(min(Self.baseMSS + headers, current), floor)
        }
        high = max(min(high, current), low)
        probe = nil
        reprobeAt = nil
        return low
    }

    /// The size of the next probe, or nil when none is due (no search, searched out, resting).
    mutating func nextProbeMTU(now: Int64, routeMTU: Int) -> Int? {
        guard isActive, probe == nil else { return nil }
        if let at = reprobeAt {
            guard now >= at else { return nil }
            reprobeAt = nil
            high = routeMTU
        }
        guard high - low >= Self.threshold else {
            reprobeAt = now + Self.reprobeInterval
            return nil
        }
        return (low + high) / 2
    }

    /// The probe arrived: its size passes. Returns the new MTU.
    mutating func probeSucceeded() -> Int? {
        guard let probe else { return nil }
        low = probe.mtu
        self.probe = nil
        return low
    }

    /// The probe was lost: sizes from it up may not pass.
    mutating func probeFailed() {
        guard let probe else { return }
        high = max(probe.mtu - 1, low)
        self.probe = nil
    }

    /// An ICMP report bounds the search too.
    mutating func reported(mtu: Int) {
        guard isActive else { return }
        high = max(min(high, mtu), 0)
        low = min(low, high)
        probe = nil
    }
}
