// Every user-facing knob of the gateway, validated into one value. The CLI (swift-argument-
// parser) collects the raw strings and hands them here, so the rules and their messages live
// next to what they configure. Policy flags are order-sensitive (first match wins) and
// argument-parser keeps each option's values apart, so `policyArguments(in:)` recovers their
// command-line order from argv.

public struct UserNetOptions: Sendable {
    public var network: NetworkConfiguration
    public var policy: EgressPolicy
    public var publishedPorts: [PublishedPort]
    public var pcapPath: String?
    public var connectionLogPath: String?
    public var flowLimits: FlowLimits
    /// What the gateway does to the app's link (`--net-delay` and friends); none by default.
    public var linkFaults = LinkFaults()
    /// Whether the link gets its fault stage even without faults, so that they can be set while
    /// the gateway runs (a detached sandbox: `sandbox update`).
    public var adjustableLinkFaults = false
    /// The flags these options came from, minus the file paths (see `flags`).
    var givenFlags: [String] = []

    public static let policyFlags: Set<String> = ["--allow", "--deny", "--allow-domain"]

    public init(
        cidr: String? = nil, mtu: Int? = nil, allowHostLoopback: Bool = false, allowLinkLocal: Bool = false,
        dns: [String] = [], policyArguments: [(flag: String, value: String)] = [], publish: [String] = [],
        pcap: String? = nil, logConnections: String? = nil,
        udpTimeoutSeconds: Int? = nil, maxFlows: Int? = nil, flowMemoryBytes: Int? = nil
    ) throws(UserNetOptionsError) {
        do {
            network = try NetworkConfiguration(
                cidr: cidr ?? NetworkConfiguration.defaultIPv4,
                mtu: mtu ?? NetworkConfiguration.defaultMTU)
            network.allowHostLoopback = allowHostLoopback
            network.allowLinkLocal = allowLinkLocal
            if !dns.isEmpty {
                var upstreams: [SocketAddress] = []
                for text in dns { upstreams.append(try NetworkConfiguration.parseDNSUpstream(text)) }
                network.dnsUpstreams = upstreams
            }
        } catch {
            throw .configuration(error)
        }
        do { policy = try EgressPolicy(arguments: policyArguments) } catch { throw .policy(error) }
        var ports: [PublishedPort] = []
        for text in publish {
            let parsed: [PublishedPort]
            do { parsed = try PublishedPort.parse(text) } catch { throw .publish(error) }
            for port in parsed where port.hostPort != 0 {
                if ports.contains(where: {
                    $0.hostPort == port.hostPort && $0.transport == port.transport && $0.hostAddress == port.hostAddress
                }) {
                    throw .duplicatePublish(text)
                }
            }
            ports += parsed
            guard ports.count <= PublishedPort.maximum else { throw .publish(.tooMany(text)) }
        }
        publishedPorts = ports
        pcapPath = pcap
        connectionLogPath = logConnections
        var limits = FlowLimits()
        if let udpTimeoutSeconds {
            guard (1...86_400).contains(udpTimeoutSeconds) else {
                throw .outOfRange("--udp-timeout", udpTimeoutSeconds, 1...86_400)
            }
            limits.udpIdleNanoseconds = UInt64(udpTimeoutSeconds) * 1_000_000_000
        }
        if let maxFlows {
            guard (1...1_048_576).contains(maxFlows) else { throw .outOfRange("--max-flows", maxFlows, 1...1_048_576) }
            limits.maxFlows = maxFlows
        }
        if let flowMemoryBytes {
            // At least one flow's rings; at most what a 64-bit budget counter means sensibly.
            guard (1 << 20...1 << 36).contains(flowMemoryBytes) else {
                throw .outOfRange("--flow-memory", flowMemoryBytes, 1 << 20...1 << 36)
            }
            limits.flowMemoryBytes = flowMemoryBytes
        }
        flowLimits = limits
        // Every parameter must reach `flags` too: the gateway's own process rebuilds these
        // options from them (UserNetOptionsFlags.swift), and a knob left out there would
        // silently fall back to its default in the gateway.
        givenFlags = Self.flags(
            cidr: cidr, mtu: mtu, allowHostLoopback: allowHostLoopback, allowLinkLocal: allowLinkLocal,
            policyArguments: policyArguments, publish: publish,
            udpTimeoutSeconds: udpTimeoutSeconds, maxFlows: maxFlows, flowMemoryBytes: flowMemoryBytes)
    }

    /// The policy flags in `arguments` (argv), in order, as `--flag VALUE` or `--flag=VALUE`.
    /// Scanning stops at `--` (what follows is the app's command line).
    public static func policyArguments(in arguments: [String]) -> [(flag: String, value: String)] {
        var out: [(flag: String, value: String)] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--" { break }
            if let equals = argument.firstIndex(of: "="), policyFlags.contains(String(argument[..<equals])) {
                out.append((String(argument[..<equals]), String(argument[argument.index(after: equals)...])))
            } else if policyFlags.contains(argument), index + 1 < arguments.count {
                out.append((argument, arguments[index + 1]))
                index += 1
            }
            index += 1
        }
        return out
    }
}

public enum UserNetOptionsError: Error, Sendable, Equatable, CustomStringConvertible {
    case configuration(ConfigurationError)
    case policy(PolicyParseError)
    case publish(PublishedPortError)
    case duplicatePublish(String)
    case outOfRange(String, Int, ClosedRange<Int>)
    /// `init(flags:)` met something `flags` never writes.
    case badFlags(String)

    public var description: String {
        switch self {
        case .configuration(let e): e.description
        case .policy(let e): e.description
        case .publish(let e): e.description
        case .duplicatePublish(let t): "-p \(t): that host port is already published"
        case .outOfRange(let flag, let n, let range):
            "\(flag) \(n): must be within \(range.lowerBound)...\(range.upperBound)"
        case .badFlags(let text): "gateway flags: unexpected \(text)"
        }
    }
}
