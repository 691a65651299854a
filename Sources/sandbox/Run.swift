import ArgumentParser
import Glibc
import Sandbox

/// `sandbox run [OPTIONS] -- CMD [ARGS...]`.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a program in a sandbox.",
        usage: "sandbox run [OPTIONS] [--] CMD [ARGS...]",
        discussion: """
            The program runs in new user (always when not root), mount, pid, network, UTS, IPC and \
            cgroup namespaces, with every capability dropped, NO_NEW_PRIVS set and a seccomp \
            filter; PID 1 inside is a small init that reaps zombies and forwards SIGINT, SIGTERM, \
            SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH. If sandbox itself dies, even by \
            SIGKILL, the program dies with it.

            By default the root file system is the host's / read-only, with a private /tmp, a \
            /proc for the sandbox's processes, a minimal /dev and /sys read-only.

            Exit status: the program's; 128+N when signal N ended it; 125 when the sandbox could \
            not be set up or the arguments are wrong; 126 when the program could not be executed; \
            127 when it was not found.
            """
    )

    // MARK: isolation and file system

    @Option(help: ArgumentHelp("Network: user (a user-mode gateway; not available yet), none (only lo), or host (the host's network, no isolation).", valueName: "user|none|host"))
    var net: String = "user"

    @Option(help: ArgumentHelp("Root file system directory (bound read-only). Default: the host's / read-only.", valueName: "DIR"))
    var rootfs: String?

    @Option(name: [.short, .customLong("volume")], help: ArgumentHelp("Bind a host path into the sandbox, read-write or read-only (:ro). Repeatable.", valueName: "HOST:PATH[:ro]"))
    var volumes: [String] = []

    @Option(name: [.short, .customLong("env")], help: ArgumentHelp("Set an environment variable; NAME alone passes this process's value. Repeatable. The program starts from PATH and HOME only.", valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp("Working directory inside the sandbox (absolute). Default: /.", valueName: "DIR"))
    var workdir: String?

    @Option(help: ArgumentHelp("Host name inside the sandbox.", valueName: "NAME"))
    var hostname: String = "sandbox"

    @Flag(name: [.short, .long], help: "Give the program a pseudo-terminal (its controlling terminal and stdio), relayed to this terminal.")
    var tty = false

    @Option(help: ArgumentHelp("Numeric user and group inside the sandbox. Default: 0:0 (root without capabilities).", valueName: "UID[:GID]"))
    var user: String?

    @Option(help: ArgumentHelp("User namespace when running as root: auto (none; as non-root there always is one) or on (identity-mapped, so capabilities are namespaced).", valueName: "auto|on"))
    var userns: String = "auto"

    @Option(help: ArgumentHelp("Seccomp policy: default (the built-in filter), unconfined (no filter), or the path of an OCI seccomp profile (JSON).", valueName: "default|unconfined|FILE"))
    var seccomp: String = "default"

    // MARK: resources

    @Option(help: ArgumentHelp("Memory limit through cgroups (v2 if delegated, else v1), e.g. 512m or 2g; swap beyond it is not allowed.", valueName: "SIZE"))
    var memory: String?

    @Option(help: ArgumentHelp("Maximum number of processes and threads, through the pids cgroup.", valueName: "N"))
    var pidsLimit: String?

    @Option(help: ArgumentHelp("CPU time as a number of CPUs (e.g. 1.5), through the cpu cgroup.", valueName: "N"))
    var cpus: String?

    @Option(help: ArgumentHelp("Set a resource limit (setrlimit), e.g. nofile=1024:4096. NAME: cpu fsize data stack core rss nproc nofile memlock as locks sigpending msgqueue nice rtprio rttime. Repeatable.", valueName: "NAME=SOFT[:HARD]"))
    var ulimit: [String] = []

    // MARK: user-mode network (--net=user)

    @Option(name: [.short, .customLong("publish")], help: ArgumentHelp("Publish a sandbox port on the host (--net=user). Repeatable.", valueName: "[HOST_IP:]HOST_PORT:PORT[/tcp|/udp]"))
    var publish: [String] = []

    @Flag(help: "Let the program reach the host's loopback through the gateway (--net=user).")
    var allowHostLoopback = false

    @Option(help: ArgumentHelp("Allow egress to an address or network, optionally one port (--net=user). Repeatable.", valueName: "ADDR[/PREFIX][:PORT]"))
    var allow: [String] = []

    @Option(help: ArgumentHelp("Deny egress to an address or network, optionally one port (--net=user). Repeatable.", valueName: "ADDR[/PREFIX][:PORT]"))
    var deny: [String] = []

    @Option(help: ArgumentHelp("Allow egress to the addresses a domain resolves to through the DNS forwarder; *.example.com for subdomains (--net=user). Repeatable.", valueName: "DOMAIN"))
    var allowDomain: [String] = []

    @Option(help: ArgumentHelp("Upstream DNS server for the forwarder (--net=user). Repeatable.", valueName: "IP"))
    var dns: [String] = []

    @Option(help: ArgumentHelp("The sandbox's IPv4 network (--net=user). Default 10.0.2.0/24: gateway .2, DNS .3, app .100.", valueName: "A.B.C.D/N"))
    var cidr: String?

    @Option(help: ArgumentHelp("MTU of the sandbox's eth0 (--net=user), 1280 to 65520. Default 65520.", valueName: "BYTES"))
    var mtu: String?

    @Option(help: ArgumentHelp("Write every frame the gateway sees to a pcap file (--net=user).", valueName: "FILE"))
    var pcap: String?

    @Flag(help: "Log each connection the program opens, with the policy's verdict (--net=user).")
    var logConnections = false

    @Option(help: ArgumentHelp("How the gateway reads frames (--net=user): readv, recvmmsg or packet-mmap. Default packet-mmap.", valueName: "readv|recvmmsg|packet-mmap"))
    var dispatch: String?

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The program and its arguments.", valueName: "CMD [ARGS...]"))
    var command: [String] = []

    /// Builds the validated configuration (no side effects).
    func makeConfiguration() throws(SandboxError) -> SandboxConfiguration {
        // Everything from the first non-option on belongs to the program (docker's rule), so
        // an unknown option before it arrives here first: refuse it rather than run it.
        var argv = command
        if argv.first == "--" {
            argv.removeFirst()
        } else if let first = argv.first, first.hasPrefix("-") {
            throw .invalidArgument("unknown option \(first) (see `sandbox run --help`; put the program after `--`)")
        }
        var config = SandboxConfiguration(command: argv)
        guard let mode = NetworkMode(rawValue: net) else {
            throw .invalidArgument("bad --net \(net): use user, none or host")
        }
        config.network = mode
        config.rootfs = rootfs
        for text in volumes { config.volumes.append(try VolumeMount.parse(text)) }
        for text in env {
            if let variable = try EnvironmentVariable.parse(text, lookup: { name in getenv(name).map { String(cString: $0) } }) {
                config.environment.set(variable)
            }
        }
        if tty, config.environment.value(of: "TERM") == nil {
            config.environment.set(EnvironmentVariable(name: "TERM", value: getenv("TERM").map { String(cString: $0) } ?? "xterm"))
        }
        config.workdir = workdir
        config.hostname = hostname
        config.tty = tty
        config.user = try user.map { (text) throws(SandboxError) in try UserSpec.parse(text) }
        guard let namespaceMode = UserNamespaceMode(rawValue: userns) else {
            throw .invalidArgument("bad --userns \(userns): use auto or on")
        }
        config.userNamespace = namespaceMode
        config.seccomp = SeccompChoice.parse(seccomp)
        if let memory { config.resources.memoryBytes = try ResourceLimits.parseMemory(memory) }
        if let pidsLimit { config.resources.pids = try ResourceLimits.parsePids(pidsLimit) }
        if let cpus { config.resources.cpus = try ResourceLimits.parseCPUs(cpus) }
        for text in ulimit { config.rlimits.append(try ResourceLimit.parse(text)) }

        var options = UserNetOptions()
        for text in publish { options.publish.append(try PortMapping.parse(text)) }
        options.allowHostLoopback = allowHostLoopback
        for text in allow { options.allow.append(try EgressRule.parse(text, flag: "--allow")) }
        for text in deny { options.deny.append(try EgressRule.parse(text, flag: "--deny")) }
        for text in allowDomain { options.allowDomains.append(try UserNetOptions.parseDomain(text)) }
        for text in dns { options.dnsServers.append(try UserNetOptions.parseDNS(text)) }
        if let cidr { options.cidr = try IPv4Network.parse(cidr) }
        if let mtu { options.mtu = try UserNetOptions.parseMTU(mtu) }
        options.pcapPath = pcap
        options.logConnections = logConnections
        if let dispatch {
            guard let parsed = DispatchMode(rawValue: dispatch) else {
                throw .invalidArgument("bad --dispatch \(dispatch): use readv, recvmmsg or packet-mmap")
            }
            options.dispatch = parsed
        }
        config.userNet = options
        try config.validate()
        return config
    }

    /// Runs the sandbox; returns the exit status for the process.
    mutating func execute() -> Int32 {
        // The program's arguments are captured verbatim, so `sandbox run --help` arrives here.
        if let first = command.first, first == "--help" || first == "-h" {
            print(Run.helpMessage())
            return 0
        }
        do {
            let config = try makeConfiguration()
            return try Launcher(configuration: config).run()
        } catch {
            FileHandleStderr.write("sandbox: \(error)\n")
            return error.exitCode
        }
    }
}
