// The one decision for every new app flow: where it maps (NetworkConfiguration.map), whether
// policy lets it through (EgressPolicy), and if not, what the app is told and what the log
// says. The glue calls this on the app's first packet (SYN, first datagram, first echo).

public enum FlowAdmission: Sendable, Equatable {
    /// Open a host socket to this address.
    case forward(SocketAddress, PolicyDecision)
    /// Hand the flow to the DNS forwarder.
    case dnsForwarder
    /// Answer the app at once with `reply`; `reason` goes to the connection log.
    case refuse(reply: AppReply, reason: String)

    public var verdict: PolicyVerdict {
        switch self {
        case .forward, .dnsForwarder: .allow
        case .refuse: .deny
        }
    }
}

extension NetworkConfiguration {
    /// Decides a new flow from the app to `destination`. Denied flows get RST (TCP) or ICMP
    /// administratively prohibited (UDP, ICMP), per the issue and RFC 1812 5.2.7.1.
    public func admit(
        _ destination: SocketAddress, transport: FlowTransport, policy: EgressPolicy,
        learned: LearnedAddressTable, now: UInt64
    ) -> FlowAdmission {
        var mapped = map(destination, transport: transport)
        // A protected destination an `--allow` rule names exactly (not `all`, not a /0) is opened:
        // the user asked for that address, which is what "explicit" means here.
        if case .unreachable(let cause) = mapped, cause.isOpenedByExplicitAllow {
            let reached = destination.unmappingIPv4
            if policy.explicitlyAllows(judgedAddress(reached)) { mapped = .host(reached) }
        }
        switch mapped {
        case .dnsForwarder:
            return .dnsForwarder
        case .unreachable(let cause):
            return .refuse(reply: cause.reply(for: transport), reason: cause.description)
        case .host(let host):
            let decision = policy.evaluate(judgedAddress(host), learned: learned, now: now)
            switch decision.verdict {
            case .allow:
                return .forward(host, decision)
            case .deny:
                let reply: AppReply = transport == .tcp ? .tcpReset : .icmpUnreachable(.administrativelyProhibited)
                let rule = decision.ruleIndex.map { "policy rule \($0 + 1): \(policy.rules[$0])" } ?? "policy default"
                return .refuse(reply: reply, reason: rule)
            }
        }
    }
}
