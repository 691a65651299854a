// Addresses the DNS forwarder saw in answers for names that an `--allow-domain` rule covers,
// each admitted for that rule (and so only on its ports) until the answer's TTL ends. An
// answer that points into private space (SpecialAddresses.isPrivate) or at the host's own
// addresses teaches nothing unless an explicit --allow names the address: an allowed name
// must not become a way into the host's LAN (DNS rebinding). Bounded: when full, expired
// entries go first; if none expired, the new address is refused and counted (the app then
// meets the other rules).

import Wire

public struct LearnedAddressTable: Sendable {
    /// When the admission of the address ends, per rule that admitted it.
    typealias Entry = [Int: UInt64]

    public struct Counters: Sendable, Equatable {
        public var learned: UInt64 = 0
        public var refreshed: UInt64 = 0
        public var refusedFull: UInt64 = 0
        /// Answer addresses in private space or on the host, not admitted.
        public var refusedPrivate: UInt64 = 0
        public var expired: UInt64 = 0
    }

    /// What one answer taught, for the DNS line of the connection log.
    public struct Lesson: Sendable, Equatable {
        public var admitted: [IPAddress] = []
        public var refused: [IPAddress] = []
    }

    public let capacity: Int
    /// TTLs are clamped into this range (seconds): an answer with TTL 0 must still let the app
    /// connect right after resolving, and a huge TTL must not pin an address for ever.
    public let ttlRange: ClosedRange<UInt32>
    public private(set) var counters = Counters()
    private var entries: [IPAddress: Entry] = [:]

    public init(capacity: Int = 4096, ttlRange: ClosedRange<UInt32> = 30...86_400) {
        self.capacity = max(1, capacity)
        self.ttlRange = ttlRange
    }

    public var count: Int { entries.count }

    /// Admits the addresses `answer` gives for each question name a domain rule of `policy`
    /// covers, except those `network` protects or that are private (unless explicitly allowed).
    @discardableResult
    public mutating func learn(
        from answer: DNSMessage, policy: EgressPolicy, network: NetworkConfiguration,
        now: UInt64
    ) -> Lesson {
        var lesson = Lesson()
        guard answer.header.isResponse, answer.header.responseCode == 0 else { return lesson }
        for question in answer.questions {
            let covering = policy.domainRules(covering: question.name)
            guard !covering.isEmpty else { continue }
            for (address, ttl) in answer.addresses(for: question.name) {
                let inward =
                    SpecialAddresses.isPrivate(address) || network.hostAddresses.contains(address)
                    || SpecialAddresses.metadata.contains(address)
                guard !inward || policy.explicitlyAllowsAddress(address) else {
                    counters.refusedPrivate &+= 1
                    lesson.refused.append(address)
                    continue
                }
                let clamped = min(max(ttl, ttlRange.lowerBound), ttlRange.upperBound)
                if admit(address, rules: covering, until: now &+ UInt64(clamped) * 1_000_000_000, now: now) {
                    lesson.admitted.append(address)
                }
            }
        }
        return lesson
    }

    public func isAdmitted(_ address: IPAddress, byRule rule: Int, now: UInt64) -> Bool {
        guard let expiry = entries[address]?[rule] else { return false }
        return expiry > now
    }

    public mutating func purgeExpired(now: UInt64) {
        let before = entries.count
        entries = entries.compactMapValues { entry in
            let live = entry.filter { $0.value > now }
            return live.isEmpty ? nil : live
        }
        counters.expired &+= UInt64(before - entries.count)
    }

    private mutating func admit(_ address: IPAddress, rules: [Int], until expiry: UInt64, now: UInt64) -> Bool {
        if var entry = entries[address] {
            for rule in rules { entry[rule] = max(entry[rule] ?? 0, expiry) }
            entries[address] = entry
            counters.refreshed &+= 1
            return true
        }
        if entries.count >= capacity { purgeExpired(now: now) }
        guard entries.count < capacity else {
            counters.refusedFull &+= 1
            return false
        }
        entries[address] = Dictionary(uniqueKeysWithValues: rules.map { ($0, expiry) })
        counters.learned &+= 1
        return true
    }
}
