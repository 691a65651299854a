// Addresses the DNS forwarder saw in answers for names that an `--allow-domain` rule covers,
// each admitted until its TTL ends. Bounded: when full, expired entries go first; if none
// expired, the new address is refused and counted (the app then meets the other rules).

import Wire

public struct LearnedAddressTable: Sendable {
    struct Entry: Sendable {
        var expiry: UInt64
        var domains: [DNSName]
    }

    public struct Counters: Sendable, Equatable {
        public var learned: UInt64 = 0
        public var refreshed: UInt64 = 0
        public var refusedFull: UInt64 = 0
        public var expired: UInt64 = 0
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

    /// Admits every address `answer` gives for a question name within one of `domains`.
    public mutating func learn(from answer: DNSMessage, allowedDomains domains: [DNSName], now: UInt64) {
        guard answer.header.isResponse, answer.header.responseCode == 0 else { return }
        for question in answer.questions {
            let covering = domains.filter { question.name.isWithin($0) }
            guard !covering.isEmpty else { continue }
            for (address, ttl) in answer.addresses(for: question.name) {
                let clamped = min(max(ttl, ttlRange.lowerBound), ttlRange.upperBound)
                admit(address, domains: covering, until: now &+ UInt64(clamped) * 1_000_000_000, now: now)
            }
        }
    }

    public func isAdmitted(_ address: IPAddress, by domain: DNSName, now: UInt64) -> Bool {
        guard let entry = entries[address], entry.expiry > now else { return false }
        return entry.domains.contains(domain)
    }

    public mutating func purgeExpired(now: UInt64) {
        let before = entries.count
        entries = entries.filter { $0.value.expiry > now }
        counters.expired &+= UInt64(before - entries.count)
    }

    private mutating func admit(_ address: IPAddress, domains: [DNSName], until expiry: UInt64, now: UInt64) {
        if var entry = entries[address] {
            entry.expiry = max(entry.expiry, expiry)
            for domain in domains where !entry.domains.contains(domain) { entry.domains.append(domain) }
            entries[address] = entry
            counters.refreshed &+= 1
            return
        }
        if entries.count >= capacity { purgeExpired(now: now) }
        guard entries.count < capacity else {
            counters.refusedFull &+= 1
            return
        }
        entries[address] = Entry(expiry: expiry, domains: domains)
        counters.learned &+= 1
    }
}
