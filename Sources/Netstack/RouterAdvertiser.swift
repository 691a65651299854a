// When a NIC's router advertisements are due (RFC 4861 6.2): a few initial advertisements close
// together, then one every `interval`; a solicitation is answered at once unless a multicast
// advertisement went out less than MIN_DELAY_BETWEEN_RAS ago, in which case the answer is the
// next advertisement at that boundary (RFC 4861 6.2.6). RFC 4861 also asks for a random delay
// (up to MAX_RA_DELAY_TIME) and jitter so that many routers do not synchronise; the stack is
// deterministic and the only router on its link, so it leaves them out. Pure bookkeeping: the
// NDP code sends.

import Wire

/// What a NIC advertises, and how often (RFC 4861 6.2.1 router configuration variables).
public struct RouterAdvertisementConfiguration: Sendable, Equatable {
    /// The on-link prefix hosts autoconfigure from (SLAAC needs a /64, RFC 4862 5.5.3).
    public var prefix: IPv6Subnet
    /// MaxRtrAdvInterval: time between unsolicited advertisements once the initial ones went out.
    public var interval: Duration = .seconds(200)
    /// AdvDefaultLifetime: how long hosts keep us as their default router (RFC 4861 default is
    /// 3 x MaxRtrAdvInterval).
    public var routerLifetime: Duration = .seconds(1800)
    /// AdvValidLifetime and AdvPreferredLifetime of the prefix (RFC 4861 defaults: 30 and 7 days).
    public var validLifetime: Duration = .seconds(2_592_000)
    public var preferredLifetime: Duration = .seconds(604_800)
    /// The prefix's A flag (RFC 4861 4.6.2): hosts autoconfigure an address in it (RFC 4862
    /// 5.5.3). Off where each host's address is given to it and nothing else may be its source.
    public var autonomous = true
    /// AdvCurHopLimit for hosts.
    public var hopLimit: UInt8 = 64
    /// AdvLinkMTU; nil advertises the NIC's MTU.
    public var mtu: Int? = nil

    /// MAX_INITIAL_RTR_ADVERTISEMENTS and MAX_INITIAL_RTR_ADVERT_INTERVAL (RFC 4861 10).
    public static let initialAdvertisements = 3
    public static let initialInterval: Duration = .seconds(16)
    /// MIN_DELAY_BETWEEN_RAS (RFC 4861 10).
    public static let minimumDelayBetweenAdvertisements: Duration = .seconds(3)

    /// The slirp default: fd00::/64.
    public init(prefix: IPv6Subnet = IPv6Subnet(IPv6Address(high: 0xFD00 << 48, low: 0), prefixLength: 64)) {
        self.prefix = prefix
    }
}

struct RouterAdvertiser {
    let configuration: RouterAdvertisementConfiguration
    private(set) var nextUnsolicited: NetstackInstant
    private(set) var solicitedDue: NetstackInstant?
    private(set) var lastMulticast: NetstackInstant?
    private(set) var sent = 0

    /// The first advertisement is due at `now`.
    init(configuration: RouterAdvertisementConfiguration, now: NetstackInstant) {
        self.configuration = configuration
        nextUnsolicited = now
    }

    var nextDeadline: NetstackInstant? {
        guard let solicitedDue, solicitedDue < nextUnsolicited else { return nextUnsolicited }
        return solicitedDue
    }

    func isDue(now: NetstackInstant) -> Bool {
        guard let deadline = nextDeadline else { return false }
        return deadline <= now
    }

    /// A router solicitation came in: returns whether to advertise now (otherwise one is
    /// scheduled at the earliest instant allowed).
    mutating func solicited(now: NetstackInstant) -> Bool {
        guard let lastMulticast else { return true }
        let earliest = lastMulticast.advanced(by: RouterAdvertisementConfiguration.minimumDelayBetweenAdvertisements)
        if now >= earliest { return true }
        if let due = solicitedDue, due <= earliest { return false }
        solicitedDue = earliest
        return false
    }

    /// An advertisement went to all nodes at `now`: schedule the next unsolicited one.
    mutating func advertised(now: NetstackInstant) {
        sent += 1
        lastMulticast = now
        solicitedDue = nil
        let gap =
            sent < RouterAdvertisementConfiguration.initialAdvertisements
            ? min(RouterAdvertisementConfiguration.initialInterval, configuration.interval) : configuration.interval
        nextUnsolicited = now.advanced(by: gap)
    }
}
