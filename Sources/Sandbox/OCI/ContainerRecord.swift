import FoundationEssentials

/// The OCI lifecycle (runtime-spec runtime.md, "State" and "Lifecycle"): creating, created,
/// running, stopped. A record on disk says the last status its supervisor wrote; `observed`
/// turns it into what is true now (a supervisor that died, even by SIGKILL, means stopped).
public enum ContainerStatus: String, Codable, Sendable, CaseIterable {
    case creating, created, running, stopped
}

/// What the runtime keeps about one container (or `sandbox run -d` sandbox), as state.json in
/// its directory under the state root.
public struct ContainerRecord: Codable, Sendable, Equatable {
    public var id: String
    /// The bundle directory (OCI), or nil for `sandbox run -d`.
    public var bundle: String?
    public var status: ContainerStatus
    /// The supervisor: the process that holds the sandbox (the launcher, its gateway's parent).
    /// This is the `pid` of the OCI state, as with runsc: signals to it reach the program,
    /// and its exit status is the program's.
    public var pid: Int32
    /// The supervisor's start time (clock ticks since boot, /proc/PID/stat field 22): a pid
    /// reused by another process after the supervisor died is not taken for it.
    public var pidStartTime: UInt64
    /// The sandbox's init (PID 1 inside), in the host's pid namespace; 0 until created.
    public var initPID: Int32 = 0
    /// Its start time (as `pidStartTime`): exec never joins a process that took the pid since.
    public var initStartTime: UInt64 = 0
    public var created: String
    public var annotations: [String: String] = [:]
    public var exitStatus: Int32?
    /// The command, for `sandbox ps` and `list`.
    public var command: [String] = []
    /// The link faults now in force (`LinkFaults` one-token form): `sandbox update` changes
    /// only the ones it names. nil: none, or no user-mode network.
    public var linkFaults: String?
    /// The user-mode network's published ports (`sandbox ps`): as given, then as bound.
    public var ports: [String] = []
    /// Set when the sandbox failed to start: why.
    public var failure: String?
    /// What `exec` gives a new process by default, as the sandbox's program had it: its
    /// environment, ids inside, and seccomp choice ("default", "unconfined" or a profile path).
    public var environment: [String] = []
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var groups: [UInt32] = []
    public var seccomp = "default"
    /// What the supervisor would remove at the end, for `delete` when it was killed.
    public var leftovers = SandboxLeftovers()

    public init(id: String, bundle: String?, pid: Int32, pidStartTime: UInt64, created: String) {
        self.id = id
        self.bundle = bundle
        self.status = .creating
        self.pid = pid
        self.pidStartTime = pidStartTime
        self.created = created
    }

    /// The status now, given whether the supervisor still runs.
    public func observed(supervisorAlive: Bool) -> ContainerStatus {
        supervisorAlive ? status : .stopped
    }

    /// The runtime-spec's state JSON ("ociVersion", "id", "status", "pid", "bundle",
    /// "annotations"); pid is left out once stopped, as the spec allows. `pid` replaces the
    /// supervisor's: hooks get the sandbox's init, whose namespaces are the container's.
    public func stateJSON(status: ContainerStatus, pid: Int32? = nil) -> [UInt8] {
        struct State: Encodable {
            var ociVersion = OCIRuntime.specVersion
            var id: String
            var status: String
            var pid: Int32?
            var bundle: String
            var annotations: [String: String]?
        }
        let state = State(
            id: id, status: status.rawValue, pid: status == .stopped ? nil : (pid ?? self.pid), bundle: bundle ?? "",
            annotations: annotations.isEmpty ? nil : annotations)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(state))) ?? []
    }
}

/// The operations of the lifecycle and which statuses allow them (runtime.md "Operations").
public enum ContainerOperation: String, Sendable {
    case start, kill, delete, exec, update, pause

    /// Whether the operation may run on a container in `status` (`force`: delete --force).
    public func allowed(in status: ContainerStatus, force: Bool = false) -> Bool {
        switch self {
        case .start: return status == .created
        case .kill: return status == .created || status == .running
        // runc deletes a created container without --force (containerd's shim relies on it).
        case .delete: return status == .stopped || status == .created || force
        case .exec, .update: return status == .running
        case .pause: return false
        }
    }

    /// The refusal, runc's wording where it has one.
    public func refusal(id: String, status: ContainerStatus) -> SandboxError {
        switch self {
        case .start: return .invalidArgument("cannot start container \(id): it is \(status.rawValue), not created")
        case .kill: return .invalidArgument("cannot kill container \(id): it is \(status.rawValue), not running")
        case .delete:
            return .invalidArgument(
                "cannot delete container \(id) that is not stopped: \(status.rawValue) (use --force)")
        case .exec: return .invalidArgument("cannot exec in container \(id): it is \(status.rawValue), not running")
        case .update: return .invalidArgument("cannot update \(id): it is \(status.rawValue), not running")
        case .pause: return .notAvailable("pause and resume are not supported (no freezer is used)")
        }
    }
}

public enum OCIRuntime {
    /// The runtime-spec version this runtime implements.
    public static let specVersion = "1.2.0"

    /// runc's rule for container ids: letters, digits, `_`, `+`, `-`, `.`; not `.` or `..`; at
    /// most 255 bytes here (one path component).
    public static func validate(id: String) throws(SandboxError) {
        let bytes = Array(id.utf8)
        let allowed = bytes.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7a)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
                || byte == UInt8(ascii: ".")
        }
        guard !bytes.isEmpty, bytes.count <= 255, allowed, id != ".", id != ".." else {
            throw .invalidArgument("invalid container id \(id.debugDescription): use letters, digits, _ + - . (1-255)")
        }
    }
}
