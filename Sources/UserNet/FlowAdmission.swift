// The one decision for every new app flow: where it maps (NetworkConfiguration.map), whether
// policy lets it through (EgressPolicy), and if not, what the app is told and what the log
// says. The glue calls this on the app's first packet (SYN, first datagram, first echo).

import Wire

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
    /// `member` is the named network's member at `destination`, if one is.
    public func admit(
        _ destination: SocketAddress, transport: FlowTransport, policy: EgressPolicy,
        learned: LearnedAddressTable, now: UInt64, member: NetworkMemberSpec? = nil
    ) -> FlowAdmission {
        if isMemberAddress(destination.address) {
            // A flow between two members of a named network that the switch handed over
            // because the policy denies it (MemberFlows), or an address of the network nobody
            // holds: refused either way, never opened on the host.
            let decision = policy.evaluateBetweenMembers(
                member?.addresses ?? [destination.address], names: member?.names ?? [], port: destination.port,
                of: subnets)
            if decision.verdict == .deny { return refusal(decision, transport: transport, policy: policy) }
        }
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
                return refusal(decision, transport: transport, policy: policy)
            }
        }
    }

    /// RST for TCP, ICMP administratively prohibited otherwise, naming the deciding rule.
    private func refusal(_ decision: PolicyDecision, transport: FlowTransport, policy: EgressPolicy) -> FlowAdmission {
        let reply: AppReply = transport == .tcp ? .tcpReset : .icmpUnreachable(.administrativelyProhibited)
        return .refuse(reply: reply, reason: policy.reason(decision))
    }

    /// The app's own IPv4 and IPv6 networks.
    public var subnets: [IPSubnet] { [ipv4Network, ipv6Network] }

    /// An address of the app's own network other than the gateway's and the DNS forwarder's:
    /// a named network's member, or nobody.
    func isMemberAddress(_ address: IPAddress) -> Bool {
        guard ipv4Network.contains(address) || ipv6Network.contains(address) else { return false }
        return address != .v4(gatewayV4) && address != .v4(dnsV4) && address != .v6(gatewayV6)
            && address != .v6(dnsV6)
    }
}
