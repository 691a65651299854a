// UserNetOptions as flags again, so they can be handed to the gateway's own process and parsed
// there by the same rules (`init(flags:)`), instead of a second encoding of every policy and
// port type. File paths are not among them: that process receives the files open
// (GatewayResources). The upstream resolvers are written as they are now, after the launcher
// dropped the unroutable ones (`--no-dns` for none left), so the gateway never reads
// resolv.conf itself. So is the sandbox's host name (set after parsing, for the forwarder's
// own answers).

extension UserNetOptions {
    /// Flags that `init(flags:)` turns back into these options (without pcap/log paths).
    public var flags: [String] {
        var out = givenFlags
        if let hostname = network.hostname { out += ["--hostname", hostname] }
        if !linkFaults.isEmpty { out += ["--net-faults", linkFaults.description] }
        if adjustableLinkFaults { out.append("--net-faults-adjustable") }
        if let upstreams = network.dnsUpstreams {
            if upstreams.isEmpty { out.append("--no-dns") }
            for upstream in upstreams { out += ["--dns", upstream.description] }
        }
        return out
    }

    /// Parses what `flags` made. Unknown flags are refused (the two ends are one build).
    public init(flags: [String]) throws(UserNetOptionsError) {
        var cidr: String?, mtu: Int?, udpTimeout: Int?, maxFlows: Int?, flowMemory: Int?, hostname: String?
        var hostLoopback = false, linkLocal = false, noDNS = false
        var dns: [String] = [], publish: [String] = []
        var faults = LinkFaults()
        var adjustable = false
        var policy: [(flag: String, value: String)] = []
        var index = 0
        func value() throws(UserNetOptionsError) -> String {
            index += 1
            guard index < flags.count else { throw .badFlags(flags[index - 1]) }
            return flags[index]
        }
        func number() throws(UserNetOptionsError) -> Int {
            let text = try value()
            guard let n = Int(text) else { throw .badFlags(text) }
            return n
        }
        while index < flags.count {
            let flag = flags[index]
            switch flag {
            case "--cidr": cidr = try value()
            case "--mtu": mtu = try number()
            case "--udp-timeout": udpTimeout = try number()
            case "--max-flows": maxFlows = try number()
            case "--flow-memory": flowMemory = try number()
            case "--hostname": hostname = try value()
            case "--allow-host-loopback": hostLoopback = true
            case "--allow-link-local": linkLocal = true
            case "--no-dns": noDNS = true
            case "--dns": dns.append(try value())
            case "--publish": publish.append(try value())
            case "--net-faults-adjustable": adjustable = true
            case "--net-faults":
                let text = try value()
                guard let parsed = LinkFaults(encoded: text) else { throw .badFlags(text) }
                faults = parsed
            case _ where Self.policyFlags.contains(flag): policy.append((flag, try value()))
            default: throw .badFlags(flag)
            }
            index += 1
        }
        try self.init(
            cidr: cidr, mtu: mtu, allowHostLoopback: hostLoopback, allowLinkLocal: linkLocal, dns: dns,
            policyArguments: policy, publish: publish, udpTimeoutSeconds: udpTimeout, maxFlows: maxFlows,
            flowMemoryBytes: flowMemory)
        if noDNS { network.dnsUpstreams = [] }
        network.hostname = hostname
        linkFaults = faults
        adjustableLinkFaults = adjustable
    }

    static func flags(
        cidr: String?, mtu: Int?, allowHostLoopback: Bool, allowLinkLocal: Bool,
        policyArguments: [(flag: String, value: String)], publish: [String],
        udpTimeoutSeconds: Int?, maxFlows: Int?, flowMemoryBytes: Int?
    ) -> [String] {
        var out: [String] = []
        if let cidr { out += ["--cidr", cidr] }
        if let mtu { out += ["--mtu", String(mtu)] }
        if allowHostLoopback { out.append("--allow-host-loopback") }
        if allowLinkLocal { out.append("--allow-link-local") }
        for (flag, value) in policyArguments { out += [flag, value] }
        for text in publish { out += ["--publish", text] }
        if let udpTimeoutSeconds { out += ["--udp-timeout", String(udpTimeoutSeconds)] }
        if let maxFlows { out += ["--max-flows", String(maxFlows)] }
        if let flowMemoryBytes { out += ["--flow-memory", String(flowMemoryBytes)] }
        return out
    }
}
