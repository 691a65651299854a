import FDBased
import UserNet

/// Everything `sandbox run` was asked to do, validated. The CLI builds it; `Launcher` runs it.
public struct SandboxConfiguration: Sendable {
    /// The program and its arguments (argv[0] is looked up in PATH inside the sandbox).
    public var command: [String]
    public var network: NetworkMode = .user
    /// Options of the user-mode gateway (with `.user`); nil: the defaults.
    public var userNet: UserNetOptions?
    /// How the gateway reads frames from the veth (with `.user`).
    public var gatewayDispatch = PacketDispatchMode.packetMMap
    /// How the gateway's confined process is started (with `.user`).
    public var gatewayLaunch = GatewayProcess.Launch()
    /// The user-mode network flags that were given, by name: refused with another --net mode.
    public var userNetFlags: [String] = []
    /// `--network NAME`: the sandbox joins a named network (its gateway, policy and DNS) instead
    /// of getting a gateway of its own (with `.user`).
    public var networkMembership: NetworkMembership?
    /// The root file system: nil means the host's / (read-only).
    public var rootfs: String?
    /// The root directory bound read-write (an OCI bundle's `root.readonly: false`), idmapped
    /// to the app's ids; by default it is read-only.
    public var rootWritable = false
    /// `--writable-root`: the given root as the lower layer of an overlay whose upper layer is a
    /// tmpfs of `rootOverlayBytes`, so the app may write anywhere and every write is gone at exit.
    public var rootOverlay = false
    public var rootOverlayBytes: UInt64 = 1 << 30
    public var volumes: [VolumeMount] = []
    public var tmpfsMounts: [TmpfsMount] = []
    /// Hidden (/dev/null or an empty directory over them) and read-only paths, beyond the
    /// runtime spec's defaults that every sandbox has (an OCI bundle's maskedPaths, readonlyPaths).
    public var extraMaskedPaths: [String] = []
    public var extraReadOnlyPaths: [String] = []
    /// The app's environment, in order. The launcher's own environment is not passed on.
    public var environment: [EnvironmentVariable] = EnvironmentVariable.defaults
    public var workdir: String?
    public var hostname: String = "sandbox"
    public var tty = false
    /// With `tty`: an OCI console socket that gets the terminal's primary end (the engine
    /// relays it); without one the launcher relays the terminal itself.
    public var consoleSocket: String?
    /// `--stop-timeout`: seconds between a forwarded SIGTERM/SIGINT and SIGKILL; nil never.
    public var stopTimeoutSeconds: Int? = 10
    /// `--add-host` entries for /etc/hosts (--net=user).
    public var extraHosts: [ExtraHost] = []
    /// `--dns-search`, `--dns-option` for /etc/resolv.conf (--net=user).
    public var resolver = ResolverFile()
    /// Identity inside the sandbox; nil means root (uid 0) inside.
    public var user: UserSpec?
    /// Supplementary groups of the app (`--group-add`, OCI additionalGids), ids inside.
    public var supplementaryGroups: [UInt32] = []
    /// Whether to make a user namespace. Without root there is always one.
    public var userNamespace: UserNamespaceMode = .auto
    public var resources = ResourceLimits()
    public var rlimits: [ResourceLimit] = []
    public var seccomp: SeccompChoice = .default

    public init(command: [String]) {
        self.command = command
    }

    /// The gateway's options, the defaults when none were set.
    public func userNetOptions() throws(SandboxError) -> UserNetOptions {
        var options: UserNetOptions
        if let userNet {
            options = userNet
        } else {
            do { options = try UserNetOptions() } catch { throw .invalidArgument(error.description) }
        }
        // The forwarder answers the sandbox's own name itself (LocalNames).
        options.network.hostname = hostname
        return options
    }

