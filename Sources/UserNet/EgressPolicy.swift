// The egress policy: `--allow`, `--deny` and `--allow-domain` rules (EgressRule), checked in the
// order given; the first rule that matches decides, and a flow no rule matches is allowed.
// (The protected destinations are closed earlier by NetworkConfiguration.map unless their own
// flags, or an explicit --allow, open them: FlowAdmission.)
//
// A domain rule matches a destination address that a DNS answer for a name the rule's pattern
// covers gave the app through our forwarder, on the rule's ports, while that answer's TTL
// lasts (LearnedAddressTable); the flow keeps its verdict for its whole life.

import Wire

public struct PolicyDecision: Sendable, Equatable {
    public var verdict: PolicyVerdict
    /// Index of the deciding rule; nil when the default decided.
    public var ruleIndex: Int?

    public init(verdict: PolicyVerdict, ruleIndex: Int?) {
        self.verdict = verdict
        self.ruleIndex = ruleIndex
    }
}

public struct EgressPolicy: Sendable, Equatable {
    public var rules: [EgressRule]

    /// Bound on rules: each flow walks the list once.
    public static let maxRules = 1024

    public init(rules: [EgressRule] = []) {
        self.rules = rules
    }

    /// Builds the policy from the flags in command-line order, e.g.
    /// `[("--deny", "all"), ("--allow-domain", "example.com:443")]`.
    public init(arguments: [(flag: String, value: String)]) throws(PolicyParseError) {
        guard arguments.count <= Self.maxRules else { throw .tooManyRules(arguments.count) }
        var rules: [EgressRule] = []
        for (flag, value) in arguments {
            switch flag {
            case "--allow", "allow": rules.append(try EgressRule.parseNetwork(value, verdict: .allow))
            case "--deny", "deny": rules.append(try EgressRule.parseNetwork(value, verdict: .deny))
            case "--allow-domain", "allow-domain": rules.append(try EgressRule.parseDomain(value))
            default: throw .unknownFlag(flag)
            }
        }
        self.rules = rules
    }

    /// True when some rule denies a whole family (`--deny all`, `--deny 0.0.0.0/0`, `--deny
    /// ::/0`): then the app is fenced, and the DNS forwarder answers only names a domain rule
    /// can use (anything else would be a tunnel out through the resolver).
    public var isRestrictive: Bool {
        rules.contains {
            $0.verdict == .deny && ($0.coversWholeFamily(of: .v4(.any)) || $0.coversWholeFamily(of: .v6(.any)))
        }
    }

    /// The start-up warning for a policy that fences one family and leaves the other open.
    public var openFamilyWarning: String? {
        let v4 = wholeFamilyVerdict(.v4(.any))
        let v6 = wholeFamilyVerdict(.v6(.any))
        guard v4 != v6 else { return nil }
        let (closed, open, rule) = v4 == .deny ? ("IPv4", "IPv6", "::/0") : ("IPv6", "IPv4", "0.0.0.0/0")
        return "the policy denies all of \(closed) but leaves \(open) open; use --deny all (or add --deny \(rule))"
    }

    /// The verdict of the first rule that covers a whole family, else the default.
    private func wholeFamilyVerdict(_ family: IPAddress) -> PolicyVerdict {
        rules.first { $0.coversWholeFamily(of: family) }?.verdict ?? .allow
    }

    /// The rules whose pattern covers `name`, by index (what a DNS answer for it may teach).
    public func domainRules(covering name: DNSName) -> [Int] {
        rules.indices.filter { index in
            if case .domain(let pattern, _) = rules[index].matcher { pattern.matches(name) } else { false }
        }
    }

    /// True when an `--allow` rule narrower than a whole family names `destination`: what opens
    /// a protected destination (metadata, the host's addresses) or a private DNS answer.
    public func explicitlyAllows(_ destination: SocketAddress) -> Bool {
        explicitlyAllows(destination.address, port: destination.port)
    }

    /// Same, on any of the rule's ports when `port` is nil (a DNS answer carries no port).
    public func explicitlyAllowsAddress(_ address: IPAddress) -> Bool { explicitlyAllows(address, port: nil) }

    private func explicitlyAllows(_ address: IPAddress, port: UInt16?) -> Bool {
        rules.contains { rule in
            guard rule.verdict == .allow, case .network(let cidr, let ports) = rule.matcher else { return false }
            return cidr.prefixLength > 0 && cidr.contains(address) && (port.map(ports.contains) ?? true)
        }
    }

