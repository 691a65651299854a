import CLauncher
import Glibc
import Posix
import Synchronization

/// The process that holds one detached sandbox (an OCI container, or `sandbox run -d`): the
/// launcher of that sandbox, running on after the command that made it has returned. Its pid
/// is the container's pid in the OCI state, as runsc's sandbox process is: a signal sent to it
/// reaches the program (SIGKILL ends the sandbox with it), and its exit status is the
/// program's, so an engine's monitor (conmon, containerd's shim) that reaps it reads the
/// program's status.
///
/// It is started by `ContainerRuntime` with a notify pipe at descriptor 3, on which it says
/// "ok" once the sandbox is created, or why it could not be.
public enum Supervisor {
    /// The hidden command line word that starts one (not for users).
    public static let subcommand = "__supervise"
    static let notifyFD: Int32 = 3

    /// How the supervisor runs its sandbox.
    public struct Plan: Sendable {
        public var configuration: SandboxConfiguration
        /// The engine's network namespace (OCI): joined before anything starts, so the gateway's
        /// host sockets live there.
        public var engineNetwork: String?
        /// Wait for `start` before the program runs (OCI); `run -d` starts at once.
        public var waitForStart: Bool
        /// Keep the output in the state directory (`run -d`); an engine gives its own stdio.
        public var keepLog: Bool
        /// Publish the ports the app listens on (OCI, with the user-mode network).
        public var publishListeners: Bool
        /// config.json's hooks (OCI).
        public var hooks: OCIConfig.Hooks?

        public init(
            configuration: SandboxConfiguration, engineNetwork: String?, waitForStart: Bool, keepLog: Bool,
            publishListeners: Bool = false, hooks: OCIConfig.Hooks? = nil
        ) {
            self.hooks = hooks
            self.configuration = configuration
            self.engineNetwork = engineNetwork
            self.waitForStart = waitForStart
            self.keepLog = keepLog
            self.publishListeners = publishListeners
        }
    }

    /// Runs container `id` of `store` to its end; exits with the program's status.
    public static func run(_ plan: Plan, id: String, store: ContainerStore) -> Never {
        _ = fcntl(notifyFD, F_SETFD, FD_CLOEXEC)
        var log: BoundedLog?
        var status: Int32
        do throws(SandboxError) {
            if plan.keepLog { log = try keepOutput(in: store.directory(id)) }
            if let path = plan.engineNetwork { try join(networkNamespace: path) }
            var launcher = Launcher(configuration: plan.configuration)
            // Created once its namespaces exist (OCI create returns here); running once the
            // program was executed, when every namespace of its init is in place for exec.
            launcher.beforeStart = { child throws(SandboxError) in
                try update(store, id) { record in
                    record.initPID = child.pid
                    record.initStartTime = ProcessStartTime.of(child.pid) ?? 0
                    record.leftovers = child.leftovers
                    record.status = .created
                    if let gateway = child.gateway { record.ports = gateway.publishedPorts.map(\.description) }
                }
                let state = try store.read(id).stateJSON(status: .created, pid: child.pid)
                try OCIHooks.run(plan.hooks?.createRuntime ?? [], phase: "createRuntime", state: state)
                try OCIHooks.run(plan.hooks?.prestart ?? [], phase: "prestart", state: state)
                guard plan.waitForStart else { return }
                // Open before "ok", so a `start` that follows at once finds a reader.
                let fifo = try SystemCalls.open(
                    store.directory(id) + "/" + ContainerStore.startFifo, O_RDWR | O_CLOEXEC)
                defer { SystemCalls.close(fifo) }
                notify("ok")
                _ = try SystemCalls.readAll(fifo, limit: 1, name: "start fifo")
            }
            launcher.afterStart = { child in
                // runtime-spec: poststart hooks finish before `start` returns.
                if let hooks = plan.hooks?.poststart, let record = try? store.read(id) {
                    OCIHooks.runReporting(
                        hooks, phase: "poststart", state: record.stateJSON(status: .running, pid: child.pid))
                }
                try? update(store, id) { $0.status = .running }
                if !plan.waitForStart { notify("ok") }
                if let link = child.adjustableLink { SupervisorControl.serve(in: store.directory(id), gateway: link) }
                if plan.publishListeners, let gateway = child.gateway {
                    ListenerForwarding.start(gateway: gateway, initPID: child.pid) { port in
                        try? update(store, id) { $0.ports.append(port.description) }
                    }
                }
            }
            status = try launcher.run()
            try? update(store, id) { record in
                record.status = .stopped
                record.exitStatus = status
            }
        } catch {
            status = error.exitCode
            try? update(store, id) { record in
                record.status = .stopped
                record.exitStatus = status
                record.failure = error.description
            }
            report(failure: error.description)
        }
        if let log {
            // Every write end closed (the program is gone), the copy reaches EOF.
            let null = open("/dev/null", O_WRONLY | O_CLOEXEC)
            dup2(null, STDOUT_FILENO)
            dup2(null, STDERR_FILENO)
            log.drain()
        }
        exit(status)
    }

    /// Says why the sandbox failed: to the command that is creating it, or once it was created,
    /// on the sandbox's stderr.
    public static func report(failure message: String) {
        if !notify("error: " + message) { try? Posix.writeAll(STDERR_FILENO, Array("sandbox: \(message)\n".utf8)) }
    }

    /// Updates the record under the container's lock.
    static func update(_ store: ContainerStore, _ id: String, _ change: (inout ContainerRecord) -> Void)
        throws(SandboxError)
    {
        let lock = try store.lock(id)
        defer { withExtendedLifetime(lock) {} }
        var record = try store.read(id)
        change(&record)
        try store.write(record)
    }

    /// Whether the notify pipe was used (its descriptor number may be reused after).
    private static let notified = Atomic<Bool>(false)

    /// Writes `message` on the notify pipe and closes it; false if it was used already.
    @discardableResult
    static func notify(_ message: String) -> Bool {
        guard !notified.exchange(true, ordering: .acquiringAndReleasing) else { return false }
        try? Posix.writeAll(notifyFD, Array((message.replacingNewlines() + "\n").utf8))
        close(notifyFD)
        return true
    }

    static func keepOutput(in directory: String) throws(SandboxError) -> BoundedLog {
        let (log, writeFD) = try BoundedLog.start(in: directory)
        dup2(writeFD, STDOUT_FILENO)
        dup2(writeFD, STDERR_FILENO)
        SystemCalls.close(writeFD)
        return log
    }

    static func join(networkNamespace path: String) throws(SandboxError) {
        OCIHooks.runtimeNetwork = (try? SystemCalls.open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)) ?? -1
        let fd = try SystemCalls.open(path, O_RDONLY | O_CLOEXEC)
        defer { SystemCalls.close(fd) }
        guard sbx_join_network_namespace(fd) == 0 else {
            throw .system(PosixError(call: "setns", errno: errno), detail: "(the engine's network namespace \(path))")
        }
    }
}

extension String {
    /// One line: newlines become spaces (the notify pipe's messages end at a newline).
    func replacingNewlines() -> String { String(map { $0 == "\n" ? " " : $0 }) }
}
