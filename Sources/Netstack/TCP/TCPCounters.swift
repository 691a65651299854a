// Counters for everything that hit a bound or a rule, per connection and stack-wide, and the
// memory budget that caps the bytes all connections' rings may take.

/// Per-connection counters; read them with `TCPConnection.counters`.
public struct TCPConnectionCounters: Sendable, Hashable {
    public var segmentsReceived = 0
    public var segmentsSent = 0
    public var bytesReceived = 0
    public var bytesSent = 0
    public var retransmittedSegments = 0
    public var retransmissionTimeouts = 0
    public var fastRetransmits = 0
    /// Retransmissions found lost by later SACKs (RACK, or for the first hole the DupThresh
    /// rule), and sent again.
    public var lostRetransmissions = 0
    /// Tail loss probes sent (RFC 8985 7.3), and those whose ACK showed they repaired a loss.
    public var tailLossProbes = 0
    public var tailLossProbeRepairs = 0
    /// RACK reordering-timer expiries (RFC 8985 6.2 step 5).
    public var reorderTimeouts = 0
    /// Sends folded together, or boundaries not cut, because RACK's transmission log was full
    /// (`TCPConfig.maximumTransmissionRecords`).
    public var transmissionLogOverflows = 0
    public var duplicateAcksReceived = 0
    public var unacceptableSegments = 0
    public var pawsRejected = 0
    public var challengeAcksSent = 0
    public var challengeAcksSuppressed = 0
    /// Data segments that brought bytes already received (reported by D-SACK when SACK is on).
    public var duplicateSegmentsReceived = 0
    /// Out-of-order data dropped because the range table was full.
    public var outOfOrderDropped = 0
    /// Persist-timer probes: of a zero window, or of one too small for a segment.
    public var zeroWindowProbesSent = 0
    public var keepaliveProbesSent = 0
    /// Connections given up on a closed window: persist probes went unanswered
    /// (`TCPConfig.maximumRetransmissions`), or data was outstanding and no ACK came for
    /// `TCPConfig.maximumRTO`.
    public var zeroWindowTimeouts = 0
    /// ICMP "fragmentation needed" / "packet too big" messages that lowered the segment size,
    /// and those ignored (failed the RFC 5927 checks, or claimed no reduction).
    public var pathMTUReductions = 0
    public var pathMTUMessagesIgnored = 0
    /// Black holes suspected (the segment size fell back), probes of a larger size sent, and
    /// probes lost (the size did not pass).
    public var pathMTUBlackHoles = 0
    public var pathMTUProbesSent = 0
    public var pathMTUProbesLost = 0
    /// Times a ring grew (auto-tuning); a growth the memory budget refused counts in
    /// `TCPMemoryBudget.refusals` and leaves the ring as it was.
    public var bufferGrowths = 0
    /// Connections closed by the user and dropped in FIN-WAIT-2 (`TCPConfig.finWait2Timeout`).
    public var finWait2Timeouts = 0
    public init() {}
}

/// A shared cap on ring-buffer bytes across connections, with counters. Single-threaded, like
/// the stack that owns it.
public final class TCPMemoryBudget {
    public let limit: Int
    public private(set) var used = 0
    public private(set) var peak = 0
    public private(set) var refusals = 0

    public init(limit: Int) { self.limit = limit }

    /// Reserves `bytes`, or counts a refusal and returns false.
    public func reserve(_ bytes: Int) -> Bool {
        guard bytes <= limit - used else {
            refusals += 1
            return false
        }
        used += bytes
        peak = max(peak, used)
        return true
    }

    public func release(_ bytes: Int) { used = max(used - bytes, 0) }
}
