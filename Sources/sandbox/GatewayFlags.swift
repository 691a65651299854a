import ArgumentParser
import FDBased
import Sandbox
import UserNet

/// The user-mode gateway's flags, shared by `sandbox run` (--net=user) and `sandbox usernet`.
/// Only the raw strings are collected here: UserNetOptions parses and validates them, so the
/// rules and their messages live in one place (UserNet).
struct GatewayFlags: ParsableArguments {
    @Option(
        name: [.short, .customLong("publish")],
        help: ArgumentHelp(
            "Publish a sandbox port on the host: connections to HOST_PORT are carried to the sandbox's PORT. No HOST_IP: every address of both families; IPv6 in brackets. No HOST_PORT: one the kernel picks, printed. Ranges: 8080-8089:80-89. Repeatable. Default: none.",
            valueName: "[HOST_IP:][HOST_PORT:]PORT[/tcp|/udp]"))
    var publish: [String] = []

    @Flag(
        help:
            "Let the sandbox reach the host's loopback and the host's own addresses: the gateway address (10.0.2.2, host.sandbox.internal) then maps to 127.0.0.1. Off by default: services on loopback trust their callers."
    )
    var allowHostLoopback = false

    @Flag(
        help:
            "Let the sandbox reach link-local addresses (169.254.0.0/16, fe80::/10). The metadata services (169.254.169.254, fd00:ec2::254, 100.100.100.200) stay closed unless an --allow names them. Off by default."
    )
    var allowLinkLocal = false

    @Option(
        help: ArgumentHelp(
            "Allow egress to a network, optionally only some ports (e.g. 192.0.2.0/24:443, [2001:db8::/32]:80-90; `all` is every address of both families). --allow, --deny and --allow-domain are checked in the order given; the first match decides; no match: allowed. An --allow naming a metadata or host address opens it. On `network create`, a member's name (db:5432) or a rule inside the network judges flows between members too. Repeatable. Default: no rules, every destination allowed.",
            valueName: "CIDR[:PORTS]|all[:PORTS]"))
    var allow: [String] = []

    @Option(
        help: ArgumentHelp(
            "Deny egress to a network, optionally only some ports; `--deny all` fences both families (and then DNS answers only --allow-domain names). A denied TCP connection is reset at once; UDP gets ICMP administratively prohibited. Repeatable. Default: none.",
            valueName: "CIDR[:PORTS]|all[:PORTS]"))
    var deny: [String] = []

    @Option(
        help: ArgumentHelp(
            "Allow egress to the addresses the DNS forwarder answered for this name (*.NAME: the names below it), on PORTS only, while the answer's TTL lasts (at least 30 s). Answers in private space or on the host are not admitted. Repeatable. Default: none.",
            valueName: "NAME[:PORTS]"))
    var allowDomain: [String] = []

    @Option(
        help: ArgumentHelp(
            "Upstream DNS server for the forwarder at 10.0.2.3; a port other than 53 as IP:PORT. Repeatable; tried in order. Default: the nameservers in the host's /etc/resolv.conf that have a route from here.",
            valueName: "IP|IP:PORT|[IPv6]:PORT"))
    var dns: [String] = []