    /// Checks what can be checked before anything is created. Throws `.invalidArgument` or
    /// `.notAvailable` with a message for the user.
    public func validate() throws(SandboxError) {
        guard let program = command.first, !program.isEmpty else {
            throw .invalidArgument("no command given: use `sandbox run [OPTIONS] -- CMD [ARGS...]`")
        }
        if network != .user, !extraHosts.isEmpty {
            throw .invalidArgument(
                "--add-host writes the sandbox's /etc/hosts and needs --net=user (got --net=\(network.rawValue))")
        }
        if network != .user, resolver != ResolverFile() {
            throw .invalidArgument(
                "--dns-search and --dns-option write the sandbox's resolv.conf and need --net=user (got --net=\(network.rawValue))"
            )
        }
        if network != .user, let flag = userNetFlags.first {
            throw .invalidArgument(
                "\(flag) configures the user-mode network and needs --net=user (got --net=\(network.rawValue))")
        }
        if let workdir, !workdir.hasPrefix("/") {
            throw .invalidArgument("--workdir must be an absolute path inside the sandbox, got \(workdir)")
        }
        if let rootfs, !rootfs.hasPrefix("/") {
            throw .invalidArgument("--rootfs must be an absolute path, got \(rootfs)")
        }
        if rootOverlay, rootfs == nil {
            throw .invalidArgument(
                "--writable-root needs --rootfs DIR: the default root is the host's own directories (use --tmpfs or -v for writable places there)"
            )
        }
        try HostnameRules.validate(hostname)
    }
}

public enum NetworkMode: String, Sendable, CaseIterable, Equatable {
    /// A fresh network namespace whose only way out is the user-mode gateway.
    case user
    /// A fresh network namespace with only `lo`.
    case none
    /// The host's network namespace (no network isolation).
    case host
}

public enum UserNamespaceMode: String, Sendable, CaseIterable, Equatable {
    /// Always a user namespace. As root, its ids 0-65535 map to an unprivileged host range of
    /// the sandbox's own (`HostIDRange`); as non-root, to the caller's own ids.
    case auto
    /// As root: the identity mapping (capabilities are namespaced, but file access is the
    /// host's root's). Unsafe for untrusted code.
    case on
    /// As root: no user namespace; the app is host uid 0 without capabilities. Unsafe for
    /// untrusted code (host root's files, host root's unix sockets). As non-root, as `auto`.
    case host
}

public enum SeccompChoice: Sendable, Equatable {
    case `default`
    case unconfined
    /// An OCI seccomp profile (JSON) at this path.
    case profile(String)

    public static func parse(_ text: String) -> SeccompChoice {
        switch text {
        case "default": return .default
        case "unconfined": return .unconfined
        default: return .profile(text)
        }
    }
}

public struct EnvironmentVariable: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// What every sandbox starts with (as docker does), before -e.
    public static let defaults = [
        EnvironmentVariable(name: "PATH", value: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        EnvironmentVariable(name: "HOME", value: "/")
    ]

    /// `K=V`, or `K` alone to pass the launcher's value of K (as docker -e does; dropped if unset).
    public static func parse(_ text: String, lookup: (String) -> String?) throws(SandboxError) -> EnvironmentVariable? {
        let name: Substring
        let value: String?
        if let eq = text.firstIndex(of: "=") {
            name = text[..<eq]
            value = String(text[text.index(after: eq)...])
        } else {
            name = Substring(text)
            value = lookup(text)
        }
        guard !name.isEmpty, !name.contains("\0"), value?.contains("\0") != true else {
            throw .invalidArgument("bad --env \(text): expected NAME=VALUE or NAME")
        }
        return value.map { EnvironmentVariable(name: String(name), value: $0) }
    }
}

extension Array where Element == EnvironmentVariable {
    /// Sets `variable`, replacing an earlier value of the same name in place.
    public mutating func set(_ variable: EnvironmentVariable) {
        if let index = firstIndex(where: { $0.name == variable.name }) {
            self[index] = variable
        } else {
            append(variable)
        }
    }

    public func value(of name: String) -> String? {
        first(where: { $0.name == name })?.value
    }
}

enum HostnameRules {
    /// RFC 1123 host name: labels of letters, digits and hyphens, at most 63 bytes each and
    /// 64 in all (the kernel's limit for sethostname).
    static func validate(_ name: String) throws(SandboxError) {
        let length = name.utf8.count
        guard length >= 1, length <= 64 else {
            throw .invalidArgument("--hostname must be 1 to 64 characters, got \(length)")
        }
        guard isValidName(name) else {
            throw .invalidArgument("--hostname \(name) is not a valid host name (letters, digits, '-', '.')")
        }
    }

    /// Dot-separated RFC 1123 labels: 1 to 63 letters, digits or inner hyphens each.
    static func isValidName(_ name: String) -> Bool {
        name.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63
                && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                && label.allSatisfy {
                    ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == UInt8(ascii: "-")
                }
        }
    }
}
