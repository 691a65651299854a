// `--net-delay D[,JITTER]`, `--net-loss P%`, `--net-rate RATE`, `--net-duplicate P%`,
// `--net-reorder P%`, `--net-seed N`: what the gateway does to the app's link, in each
// direction, with netem's meanings (this kernel has no netem): a delay D holds every frame D
// (so a round trip gains 2D), jitter moves each one uniformly within ±JITTER, loss drops, rate
// serialises frames at RATE, duplicate sends twice, and reorder sends that share of frames at
// once while the others wait out the delay. Under one seed the same frames meet the same fate.

public struct LinkFaults: Sendable, Equatable, CustomStringConvertible {
    public var delayNanoseconds: UInt64 = 0
    public var jitterNanoseconds: UInt64 = 0
    /// Probabilities, 0...1.
    public var loss = 0.0
    public var duplicate = 0.0
    public var reorder = 0.0
    /// Bits a second; nil: as fast as the link goes.
    public var rateBitsPerSecond: UInt64?
    public var seed: UInt64 = 1

    public init() {}

    public var isEmpty: Bool {
        delayNanoseconds == 0 && jitterNanoseconds == 0 && loss == 0 && duplicate == 0 && reorder == 0
            && rateBitsPerSecond == nil
    }

    /// Parses the flags as given; nil leaves that fault off.
    public init(
        delay: String? = nil, loss: String? = nil, rate: String? = nil, duplicate: String? = nil,
        reorder: String? = nil, seed: String? = nil
    ) throws(LinkFaultError) {
        self.init()
        try apply(delay: delay, loss: loss, rate: rate, duplicate: duplicate, reorder: reorder, seed: seed)
    }

    /// Sets the faults whose flags are given (nil keeps that one as it is), then checks the
    /// whole: `sandbox update` changes only what it names.
    public mutating func apply(
        delay: String? = nil, loss: String? = nil, rate: String? = nil, duplicate: String? = nil,
        reorder: String? = nil, seed: String? = nil
    ) throws(LinkFaultError) {
        if let delay {
            let parts = delay.split(separator: ",", omittingEmptySubsequences: false)
            guard (1...2).contains(parts.count), let base = Self.duration(parts[0]),
                let jitter = parts.count == 2 ? Self.duration(parts[1]) : 0
            else {
                throw .bad("--net-delay", delay, "expected D[,JITTER] such as 50ms or 100ms,10ms (units ns, us, ms, s)")
            }
            guard jitter <= base else { throw .bad("--net-delay", delay, "the jitter may be at most the delay") }
            (delayNanoseconds, jitterNanoseconds) = (base, jitter)
        }
        if let loss { self.loss = try Self.probability("--net-loss", loss) }
        if let duplicate { self.duplicate = try Self.probability("--net-duplicate", duplicate) }
        if let reorder { self.reorder = try Self.probability("--net-reorder", reorder) }
        if self.reorder > 0, delayNanoseconds == 0 {
            throw .bad(
                "--net-reorder", reorder ?? "\(self.reorder * 100)%",
                "needs --net-delay: reordered frames are the ones not delayed")
        }
        if let rate {
            guard let bits = Self.rate(rate) else {
                throw .bad(
                    "--net-rate", rate,
                    "expected a rate such as 10mbit, 512kbit or 1gbit (tc's units: bit, kbit, mbit, gbit; bps, kbps, mbps are bytes)"
                )
            }
            rateBitsPerSecond = bits
        }
        if let seed {
            guard let value = UInt64(seed) else { throw .bad("--net-seed", seed, "expected a whole number") }
            self.seed = value
        }
    }

    /// "50ms", "1.5s", "200us", "0".
    static func duration(_ text: Substring) -> UInt64? {
        let units: [(String, Double)] = [("ns", 1), ("us", 1e3), ("ms", 1e6), ("s", 1e9)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0, value <= 3600 * 1e9 / scale else {
                return nil
            }
            return UInt64((value * scale).rounded())
        }
        return text == "0" ? 0 : nil
    }

    static func probability(_ flag: String, _ text: String) throws(LinkFaultError) -> Double {
        let number = text.hasSuffix("%") ? text.dropLast() : Substring(text)
        guard let percent = Double(number), (0...100).contains(percent) else {
            throw .bad(flag, text, "expected a percentage from 0% to 100%")
        }
        return percent / 100
    }

    static func rate(_ text: String) -> UInt64? {
        let units: [(String, Double)] = [
            ("kbps", 8e3), ("mbps", 8e6), ("gbps", 8e9), ("bps", 8), ("kbit", 1e3), ("mbit", 1e6), ("gbit", 1e9),
            ("bit", 1)
        ]
        for (suffix, scale) in units where text.lowercased().hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value > 0 else { return nil }
            let bits = value * scale
            return bits >= 8_000 && bits <= 1e12 ? UInt64(bits) : nil
        }
        return nil
    }

    /// The faults as the flags that would ask for them ("--net-delay 30ms --net-loss 3%"), or
    /// "no link faults".
    public var flagText: String {
        func number(_ value: Double) -> String {
            let rounded = (value * 1000).rounded() / 1000
            return rounded == rounded.rounded() ? "\(Int(rounded))" : "\(rounded)"
        }
        var parts: [String] = []
        if delayNanoseconds > 0 {
            let jitter = jitterNanoseconds > 0 ? ",\(number(Double(jitterNanoseconds) / 1e6))ms" : ""
            parts.append("--net-delay \(number(Double(delayNanoseconds) / 1e6))ms\(jitter)")
        }
        for (flag, share) in [("--net-loss", loss), ("--net-duplicate", duplicate), ("--net-reorder", reorder)]
        where share > 0 {
            parts.append("\(flag) \(number(share * 100))%")
        }
        if let rateBitsPerSecond { parts.append("--net-rate \(rateBitsPerSecond)bit") }
        return parts.isEmpty ? "no link faults" : parts.joined(separator: " ")
    }

    /// One token for the gateway process's flags (`--net-faults`), read back by `init(encoded:)`.
    public var description: String {
        "delay=\(delayNanoseconds),jitter=\(jitterNanoseconds),loss=\(loss),duplicate=\(duplicate),"
            + "reorder=\(reorder),rate=\(rateBitsPerSecond ?? 0),seed=\(seed)"
    }

    public init?(encoded: String) {
        var fields: [Substring: Substring] = [:]
        for item in encoded.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { return nil }
            fields[pair[0]] = pair[1]
        }
        guard let delay = fields["delay"].flatMap({ UInt64($0) }),
            let jitter = fields["jitter"].flatMap({ UInt64($0) }),
            let loss = fields["loss"].flatMap({ Double($0) }),
            let duplicate = fields["duplicate"].flatMap({ Double($0) }),
            let reorder = fields["reorder"].flatMap({ Double($0) }), let rate = fields["rate"].flatMap({ UInt64($0) }),
            let seed = fields["seed"].flatMap({ UInt64($0) }),
            [loss, duplicate, reorder].allSatisfy({ (0...1).contains($0) }), jitter <= delay
        else { return nil }
        (delayNanoseconds, jitterNanoseconds, self.loss, self.duplicate, self.reorder) = (
            delay, jitter, loss, duplicate, reorder
        )
        rateBitsPerSecond = rate == 0 ? nil : rate
        self.seed = seed
    }
}

public enum LinkFaultError: Error, Sendable, Equatable, CustomStringConvertible {
    case bad(String, String, String)

    public var description: String {
        switch self {
        case .bad(let flag, let value, let why): "bad \(flag) \(value): \(why)"
        }
    }
}
