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

    // MARK: isolation and file system

    @Option(
        help: ArgumentHelp(
            "Network: user (eth0 behind a user-mode gateway: every flow goes through it; see the flags below), none (only lo), or host (the host's network, no isolation).",
            valueName: "user|none|host"))
    var net: String = "user"

    @Option(
        help: ArgumentHelp(
            "Root file system directory (bound read-only). Default: the host's / read-only.", valueName: "DIR"))
    var rootfs: String?

    @Option(
        name: [.short, .customLong("volume")],
        help: ArgumentHelp(
            "Bind a host path into the sandbox, read-write or read-only (:ro). Repeatable. Default: none.",
            valueName: "HOST:PATH[:ro]"))
    var volumes: [String] = []

    @Option(
        name: [.short, .customLong("env")],
        help: ArgumentHelp(
            "Set an environment variable; NAME alone passes this process's value. Repeatable. Default: the program gets only PATH and HOME (and TERM with --tty).",
            valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(
        help: ArgumentHelp(
            "Read environment variables from a file, one NAME=VALUE (or NAME) a line, taken literally; '#' starts a comment line. Repeatable; --env wins. Default: none.",
            valueName: "FILE"))
    var envFile: [String] = []

    @Option(
        help: ArgumentHelp(
            "A search domain for the sandbox's resolv.conf (--net=user); `.` alone for none. Repeatable. Default: the host's search domains.",
            valueName: "DOMAIN"))
    var dnsSearch: [String] = []

    @Option(
        help: ArgumentHelp(
            "A resolv.conf option for the sandbox (--net=user), e.g. ndots:2. Repeatable. Default: the host's options.",
            valueName: "OPTION"))
    var dnsOption: [String] = []

    @Option(
        help: ArgumentHelp(
            "Add a line to the sandbox's /etc/hosts (--net=user); IP may be host-gateway, the gateway's addresses. Repeatable. Default: none.",
            valueName: "NAME:IP"))
    var addHost: [String] = []

    @Option(
        name: [.short, .long],
        help: ArgumentHelp(
            "Working directory inside the sandbox (absolute), made if missing (not under a host directory bound read-only). Default: the current directory when it is bound, else /.",
            valueName: "DIR"))
    var workdir: String?

    @Option(help: ArgumentHelp("Host name inside the sandbox.", valueName: "NAME"))
    var hostname: String = "sandbox"

    @Flag(
        name: [.short, .long],
        help:
            "Give the program a pseudo-terminal (its controlling terminal and stdio), relayed to this terminal. Off by default: the program gets this process's stdin, stdout and stderr."
    )
    var tty = false

    @Flag(
        name: [.short, .long],
        help:
            "Keep stdin open for the program (docker's -i; `-it` with -t). Accepted for docker and podman habits: the program always gets this process's stdin (the default)."
    )
    var interactive = false

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Seconds between passing SIGTERM or SIGINT on to the program and killing what is left of the sandbox (SIGKILL, exit 137), as docker stop does; -1: never. Default: 10.",
            valueName: "SECONDS"))
    var stopTimeout: Int = 10

    @Flag(
        name: [.short, .long],
        help:
            "Run in the background: print the sandbox's name and return once the program runs. Its output is kept (the last 1-2 MiB) for `sandbox logs`; see `sandbox ps`, `exec`, `stop`, `rm`. Default: in the foreground."
    )
    var detach = false

    @Option(
        help: ArgumentHelp(
            "A name for a detached sandbox (letters, digits, _ + - .). Default: 12 random hex digits.",
            valueName: "NAME"))
    var name: String?

    @Flag(
        help:
            "Remove the sandbox when it exits (docker's --rm). Accepted for habit: by default a run leaves nothing behind anyway (no container, state or image is kept)."
    )
    var rm = false

    @Option(
        help: ArgumentHelp(
            "User and group inside the sandbox, names (from the sandbox root's /etc/passwd and /etc/group) or numbers. Default: 0:0 (root without capabilities).",
            valueName: "USER[:GROUP]"))
    var user: String?

    @Option(
        help: ArgumentHelp(
            "A supplementary group of the program, a name (from the sandbox root's /etc/group) or a number; as root (rootless, a user namespace has the caller's one group). Repeatable. Default: none.",
            valueName: "GROUP"))
    var groupAdd: [String] = []

    @Option(
        help: ArgumentHelp(
            "A bind or tmpfs mount in docker's syntax: type=bind,source=HOST,target=PATH[,readonly] or type=tmpfs,target=PATH[,tmpfs-size=64m][,tmpfs-mode=1770]. Repeatable. Default: none.",
            valueName: "type=bind|tmpfs,..."))
    var mount: [String] = []

    @Option(
        help: ArgumentHelp(
            "Mount a fresh tmpfs at PATH inside (nosuid, nodev; mode 1777 unless given), e.g. /cache:size=64m,mode=700; options: size, mode, nr_inodes, uid, gid. Repeatable. Default: none.",
            valueName: "PATH[:OPTIONS]"))
    var tmpfs: [String] = []

    @Option(
        help: ArgumentHelp(
            "User namespace: auto (always one; as root its ids map to an unprivileged host range of the sandbox's own), on (as root: identity-mapped, the host root's file access; unsafe) or host (as root: none, the app is host uid 0; unsafe for untrusted code).",
            valueName: "auto|on|host"))
    var userns: String = "auto"

    @Option(
        help: ArgumentHelp(
            "Seccomp policy: default (the built-in filter), unconfined (no filter), or the path of an OCI seccomp profile (JSON).",
            valueName: "default|unconfined|FILE"))
    var seccomp: String = "default"

    // MARK: resources

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Memory limit through cgroups (v2 if delegated, else v1), e.g. 512m or 2g; swap beyond it is not allowed. Default: no limit.",
            valueName: "SIZE"))
    var memory: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "Maximum number of processes and threads, through the pids cgroup. Default: no limit.", valueName: "N"))
    var pidsLimit: String?

    @Option(
        parsing: .unconditional,
        help: ArgumentHelp(
            "CPU time as a number of CPUs (e.g. 1.5), through the cpu cgroup. Default: no limit.", valueName: "N"))
    var cpus: String?

    @Option(
        help: ArgumentHelp(
            "Set a resource limit (setrlimit), e.g. nofile=1024:4096. NAME: cpu fsize data stack core rss nproc nofile memlock as locks sigpending msgqueue nice rtprio rttime. Repeatable. Default: the limits this process has.",
            valueName: "NAME=SOFT[:HARD]"))
    var ulimit: [String] = []

    // MARK: user-mode network (--net=user)

    @OptionGroup(title: "User-mode network (--net=user)")
    var userNet: GatewayFlags

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
        guard let mode = NetworkMode(rawValue: net) else {
            throw .invalidArgument("bad --net \(net): use user, none or host")
        }
        config.network = mode
        config.rootfs = rootfs
        for text in volumes { config.volumes.append(try VolumeMount.parse(text)) }
        let lookup = { (name: String) in getenv(name).map { String(cString: $0) } }
        for path in envFile {
            for variable in try EnvironmentFile.variables(in: path, lookup: lookup) { config.environment.set(variable) }
        }
        config.extraHosts = try addHost.map { (text) throws(SandboxError) in try ExtraHost.parse(text) }
        config.resolver = ResolverFile(
            search: try ResolverFile.parseSearch(dnsSearch), options: try ResolverFile.parseOptions(dnsOption))
        for text in env {
            if let variable = try EnvironmentVariable.parse(
                text, lookup: { name in getenv(name).map { String(cString: $0) } })
            {
                config.environment.set(variable)
            }
        }
        if tty, config.environment.value(of: "TERM") == nil {
            config.environment.set(
                EnvironmentVariable(name: "TERM", value: getenv("TERM").map { String(cString: $0) } ?? "xterm"))
        }
        config.workdir = workdir
        config.hostname = hostname
        config.tty = tty
        guard (-1...86_400).contains(stopTimeout) else {
            throw .invalidArgument("bad --stop-timeout \(stopTimeout): use 0 to 86400 seconds, or -1 for never")
        }
        config.stopTimeoutSeconds = stopTimeout < 0 ? nil : stopTimeout
        config.user = try user.map { (text) throws(SandboxError) in try UserSpec.parse(text, inRoot: rootfs ?? "/") }
        config.supplementaryGroups = try groupAdd.map { (text) throws(SandboxError) in
            try UserSpec.groupID(text, inRoot: rootfs ?? "/")
        }
        config.tmpfsMounts = try tmpfs.map { (text) throws(SandboxError) in try TmpfsMount.parse(text) }
        for text in mount {
            switch try MountFlag.parse(text) {
            case .bind(let volume): config.volumes.append(volume)
            case .tmpfs(let tmpfs): config.tmpfsMounts.append(tmpfs)
            }
        }
        guard let namespaceMode = UserNamespaceMode(rawValue: userns) else {
            throw .invalidArgument("bad --userns \(userns): use auto, on or host")
        }
        config.userNamespace = namespaceMode
        config.seccomp = SeccompChoice.parse(seccomp)
        if let memory { config.resources.memoryBytes = try ResourceLimits.parseMemory(memory) }
        if let pidsLimit { config.resources.pids = try ResourceLimits.parsePids(pidsLimit) }
        if let cpus { config.resources.cpus = try ResourceLimits.parseCPUs(cpus) }
        for text in ulimit { config.rlimits.append(try ResourceLimit.parse(text)) }

        config.userNetFlags = userNet.given
        if mode == .user {
            config.userNet = try userNet.options(arguments: arguments)
            config.gatewayDispatch = try userNet.dispatchMode()
            config.gatewayLaunch = userNet.launch
        }
        try config.validate()
        return config
    }

    /// `-d`: a supervisor runs the sandbox (ContainerRuntime.runDetached); prints its name.
    func runDetached(_ config: SandboxConfiguration) throws(SandboxError) -> Int32 {
        guard !tty else { throw .notAvailable("-t with -d: a detached sandbox has no terminal yet; drop -t") }
        let id = name ?? Self.randomName()
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
            let config = try makeConfiguration()
            if case .profile(let path) = config.seccomp {
                for warning in OCISeccompProfile.warnings(path: path) {
                    FileHandleStderr.write("sandbox: \(warning)\n")
                }
            }
            if detach { return try runDetached(config) }
            return try Launcher(configuration: config).run()
        } catch {
            FileHandleStderr.write("sandbox: \(error)\n")
            return error.exitCode
        }
    }
}