    /// Decides a new flow to `destination` (the address policy judges the mapped host address by).
    public func evaluate(_ destination: SocketAddress, learned: LearnedAddressTable, now: UInt64) -> PolicyDecision {
        for (index, rule) in rules.enumerated() where rule.ports.contains(destination.port) {
            let matches: Bool
            switch rule.matcher {
            case .network(let cidr, _): matches = cidr.contains(destination.address)
            case .anyAddress: matches = true
            case .domain: matches = learned.isAdmitted(destination.address, byRule: index, now: now)
            case .member: matches = false
            }
            if matches { return PolicyDecision(verdict: rule.verdict, ruleIndex: index) }
        }
        return PolicyDecision(verdict: .allow, ruleIndex: nil)
    }
}

extension EgressPolicy {
    /// Whether `rule` names addresses of a network (its CIDR lies inside one of `subnets`):
    /// such a rule judges flows between the network's members, and no other rule does. So
    /// `--deny all`, `--deny 10.0.0.0/8` and domain rules fence the outside without cutting
    /// the members off from each other, and `--deny 10.89.0.101:5432` is written for them.
    static func namesMembers(_ rule: EgressRule, of subnets: [IPSubnet]) -> Bool {
        switch rule.matcher {
        case .network(let cidr, _):
            subnets.contains { $0.prefixLength <= cidr.prefixLength && $0.contains(cidr.network) }
        case .member: true
        case .anyAddress, .domain: false
        }
    }

    /// True when some rule names addresses of `subnets` (member-to-member flows are judged).
    public func judgesMembers(of subnets: [IPSubnet]) -> Bool {
        rules.contains { Self.namesMembers($0, of: subnets) }
    }

    /// Decides a new flow from one member of the network `subnets` make to another, on `port`
    /// of the member that holds `addresses` (its IPv4 and IPv6 one: a rule naming either names
    /// the member, so an IPv6 connection is judged as the IPv4 one would be) and answers to
    /// `names`: the first rule naming the network that matches decides; none allows.
    public func evaluateBetweenMembers(
        _ addresses: [IPAddress], names: [DNSName] = [], port: UInt16, of subnets: [IPSubnet]
    ) -> PolicyDecision {
        for (index, rule) in rules.enumerated() where rule.ports.contains(port) && Self.namesMembers(rule, of: subnets)
        {
            let matches =
                switch rule.matcher {
                case .network(let cidr, _): addresses.contains(where: cidr.contains)
                case .member(let name, _): names.contains(name)
                case .anyAddress, .domain: false
                }
            if matches { return PolicyDecision(verdict: rule.verdict, ruleIndex: index) }
        }
        return PolicyDecision(verdict: .allow, ruleIndex: nil)
    }

    /// The member-name rules, which mean something on a named network only.
    public var memberRules: [EgressRule] {
        rules.filter { if case .member = $0.matcher { true } else { false } }
    }

    /// Why this policy cannot serve a sandbox on no named network: the first rule that names a
    /// member (nil when none does).
    public var memberRuleOffNetwork: String? {
        memberRules.first.map {
            "bad \($0): a member's name means something on a named network only (sandbox network create); expected CIDR[:PORTS] or all[:PORTS]"
        }
    }

    /// What the connection log and the gateway's warning name as the reason for `decision`.
    func reason(_ decision: PolicyDecision) -> String {
        decision.ruleIndex.map { "policy rule \($0 + 1): \(rules[$0])" } ?? "policy default"
    }
}

public enum PolicyParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case badSyntax(String, String)
    case badNetwork(String, SubnetParseError)
    case badPorts(String, PortSetError)
    case badDomain(String, String)
    case unknownFlag(String)
    case tooManyRules(Int)

    /// The rule as given, where the error is about one.
    public var ruleText: String? {
        switch self {
        case .badSyntax(let text, _), .badNetwork(let text, _), .badPorts(let text, _), .badDomain(let text, _): text
        case .empty: ""
        case .unknownFlag, .tooManyRules: nil
        }
    }

    public var description: String {
        switch self {
        case .empty: "empty rule; expected CIDR[:PORTS] or all[:PORTS]"
        case .badSyntax(let text, let why): "'\(text)': \(why) (expected CIDR[:PORTS], IPv6 as [CIDR]:PORTS)"
        case .badNetwork(let text, let error):
            "'\(text)': \(error) (expected CIDR[:PORTS], all[:PORTS], IPv6 as [CIDR]:PORTS)"
        case .badPorts(let text, let error): "'\(text)': \(error)"
        case .badDomain(let text, let why): "--allow-domain '\(text)': \(why) (expected NAME[:PORTS] or *.NAME[:PORTS])"
        case .unknownFlag(let flag): "unknown policy flag \(flag)"
        case .tooManyRules(let n): "\(n) policy rules; at most \(EgressPolicy.maxRules)"
        }
    }
}
