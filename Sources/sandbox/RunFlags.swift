import ArgumentParser

// `sandbox run`'s flags in the groups its help shows them in (as podman's documentation sorts
// them): each group is a ParsableArguments of raw values; Run.makeConfiguration validates.

/// Isolation: namespaces and the filter the program runs under.
struct IsolationFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Network: user (eth0 behind a user-mode gateway: every flow goes through it; see the flags below), none (only lo), or host (the host's network, no isolation).",
            valueName: "user|none|host"))
    var net: String = "user"

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

    @Option(
        help: ArgumentHelp(
            "Host name inside the sandbox. Default: sandbox; on a --network, its --name.", valueName: "NAME"))
    var hostname: String?
}

/// File system: what the program sees as its files.
struct FileSystemFlags: ParsableArguments {
    @Flag(
        help:
            "Keep the root file system read-only (docker's --read-only). Accepted for habit: it is the default; /tmp, /run and /var/tmp are fresh tmpfs mounts anyway."
    )
    var readOnly = false

    @Flag(
        help:
            "Make the --rootfs root writable: an overlay whose upper layer is a tmpfs (at most 1 GiB, counted in --memory), so the program may write anywhere and every write is gone when the sandbox ends; the directory itself is never changed. Default: read-only."
    )
    var writableRoot = false

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
        name: [.short, .long],
        help: ArgumentHelp(
            "Working directory inside the sandbox (absolute), made if missing (not under a host directory bound read-only). Default: the current directory when it is bound, else /.",
            valueName: "DIR"))
    var workdir: String?
}

/// Program: the program's environment, identity, terminal and end.
struct ProgramFlags: ParsableArguments {
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
            "User and group inside the sandbox, names (from the sandbox root's /etc/passwd and /etc/group) or numbers. Default: 0:0 (root without capabilities).",
            valueName: "USER[:GROUP]"))
    var user: String?

    @Option(
        help: ArgumentHelp(
            "A supplementary group of the program, a name (from the sandbox root's /etc/group) or a number; as root (rootless, a user namespace has the caller's one group). Repeatable. Default: none.",
            valueName: "GROUP"))
    var groupAdd: [String] = []

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
}

/// Resources: limits through cgroups and rlimits.
struct ResourceFlags: ParsableArguments {
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
}

/// Names and DNS (--net=user): the sandbox's /etc/hosts and resolv.conf.
struct NameFlags: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Add a line to the sandbox's /etc/hosts (--net=user); IP may be host-gateway, the gateway's addresses. Repeatable. Default: none.",
            valueName: "NAME:IP"))
    var addHost: [String] = []

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
            "Join a named network (`sandbox network create`) instead of a gateway of the sandbox's own: sandboxes on it reach each other, and resolve each other's --name and --network-alias; egress goes through the network's gateway and policy. Default: none.",
            valueName: "NAME"))
    var network: String?

    @Option(
        help: ArgumentHelp(
            "Another name the network's DNS answers with this sandbox's addresses (with --network); several sandboxes may share one. Repeatable. Default: none.",
            valueName: "NAME"))
    var networkAlias: [String] = []
}

/// Detached sandboxes: running in the background (see `sandbox ps`, `logs`, `exec`, `stop`, `rm`).
struct DetachFlags: ParsableArguments {
    @Flag(
        name: [.short, .long],
        help:
            "Run in the background: print the sandbox's name and return once the program runs. Its output is kept (the last 1-2 MiB) for `sandbox logs`; see `sandbox ps`, `exec`, `stop`, `rm`. Default: in the foreground."
    )
    var detach = false

    @Option(
        help: ArgumentHelp(
            "A name for a detached sandbox (letters, digits, _ + - .), and on a --network the name the others reach it by. Default: 12 random hex digits.",
            valueName: "NAME"))
    var name: String?

    @Flag(
        help:
            "Remove the sandbox when it exits (docker's --rm). Accepted for habit: by default a run leaves nothing behind anyway (no container, state or image is kept)."
    )
    var rm = false
}
