// Tunables of one TCP connection or listener. Defaults follow Linux where it matters on the wire.

public struct TCPConfig: Sendable {
    /// The largest send ring: the most unacknowledged + unsent data held. A connection opens
    /// with a smaller one (`initialSendBufferSize(mss:)`) and grows it while it limits the flight.
    public var sendBufferSize = 256 * 1024
    /// The largest receive ring: the largest window ever advertised. A connection opens with
    /// `initialReceiveBufferSize` and grows it with the window's auto-tuning.
    public var receiveBufferSize = 256 * 1024
    /// Receive-window auto-tuning starts the advertised window here and grows it toward
    /// `receiveBufferSize` while the application drains at least that much per RTT.
    public var initialReceiveWindow = 64 * 1024
    /// The route MTU, the same for both families (the IP header in it is not); our MSS is
    /// derived from it per connection (`localMSS(for:)`).
    public var mtu = 1500
    /// Segmentation offload (TSO over GSO): new data goes down in segments of up to this many
    /// payload bytes (whole multiples of the MSS), which the link cuts into MSS-sized segments
    /// (`TCPSegmentOutput.send(_:payload:flow:segmentSize:)`). 0, the default, never sends
    /// more than the MSS in one segment. Set it only for a route whose link advertises
    /// `LinkCapabilities.gso` with a `gsoMaxSize` of at least this plus 100 bytes (IPv6 and TCP headers).
    public var segmentationOffloadSize = 0
    public var congestionControl: TCPCongestionControlAlgorithm = .cubic
    /// Packetization-layer path MTU discovery (RFC 4821) once repeated timeouts suggest a path
    /// that drops big segments without an ICMP (a black hole): Linux's tcp_mtu_probing = 1.
    /// A healthy path never sees it.
    public var pathMTUProbing = true
    /// How a SACK connection finds lost segments: RACK-TLP (RFC 8985) by default, as Linux
    /// (tcp_recovery = 1); connections without SACK count duplicate ACKs either way.
    public var lossDetection: TCPLossDetection = .rack
    /// Most records in RACK's transmission log (one per segment or burst sent, cut where SACKs
    /// and retransmissions need it); past it send times get coarser, and it is counted. 0, the
    /// default, sizes it for a full send ring of one-MSS segments and the cuts of a full SACK
    /// scoreboard (`transmissionRecords(mss:)`).
    public var maximumTransmissionRecords = 0
    public var windowScaling = true
    public var timestamps = true
    public var selectiveAcknowledgments = true
    /// Disables Nagle's algorithm (TCP_NODELAY).
    public var noDelay = false
    public var minimumRTO: Duration = .milliseconds(200)
    public var maximumRTO: Duration = .seconds(120)
    public var initialRTO: Duration = .seconds(1)
    /// Retransmissions of one segment before the connection is given up (Linux tcp_retries2).
    public var maximumRetransmissions = 15
    /// The same bound once the user closed the connection (Linux's tcp_orphan_retries, whose
    /// default 0 means 8): nobody waits on an orphan, so it is given up sooner.
    public var maximumOrphanRetransmissions = 8
    /// SYN / SYN-ACK retransmissions before giving up (Linux tcp_syn_retries).
    public var maximumSynRetransmissions = 6
    /// RFC 9293 3.8.6.3: "an ACK ... MUST NOT be excessively delayed; in particular, the delay
    /// MUST be less than 0.5 seconds"; we use 40 ms like Linux's quick-ack floor.
    public var delayedAckTimeout: Duration = .milliseconds(40)
    /// In-order data segments ACKed at once, each, after the first data arrives (Linux's quick-ACK
    /// mode, TCP_MAX_QUICKACKS = 16): the peer's slow start grows per ACK, so delaying the
    /// first ACKs costs a short transfer round trips. At most half the window's worth of
    /// segments, as tcp_incr_quickack bounds it.
    public var maximumQuickAcks = 16
    /// Twice the maximum segment lifetime. RFC 9293 suggests 2 * 2 min; a user-mode gateway
    /// owns its port space, so a short default (like Linux's 60 s, shorter still) is safe.
    public var timeWaitDuration: Duration = .seconds(1)
    /// How long a connection the user closed fully (`close`, not `shutdownWrite`) waits in
    /// FIN-WAIT-2 for the peer's FIN before it is dropped: Linux's tcp_fin_timeout (60 s) for
    /// orphaned sockets. RFC 9293 sets no bound, so a peer that never closes would hold the
    /// connection (and its table slot) forever.
    public var finWait2Timeout: Duration = .seconds(60)
    public var keepalive: TCPKeepalive? = nil
    /// Most out-of-order byte ranges held in the receive ring; more are dropped and counted.
    public var maximumOutOfOrderRanges = 32
    /// Most SACK ranges remembered per connection on the sending side.
    public var maximumScoreboardRanges = 32
    /// Challenge ACKs per second (RFC 5961 section 7 rate limit).
    public var challengeAckLimitPerSecond = 100

    public init() {}

    /// The send ring a connection opens with: twice the initial congestion window (as Linux's
    /// tcp_init_buffer_space sizes sk_sndbuf), at least 64 KiB, at most `sendBufferSize`.
    public func initialSendBufferSize(mss: Int) -> Int {
        min(sendBufferSize, max(64 * 1024, 2 * TCPCongestionControl.initialWindow(mss: mss)))
    }

    /// The bound of RACK's transmission log for a connection sending `mss`-byte segments.
    public func transmissionRecords(mss: Int) -> Int {
        guard maximumTransmissionRecords == 0 else { return maximumTransmissionRecords }
        return sendBufferSize / max(mss, 1) + 2 * maximumScoreboardRanges + 2
    }

    /// The receive ring a connection opens with: what the initial window needs.
    public var initialReceiveBufferSize: Int { min(initialReceiveWindow, receiveBufferSize) }

    /// The most both rings take when a connection opens, on either family (for admission).
    public var openingBufferBytes: Int { initialSendBufferSize(mss: mtu - 40) + initialReceiveBufferSize }

    /// The MSS we advertise and never exceed on a connection of `flow`'s family. RFC 9293
    /// 3.7.1 (after RFC 879 and RFC 6691): "the MSS value to be sent in an MSS option should be
    /// equal to the effective MTU minus the fixed IP and TCP headers": MTU - 40 on IPv4 (20 + 20
    /// bytes: 1460 at MTU 1500, as Linux sends), MTU - 60 on IPv6 (40 + 20: 1440).
    public func localMSS(for flow: TCPFlowID) -> Int {
        max(mtu - (flow.isIPv6 ? 60 : 40), 88)
    }
}

/// The loss detection of SACK connections.
public enum TCPLossDetection: Sendable, Hashable {
    /// RACK-TLP (RFC 8985): losses from per-segment send times, and a tail loss probe before the
    /// retransmission timeout (Linux's tcp_recovery = 1, tcp_early_retrans = 3).
    case rack
    /// RFC 6675's DupThresh rule only ("IsLost": more than two segments SACKed above a hole),
    /// no probe (Linux's tcp_recovery = 0, tcp_early_retrans = 0).
    case duplicateThreshold
}

/// Keepalive (RFC 9293 section 3.8.4): off by default, as the RFC requires.
public struct TCPKeepalive: Sendable, Hashable {
    public var idle: Duration
    public var interval: Duration
    public var probes: Int

    public init(idle: Duration = .seconds(7200), interval: Duration = .seconds(75), probes: Int = 9) {
        self.idle = idle
        self.interval = interval
        self.probes = probes
    }
}
