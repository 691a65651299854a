// The egress policy: `--allow CIDR[:PORTS]`, `--deny CIDR[:PORTS]` and `--allow-domain NAME`,
// checked in the order given; the first rule that matches decides, and a flow no rule matches
// is allowed. (The protected destinations, host loopback and link-local, are closed earlier by
// NetworkConfiguration.map unless their own flags open them.)
//
// A domain rule matches a destination address that a DNS answer for that name (or a name below
// it) gave the app through our forwarder, while that answer's TTL lasts; the flow keeps its
// verdict for its whole life.

import Wire

public enum PolicyVerdict: String, Sendable, Equatable {
    case allow
    case deny
}

public struct EgressRule: Sendable, Equatable, CustomStringConvertible {
    public enum Matcher: Sendable, Equatable {
        case network(IPSubnet, PortSet)
        case domain(DNSName)
    }

    public var verdict: PolicyVerdict
    public var matcher: Matcher

    public init(verdict: PolicyVerdict, matcher: Matcher) {
        self.verdict = verdict
        self.matcher = matcher
    }

    public var description: String {
        switch matcher {
        case .network(let cidr, let ports):
            let portText = ports == .all ? "" : ":\(ports)"
            return cidr.network.isV4 || ports == .all ? "--\(verdict.rawValue) \(cidr)\(portText)" : "--\(verdict.rawValue) [\(cidr)]\(portText)"
        case .domain(let name):
            return "--allow-domain \(name)"
        }
    }
}

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
    /// `[("--deny", "0.0.0.0/0"), ("--allow-domain", "example.com")]`.
    public init(arguments: [(flag: String, value: String)]) throws(PolicyParseError) {
        guard arguments.count <= Self.maxRules else { throw .tooManyRules(arguments.count) }
        var rules: [EgressRule] = []
        for (flag, value) in arguments {
            switch flag {
            case "--allow", "allow": rules.append(try Self.parseNetworkRule(value, verdict: .allow))
            case "--deny", "deny": rules.append(try Self.parseNetworkRule(value, verdict: .deny))
            case "--allow-domain", "allow-domain": rules.append(try Self.parseDomainRule(value))
            default: throw .unknownFlag(flag)
            }
        }
        self.rules = rules
    }

    /// Parses `CIDR[:PORTS]`. IPv6 with ports needs brackets: `[2001:db8::/32]:443`.
    public static func parseNetworkRule(_ text: String, verdict: PolicyVerdict) throws(PolicyParseError) -> EgressRule {
        guard !text.isEmpty else { throw .empty }
        var cidrText = Substring(text)
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw .badSyntax(text, "missing ']'") }
            cidrText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw .badSyntax(text, "expected ':PORTS' after ']'") }
                portText = rest.dropFirst()
            }
        } else if text.contains(".") {
            // IPv4: the first ':' starts the ports.
            if let colon = text.firstIndex(of: ":") {
                cidrText = text[..<colon]
                portText = text[text.index(after: colon)...]
            }
        }
        let cidr: IPSubnet
        do { cidr = try IPSubnet(parsing: cidrText) } catch { throw .badNetwork(text, error) }
        var ports = PortSet.all
        if let portText {
            do { ports = try PortSet(parsing: portText) } catch { throw .badPorts(text, error) }
        }
        return EgressRule(verdict: verdict, matcher: .network(cidr, ports))
    }

    public static func parseDomainRule(_ text: String) throws(PolicyParseError) -> EgressRule {
        guard let name = DNSName(text), !name.labels.isEmpty else { throw .badDomain(text) }
        return EgressRule(verdict: .allow, matcher: .domain(name))
    }

    /// The domains whose answers the forwarder must feed to the learned-address table.
    public var allowedDomains: [DNSName] {
        rules.compactMap { if case .domain(let name) = $0.matcher { name } else { nil } }
    }

    /// Decides a new flow to `destination` (the mapped host address and port).
    public func evaluate(_ destination: SocketAddress, learned: LearnedAddressTable, now: UInt64) -> PolicyDecision {
        for (index, rule) in rules.enumerated() {
            switch rule.matcher {
            case .network(let cidr, let ports):
                if cidr.contains(destination.address) && ports.contains(destination.port) {
                    return PolicyDecision(verdict: rule.verdict, ruleIndex: index)
                }
            case .domain(let domain):
                if learned.isAdmitted(destination.address, by: domain, now: now) {
                    return PolicyDecision(verdict: rule.verdict, ruleIndex: index)
                }
            }
        }
        return PolicyDecision(verdict: .allow, ruleIndex: nil)
    }
}

public enum PolicyParseError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case badSyntax(String, String)
    case badNetwork(String, SubnetParseError)
    case badPorts(String, PortSetError)
    case badDomain(String)
    case unknownFlag(String)
    case tooManyRules(Int)

    public var description: String {
        switch self {
        case .empty: "empty rule; expected CIDR[:PORTS]"
        case .badSyntax(let text, let why): "'\(text)': \(why) (expected CIDR[:PORTS], IPv6 as [CIDR]:PORTS)"
        case .badNetwork(let text, let error): "'\(text)': \(error)"
        case .badPorts(let text, let error): "'\(text)': \(error)"
        case .badDomain(let text): "'\(text)' is not a domain name"
        case .unknownFlag(let flag): "unknown policy flag \(flag)"
        case .tooManyRules(let n): "\(n) policy rules; at most \(EgressPolicy.maxRules)"
        }
    }
}
