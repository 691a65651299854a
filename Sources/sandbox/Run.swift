import ArgumentParser
import Glibc
import Sandbox
import UserNet

/// `sandbox run [OPTIONS] -- CMD [ARGS...]`.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
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

    @OptionGroup(title: "Isolation")
    var isolation: IsolationFlags

    @OptionGroup(title: "File system")
    var fileSystem: FileSystemFlags

    @OptionGroup(title: "Program")
    var program: ProgramFlags

    @OptionGroup(title: "Resources")
    var resources: ResourceFlags

    @OptionGroup(title: "Names and DNS (--net=user)")
    var names: NameFlags

    @OptionGroup(title: "Detached sandboxes")
    var detached: DetachFlags

    // MARK: user-mode network (--net=user)

    @OptionGroup(title: "Logging")
    var logging: LogFlags

    @OptionGroup(title: "User-mode network (--net=user)")
    var userNet: GatewayFlags

    @OptionGroup(title: "Link faults (--net=user)")
    var faults: LinkFaultFlags

    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp("The program and its arguments.", valueName: "CMD [ARGS...]"))
    var command: [String] = []

    /// Builds the validated configuration (no side effects). `arguments`: the command line, for
    /// the order of the policy flags.
    func makeConfiguration(arguments: [String] = CommandLine.arguments) throws(SandboxError) -> SandboxConfiguration {
        // Everything from the first non-option on belongs to the program (docker's rule), so
        // an unknown option before it arrives here first: refuse it rather than run it.
        var argv = command
        if argv.first == "--" {
            argv.removeFirst()
        } else if let first = argv.first, first.hasPrefix("-") {
            throw .invalidArgument("unknown option \(first) (see `sandbox run --help`; put the program after `--`)")
        }
        var config = SandboxConfiguration(command: argv)
        guard let mode = NetworkMode(rawValue: isolation.net) else {
            throw .invalidArgument("bad --net \(isolation.net): use user, none or host")
        }
        config.network = mode
        config.rootfs = fileSystem.rootfs
        if fileSystem.readOnly && fileSystem.writableRoot {
            throw .invalidArgument("--read-only and --writable-root contradict each other: give one")
        }
        config.rootOverlay = fileSystem.writableRoot
        for text in fileSystem.volumes { config.volumes.append(try VolumeMount.parse(text)) }
        let lookup = { (name: String) in getenv(name).map { String(cString: $0) } }
        for path in program.envFile {
            for variable in try EnvironmentFile.variables(in: path, lookup: lookup) { config.environment.set(variable) }
        }
        config.extraHosts = try names.addHost.map { (text) throws(SandboxError) in try ExtraHost.parse(text) }
        config.resolver = ResolverFile(
            search: try ResolverFile.parseSearch(names.dnsSearch),
            options: try ResolverFile.parseOptions(names.dnsOption))
        for text in program.env {
            if let variable = try EnvironmentVariable.parse(
                text, lookup: { name in getenv(name).map { String(cString: $0) } })
            {
                config.environment.set(variable)
            }
        }
        if program.tty, config.environment.value(of: "TERM") == nil {
            config.environment.set(
                EnvironmentVariable(name: "TERM", value: getenv("TERM").map { String(cString: $0) } ?? "xterm"))
        }
        config.workdir = fileSystem.workdir
        config.hostname = isolation.hostname ?? (names.network != nil ? detached.name : nil) ?? "sandbox"
        config.tty = program.tty
        guard (-1...86_400).contains(program.stopTimeout) else {
            throw .invalidArgument("bad --stop-timeout \(program.stopTimeout): use 0 to 86400 seconds, or -1 for never")
        }
        config.stopTimeoutSeconds = program.stopTimeout < 0 ? nil : program.stopTimeout
        config.user = try program.user.map { (text) throws(SandboxError) in
            try UserSpec.parse(text, inRoot: fileSystem.rootfs ?? "/")
        }
        config.supplementaryGroups = try program.groupAdd.map { (text) throws(SandboxError) in
            try UserSpec.groupID(text, inRoot: fileSystem.rootfs ?? "/")
        }
        config.tmpfsMounts = try fileSystem.tmpfs.map { (text) throws(SandboxError) in try TmpfsMount.parse(text) }
        for text in fileSystem.mount {
            switch try MountFlag.parse(text) {
            case .bind(let volume): config.volumes.append(volume)
            case .tmpfs(let tmpfs): config.tmpfsMounts.append(tmpfs)
            }
        }
        guard let namespaceMode = UserNamespaceMode(rawValue: isolation.userns) else {
            throw .invalidArgument("bad --userns \(isolation.userns): use auto, on or host")
        }
        config.userNamespace = namespaceMode
        config.seccomp = SeccompChoice.parse(isolation.seccomp)
        if let memory = resources.memory { config.resources.memoryBytes = try ResourceLimits.parseMemory(memory) }
        if let pidsLimit = resources.pidsLimit { config.resources.pids = try ResourceLimits.parsePids(pidsLimit) }
        if let cpus = resources.cpus { config.resources.cpus = try ResourceLimits.parseCPUs(cpus) }
        for text in resources.ulimit { config.rlimits.append(try ResourceLimit.parse(text)) }

        config.userNetFlags = userNet.given + faults.given
        if let network = names.network {
            config.networkMembership = try membership(of: network, mode: mode)
            config.gatewayLaunch.log = try logging.settings()
        } else if let alias = names.networkAlias.first {
            throw .invalidArgument("--network-alias \(alias) names the sandbox on a network: give --network NAME too")
        } else if mode == .user {
            config.userNet = try userNet.options(arguments: arguments)
            config.userNet?.linkFaults = try faults.linkFaults()
            config.gatewayDispatch = try userNet.dispatchMode()
            config.gatewayLaunch = userNet.launch
            config.gatewayLaunch.log = try logging.settings()
        }
        try config.validate()
        return config
    }

    /// `--network NAME`: the network's gateway serves the sandbox, so the flags that configure a
    /// gateway of its own are refused; its own link faults are its port's.
    func membership(of network: String, mode: NetworkMode) throws(SandboxError) -> NetworkMembership {
        guard mode == .user else {
            throw .invalidArgument("--network \(network) needs --net=user (got --net=\(mode.rawValue))")
        }
        try NetworkStore.validate(name: network)
        if let flag = userNet.given.first(where: { $0 != "--publish" }) {
            throw .invalidArgument(
                "\(flag) configures a gateway, and the sandbox on --network \(network) uses the network's: give it to `sandbox network create`"
            )
        }
        let memberNames = (detached.name.map { [$0] } ?? []) + names.networkAlias
        for name in memberNames { try NetworkStore.validate(name: name, what: "name on a network") }
        guard memberNames.count <= NetworkMemberSpec.maximumNames else {
            throw .invalidArgument("at most \(NetworkMemberSpec.maximumNames - 1) --network-alias names")
        }
        var ports: [PublishedPort] = []
        for text in userNet.publish {
            do { ports += try PublishedPort.parse(text) } catch { throw .invalidArgument(error.description) }
        }
        return NetworkMembership(
            network: network, names: memberNames, linkFaults: try faults.linkFaults(), publishedPorts: ports)
    }

    /// `-d`: a supervisor runs the sandbox (ContainerRuntime.runDetached); prints its name.
    func runDetached(_ config: SandboxConfiguration) throws(SandboxError) -> Int32 {
        guard !program.tty else { throw .notAvailable("-t with -d: a detached sandbox has no terminal yet; drop -t") }
        let id = detached.name ?? Self.randomName()
        let all = Array(CommandLine.arguments.drop(while: { $0 != "run" }).dropFirst())
        // -d is taken off the flags (not the program's words), so the supervisor runs in front.
        let flagCount = all.count - command.count
        let flags = all.prefix(flagCount).filter { $0 != "-d" && $0 != "--detach" }
        let runtime = ContainerRuntime(store: try ContainerStore(root: RuntimeGlobals.root))
        _ = try runtime.runDetached(
            id: id, configuration: config, runArguments: flags + command, ports: userNet.publish)
        print(id)
        return 0
    }

    /// 12 random hex digits (the system generator), as docker's short ids look.
    static func randomName() -> String {
        let bytes = (0..<6).map { _ in UInt8.random(in: 0...255) }
        return bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }

    /// Runs the sandbox; returns the exit status for the process.
    mutating func execute() -> Int32 {
        // The program's arguments are captured verbatim, so `sandbox run --help` and
        // `sandbox run --version` arrive here. Help as `sandbox help run` gives it: from the
        // root, so it lists the --version every subcommand inherits.
        if let first = command.first, first == "--help" || first == "-h" {
            print(SandboxCommand.helpMessage(for: Run.self))
            return 0
        }
        if command.first == "--version" {
            print(BuildInfo.versionLine)
            return 0
        }
        do {
            try logging.settings().bootstrap()
            let config = try makeConfiguration()
            if case .profile(let path) = config.seccomp {
                for warning in OCISeccompProfile.warnings(path: path) {
                    FileHandleStderr.write("sandbox: \(warning)\n")
                }
            }
            if detached.detach { return try runDetached(config) }
            return try Launcher(configuration: config).run()
        } catch {
            FileHandleStderr.write("sandbox: \(error)\n")
            return error.exitCode
        }
    }
}
