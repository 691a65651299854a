import CLauncher
import FoundationEssentials
import Glibc
import Posix
import UserNet

/// The lifecycle operations on the state root, as runc's commands and `sandbox run -d`, `stop`
/// and `rm` use them. Each takes the container's lock for what it reads and writes.
public struct ContainerRuntime: Sendable {
    public let store: ContainerStore
    /// The binary started as the supervisor (this one).
    public var executable = "/proc/self/exe"
    /// `create --console-socket`: where the terminal's primary end goes (process.terminal).
    public var consoleSocket: String?

    public init(store: ContainerStore) { self.store = store }

    /// OCI `create`: the sandbox is made and waits for `start`. Returns the supervisor's pid
    /// (written to `pidFile` too, as runc does).
    public func create(id: String, bundle: String, pidFile: String?) throws(SandboxError) -> pid_t {
        let bundlePath = VolumeMount.normalize(
            bundle.hasPrefix("/") ? bundle : Launcher.currentDirectory().map { $0 + "/" + bundle } ?? bundle)
        try store.create(id)
        do throws(SandboxError) {
            let loaded = try OCIBundle.load(bundlePath)
            let configuration = try loaded.sandboxConfiguration(stateDirectory: store.directory(id))
            var record = Self.record(id: id, bundle: bundlePath, configuration: configuration)
            record.annotations = loaded.config.annotations ?? [:]
            try makeFifo(id)
            let pid = try spawnSupervisor(
                id: id, record: record, options: consoleSocket.map { ["--console-socket", $0] } ?? [], arguments: [],
                logToState: false)
            do throws(SandboxError) { if let pidFile { try Self.writePidFile(pidFile, pid: pid) } } catch {
                Glibc.kill(pid, SIGKILL)
                _ = Launcher.wait(for: pid)
                throw error
            }
            return pid
        } catch {
            store.remove(id)
            throw error
        }
    }

    /// `sandbox run -d`: the sandbox starts at once, its output kept in the state directory.
    /// `runArguments` are `run`'s own, which the supervisor parses again.
    public func runDetached(id: String, configuration: SandboxConfiguration, runArguments: [String], ports: [String])
        throws(SandboxError) -> pid_t
    {
        try store.create(id)
        do throws(SandboxError) {
            var record = Self.record(id: id, bundle: nil, configuration: configuration)
            record.ports = ports
            record.linkFaults = (Self.memberLinkFaults(configuration) ?? configuration.userNet?.linkFaults)?.description
            return try spawnSupervisor(id: id, record: record, arguments: ["--"] + runArguments, logToState: true)
        } catch {
            store.remove(id)
            throw error
        }
    }

    /// Takes the container's lock and reads it; throws the operation's refusal unless its
    /// status now allows it. The lock is held as long as the caller keeps it.
    private func locked(_ id: String, for operation: ContainerOperation, force: Bool = false)
        throws(SandboxError) -> (ContainerLock, ContainerRecord, ContainerStatus)
    {
        let lock = try store.lock(id)
        let record = try store.read(id)
        let status = store.status(of: record)
        guard operation.allowed(in: status, force: force) else { throw operation.refusal(id: id, status: status) }
        return (lock, record, status)
    }

    /// A network member's link faults: its own, or else the network's (what its port starts with).
    static func memberLinkFaults(_ configuration: SandboxConfiguration) -> LinkFaults? {
        guard let membership = configuration.networkMembership else { return nil }
        guard membership.linkFaults.isEmpty else { return membership.linkFaults }
        let network = try? NetworkStore().load(membership.network).options()
        return network?.linkFaults ?? membership.linkFaults
    }

    /// `sandbox update`: the link faults of a running sandbox's gateway, from `change` of the
    /// ones in force, handed to its supervisor (SupervisorControl) and recorded once it took them.
    public func updateLinkFaults(id: String, _ change: (LinkFaults) throws(SandboxError) -> LinkFaults)
        throws(SandboxError) -> LinkFaults
    {
        let (lock, record, _) = try locked(id, for: .update)
        defer { withExtendedLifetime(lock) {} }
        guard let text = record.linkFaults, let current = LinkFaults(encoded: text) else {
            throw .invalidArgument("cannot update \(id): it has no user-mode network (--net=user) to change")
        }
        let wanted = try change(current)
        let answer = try SupervisorControl.ask("faults " + wanted.description, directory: store.directory(id))
        guard answer == "ok" else {
            throw .invalidArgument(
                "cannot update \(id): " + (answer.hasPrefix("error ") ? String(answer.dropFirst(6)) : answer))
        }
        var updated = record
        updated.linkFaults = wanted.description
        try store.write(updated)
        return wanted
    }

