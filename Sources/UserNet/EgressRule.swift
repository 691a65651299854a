// One rule of the egress policy and its command-line syntax:
//   --allow|--deny CIDR[:PORTS]     IPv6 with ports in brackets: [2001:db8::/32]:443
//   --allow|--deny all[:PORTS]      every destination of both families
//   --allow-domain NAME[:PORTS]     what DNS answered for NAME (or *.NAME), on those ports
//   --allow|--deny MEMBER[:PORTS]   a named network's member by its --name or an alias (a
//                                   label without dots: `db:5432`), both of its addresses

import Wire

public enum PolicyVerdict: String, Sendable, Equatable {
    case allow
    case deny
}

public struct EgressRule: Sendable, Equatable, CustomStringConvertible {
    public enum Matcher: Sendable, Equatable {
        case network(IPSubnet, PortSet)
        /// `all`: IPv4 and IPv6 alike.
        case anyAddress(PortSet)
        case domain(DomainPattern, PortSet)
        /// A named network's member, by one of its names (MemberFlows judges it).
        case member(DNSName, PortSet)
    }

    public var verdict: PolicyVerdict
    public var matcher: Matcher

    public init(verdict: PolicyVerdict, matcher: Matcher) {
        self.verdict = verdict
        self.matcher = matcher
    }

    public var ports: PortSet {
        switch matcher {
        case .network(_, let ports), .anyAddress(let ports), .domain(_, let ports), .member(_, let ports): ports
        }
    }

    /// True when the rule covers every address of the family of `address`, on every port.
    func coversWholeFamily(of address: IPAddress) -> Bool {
        guard ports == .all else { return false }
        switch matcher {
        case .anyAddress: return true
        case .network(let cidr, _): return cidr.prefixLength == 0 && cidr.network.isV4 == address.isV4
        case .domain, .member: return false
        }
    }

    public var description: String {
        let portText = ports == .all ? "" : ":\(ports)"
        switch matcher {
        case .network(let cidr, _):
            return cidr.network.isV4 || ports == .all
                ? "--\(verdict.rawValue) \(cidr)\(portText)" : "--\(verdict.rawValue) [\(cidr)]\(portText)"
        case .anyAddress:
            return "--\(verdict.rawValue) all\(portText)"
        case .domain(let pattern, _):
            return "--allow-domain \(pattern)\(portText)"
        case .member(let name, _):
            return "--\(verdict.rawValue) \(name)\(portText)"
        }
    }

    /// Parses `CIDR[:PORTS]` or `all[:PORTS]`.
    public static func parseNetwork(_ text: String, verdict: PolicyVerdict) throws(PolicyParseError) -> EgressRule {
        guard !text.isEmpty else { throw .empty }
        if text == "all" || text.hasPrefix("all:") {
            return EgressRule(verdict: verdict, matcher: .anyAddress(try ports(after: "all", in: text)))
        }
        if let name = memberName(in: text) {
            return EgressRule(verdict: verdict, matcher: .member(name, try ports(after: name.description, in: text)))
        }
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
        } else if !text.contains("."), let slash = text.firstIndex(of: "/"),
            let colon = text[slash...].firstIndex(of: ":")
        {
            // "2001:db8::/32:443": an IPv6 network's ports cannot follow it unbracketed.
            throw .badSyntax(
                text, "IPv6 with ports goes in brackets: [\(text[..<colon])]:\(text[text.index(after: colon)...])")
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

    /// The member name `text` starts with: one label of letters, digits and hyphens with a letter
    /// in it, then nothing or `:PORTS`. Never an address: an IPv4 one has dots, an IPv6 one
    /// two colons at least, and a label of digits alone is refused as a malformed address.
    private static func memberName(in text: String) -> DNSName? {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let head = parts[0]
        guard !head.isEmpty, head.utf8.count <= 63, parts.count == 1 || !parts[1].contains(":"),
            head.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
            head.contains(where: \.isLetter), !head.hasPrefix("-")
        else { return nil }
        return DNSName(String(head))
    }

    /// Parses `NAME[:PORTS]` (see DomainPattern for NAME).
    public static func parseDomain(_ text: String) throws(PolicyParseError) -> EgressRule {
        let name = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let pattern = try DomainPattern(parsing: String(name))
        return EgressRule(verdict: .allow, matcher: .domain(pattern, try ports(after: name, in: text)))
    }

    private static func ports(after head: some StringProtocol, in text: String) throws(PolicyParseError) -> PortSet {
        let rest = text.dropFirst(head.count)
        guard !rest.isEmpty else { return .all }
        do { return try PortSet(parsing: rest.dropFirst()) } catch { throw .badPorts(text, error) }
    }
}