    @Option(
        help: ArgumentHelp(
            "The sandbox's IPv4 network (/25 or larger). Default 10.0.2.0/24: gateway .2, DNS .3, sandbox .100. IPv6: fd00::/64 by router advertisement (gateway fd00::2, DNS fd00::3).",
            valueName: "A.B.C.D/N"))
    var cidr: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("MTU of the sandbox's eth0, 1280 to 65521. Default 65520.", valueName: "BYTES"))
    var mtu: Int?

    @Option(
        help: ArgumentHelp(
            "Write every frame on the sandbox's link to a pcap file (tshark/wireshark read it). Default: no capture.",
            valueName: "FILE"))
    var pcap: String?

    @Option(
        help: ArgumentHelp(
            "Log each connection and flow as a JSON line: time, protocol, source, destination, verdict, bytes each way, duration; and each DNS query: name, type, verdict, answers. Default: no log.",
            valueName: "FILE"))
    var logConnections: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp("Idle timeout of a UDP flow in seconds. Default 60.", valueName: "SECONDS"))
    var udpTimeout: Int?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Most flows at once; beyond it new flows are refused, existing ones undisturbed. Default 65536.",
            valueName: "N"))
    var maxFlows: Int?

    @Option(
        help: ArgumentHelp(
            "Memory all TCP flows' buffers may take together (512 KiB a flow); beyond it new TCP flows are refused with a reset, logged and counted. Default 1g (2048 flows).",
            valueName: "SIZE"))
    var flowMemory: String?

    @Option(
        help: ArgumentHelp(
            "How the gateway reads frames: readv, recvmmsg or packet-mmap. Default packet-mmap.",
            valueName: "readv|recvmmsg|packet-mmap"))
    var dispatch: String?

    // A test hook, hidden from --help: the gateway's process makes one syscall outside its
    // seccomp allow-list once it runs, so tests can watch it die and the sandbox fail closed.
    @Flag(help: ArgumentHelp("Test hook: the gateway calls a forbidden syscall after it starts.", visibility: .private))
    var debugGatewayForbiddenSyscall = false

    /// How the gateway's process is started.
    var launch: GatewayProcess.Launch {
        var launch = GatewayProcess.Launch()
        launch.forbiddenSyscallAfterStart = debugGatewayForbiddenSyscall
        return launch
    }

    /// The flags that were given, by name (refused outside --net=user).
    var given: [String] {
        var names: [String] = []
        if !publish.isEmpty { names.append("--publish") }
        if allowHostLoopback { names.append("--allow-host-loopback") }
        if allowLinkLocal { names.append("--allow-link-local") }
        if !allow.isEmpty { names.append("--allow") }
        if !deny.isEmpty { names.append("--deny") }
        if !allowDomain.isEmpty { names.append("--allow-domain") }
        if !dns.isEmpty { names.append("--dns") }
        if cidr != nil { names.append("--cidr") }
        if mtu != nil { names.append("--mtu") }
        if pcap != nil { names.append("--pcap") }
        if logConnections != nil { names.append("--log-connections") }
        if udpTimeout != nil { names.append("--udp-timeout") }
        if maxFlows != nil { names.append("--max-flows") }
        if flowMemory != nil { names.append("--flow-memory") }
        if dispatch != nil { names.append("--dispatch") }
        if debugGatewayForbiddenSyscall { names.append("--debug-gateway-forbidden-syscall") }
        return names
    }

    /// Validated options. `arguments` is the command line, for the order of the policy flags
    /// (first match wins, and argument-parser keeps each option's values apart). Rules naming
    /// members (`--deny db:5432`) are for a named network's gateway only (`onNetwork`).
    func options(arguments: [String], onNetwork: Bool = false) throws(SandboxError) -> UserNetOptions {
        // Only as many policy flags as were parsed: a program's own `--allow` after its name
        // (without `--`) is not ours.
        let policy = Array(
            UserNetOptions.policyArguments(in: arguments).prefix(allow.count + deny.count + allowDomain.count))
        let flowMemoryBytes = try flowMemory.map { text throws(SandboxError) in
            Int(clamping: try ResourceLimits.parseMemory(text, flag: "--flow-memory", minimum: 1 << 20))
        }
        let options: UserNetOptions
        do {
            options = try UserNetOptions(
                cidr: cidr, mtu: mtu, allowHostLoopback: allowHostLoopback, allowLinkLocal: allowLinkLocal,
                dns: dns, policyArguments: policy, publish: publish, pcap: pcap,
                logConnections: logConnections, udpTimeoutSeconds: udpTimeout, maxFlows: maxFlows,
                flowMemoryBytes: flowMemoryBytes)
        } catch {
            // The policy parser names the rule; the flag it came with is found here.
            if case .policy(let reason) = error {
                if case .badDomain = reason { throw .invalidArgument("bad \(reason)") }
                let text = reason.ruleText
                let flag = policy.first(where: { $0.value == text })?.flag ?? "--allow/--deny"
                throw .invalidArgument("bad \(flag) \(reason)")
            }
            throw .invalidArgument(error.description)
        }
        if !onNetwork, let refusal = options.policy.memberRuleOffNetwork { throw .invalidArgument(refusal) }
        if let warning = options.policy.openFamilyWarning {
            FileHandleStderr.write("sandbox: warning: \(warning)\n")
        }
        return options
    }

    func dispatchMode() throws(SandboxError) -> PacketDispatchMode {
        switch dispatch {
        case nil, "packet-mmap": return .packetMMap
        case "readv": return .readv
        case "recvmmsg": return .recvmmsg
        case let other?: throw .invalidArgument("bad --dispatch \(other): use readv, recvmmsg or packet-mmap")
        }
    }
}