    /// OCI `start`: the program of a created container runs.
    public func start(id: String) throws(SandboxError) {
        do {
            let (lock, _, _) = try locked(id, for: .start)
            defer { withExtendedLifetime(lock) {} }
            let fd = open(store.directory(id) + "/" + ContainerStore.startFifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else {
                throw SandboxError.system(PosixError(call: "open", errno: errno), detail: "(the start fifo of \(id))")
            }
            defer { SystemCalls.close(fd) }
            try SystemCalls.writeAll(fd, [1], name: "start fifo")
        }
        // Returns once the program runs (or the sandbox ended), as runc's start does.
        for _ in 0..<500 {
            let record = try store.read(id)
            if store.status(of: record) != .created { return }
            usleep(10_000)
        }
    }

    /// OCI `kill`: `signal` to the supervisor, which passes it on to the program.
    public func kill(id: String, signal: Int32) throws(SandboxError) {
        let (lock, record, _) = try locked(id, for: .kill)
        defer { withExtendedLifetime(lock) {} }
        guard Glibc.kill(record.pid, signal) == 0 else {
            throw .system(PosixError(call: "kill", errno: errno), detail: "(container \(id), pid \(record.pid))")
        }
    }

    /// OCI `delete`: removes a stopped container's state; `force` kills a live one first.
    public func delete(id: String, force: Bool) throws(SandboxError) {
        let (lock, record, status) = try locked(id, for: .delete, force: force)
        defer { withExtendedLifetime(lock) {} }
        if status != .stopped {
            _ = Glibc.kill(record.pid, SIGKILL)
            try awaitExit(record)
        }
        // A supervisor killed before its end left these (removing what is gone is a no-op).
        record.leftovers.remove()
        store.remove(id)
        // runtime-spec: poststop runs after the container is deleted, before delete returns.
        if let bundle = record.bundle, let hooks = (try? OCIBundle.load(bundle))?.config.hooks?.poststop {
            OCIHooks.runReporting(hooks, phase: "poststop", state: record.stateJSON(status: .stopped))
        }
    }

    /// `delete --force` of a container whose state cannot be read: its directory goes.
    public func removeUnreadable(id: String) throws(SandboxError) {
        try OCIRuntime.validate(id: id)
        if SystemCalls.isDirectory(store.directory(id)) { store.remove(id) }
    }

    /// `sandbox stop`: SIGTERM, then SIGKILL after `timeout` seconds if the sandbox still runs.
    public func stop(id: String, timeout: Int) throws(SandboxError) {
        let record = try store.read(id)
        guard store.status(of: record) != .stopped else { return }
        try kill(id: id, signal: SIGTERM)
        for _ in 0..<(timeout * 100) where ProcessStartTime.of(record.pid) == record.pidStartTime { usleep(10_000) }
        if ProcessStartTime.of(record.pid) == record.pidStartTime {
            _ = Glibc.kill(record.pid, SIGKILL)
            try awaitExit(record)
            record.leftovers.remove()
        }
    }

    /// The record and its status now.
    public func state(id: String) throws(SandboxError) -> (ContainerRecord, ContainerStatus) {
        let record = try store.read(id)
        return (record, store.status(of: record))
    }

    /// Every container, with its status now.
    public func list() -> [(ContainerRecord, ContainerStatus)] {
        store.ids().compactMap { id in
            (try? store.read(id)).map { ($0, store.status(of: $0)) }
        }
    }

    /// What exec needs from the configuration, kept in the record.
    static func record(id: String, bundle: String?, configuration: SandboxConfiguration) -> ContainerRecord {
        var record = ContainerRecord(id: id, bundle: bundle, pid: 0, pidStartTime: 0, created: Self.timestamp())
        record.command = configuration.command
        record.environment = configuration.environment.map { "\($0.name)=\($0.value)" }
        record.uid = configuration.user?.uid ?? 0
        record.gid = configuration.user?.gid ?? 0
        record.groups = configuration.supplementaryGroups
        switch configuration.seccomp {
        case .default: record.seccomp = "default"
        case .unconfined: record.seccomp = "unconfined"
        case .profile(let path): record.seccomp = path
        }
        return record
    }

    private func makeFifo(_ id: String) throws(SandboxError) {
        let path = store.directory(id) + "/" + ContainerStore.startFifo
        guard mkfifo(path, 0o600) == 0 else { throw .system(PosixError(call: "mkfifo", errno: errno), detail: path) }
    }

    private func awaitExit(_ record: ContainerRecord) throws(SandboxError) {
        for _ in 0..<1000 where ProcessStartTime.of(record.pid) == record.pidStartTime { usleep(5_000) }
        guard ProcessStartTime.of(record.pid) != record.pidStartTime else {
            throw .system(PosixError(call: "kill", errno: ETIMEDOUT), detail: "(container \(record.id) did not exit)")
        }
    }

    static func writePidFile(_ path: String, pid: pid_t) throws(SandboxError) {
        try SystemCalls.createFile(path + ".tmp", "\(pid)")
        guard rename(path + ".tmp", path) == 0 else {
            throw .system(PosixError(call: "rename", errno: errno), detail: path)
        }
    }

    public static func timestamp() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        var broken = tm()
        gmtime_r(&time.tv_sec, &broken)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(broken.tm_year + 1900)-\(two(broken.tm_mon + 1))-\(two(broken.tm_mday))T"
            + "\(two(broken.tm_hour)):\(two(broken.tm_min)):\(two(broken.tm_sec))Z"
    }
}
