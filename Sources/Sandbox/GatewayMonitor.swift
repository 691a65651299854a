// The launcher's ear on the gateway's process: one thread reads its status lines (ready,
// counters, stopped, or why it could not start) and, at EOF, reaps it. A process that ends
// without having been asked to stop died: the monitor records why and calls the death handler
// (the launcher's fail-closed path: kill the app, end the run with 125).

import CLauncher
import Glibc
import Posix

final class GatewayMonitor: @unchecked Sendable {
    // Everything below is guarded by `mutex`; `condition` is broadcast on every change.
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var ready = false
    private var startError: String?
    private var counters: GatewayStatistics?
    private var countersSerial = 0
    private var faultsSerial = 0
    private var faultsApplied = false
    private var memberSerial = 0
    private var memberAnswer = ""
    private var final: GatewayStatistics?
    private var stopping = false
    private var exited = false
    private var death: String?
    private var onDeath: (@Sendable (String) -> Void)?

    let pid: pid_t
    private let statusFD: Int32

    init(pid: pid_t, statusFD: Int32) {
        self.pid = pid
        self.statusFD = statusFD
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
    }

    /// Starts the reading thread (detached: it ends when the gateway's process has been reaped).
    func start() throws(SandboxError) {
        let rc = startDetachedThread { self.readUntilExit() }
        guard rc == 0 else {
            throw .system(PosixError(call: "pthread_create", errno: rc), detail: "(the gateway's monitor)")
        }
    }

    private func readUntilExit() {
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n =
                (try? Posix.call("read") { chunk.withUnsafeMutableBytes { read(statusFD, $0.baseAddress, $0.count) } })
                ?? 0
            if n == 0 { break }
            pending += chunk[0..<n]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                handle(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
        }
        Posix.close(statusFD)
        let reason = Self.reap(pid)
        locked {
            exited = true
            guard final == nil else { return }
            death = reason
            if !ready, startError == nil { startError = "the gateway died while starting (\(reason))" }
            // After stop() was asked, the run is over: nothing left to fail closed.
            if ready, !stopping { onDeath?(reason) }
        }
    }

    private func handle(_ line: String) {
        let (word, rest) =
            line.firstIndex(of: " ").map { (line[..<$0], line[line.index(after: $0)...]) } ?? (Substring(line), "")
        locked {
            switch word {
            case "ready": ready = true
            case "error": startError = String(rest)
            case "counters":
                counters = GatewayStatistics(line: rest)
                countersSerial += 1
            case "faults":
                faultsApplied = rest == "ok"
                faultsSerial += 1
            case "member":
                memberAnswer = String(rest)
                memberSerial += 1
            case "stopped": final = GatewayStatistics(line: rest)
            default: break
            }
        }
    }

    /// "signal 31 SIGSYS" or "exit status 1", from waitpid.
    static func reap(_ pid: pid_t) -> String {
        var status: Int32 = 0
        do throws(PosixError) { _ = try Posix.call("waitpid") { waitpid(pid, &status, 0) } } catch {
            return "not reaped: \(Posix.errnoText(error.errno))"
        }
        if sbx_wifsignaled(status) != 0 {
            let signal = sbx_wtermsig(status)
            return "signal \(signal)" + (signalNames[signal].map { " " + $0 } ?? "")
        }
        return "exit status \(sbx_wexitstatus(status))"
    }

    /// The signals a dying gateway is likely to show (SIGSYS: its seccomp filter killed it).
    static let signalNames: [Int32: String] = [
        SIGSYS: "SIGSYS", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGBUS: "SIGBUS",
        SIGILL: "SIGILL", SIGTRAP: "SIGTRAP", SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGFPE: "SIGFPE"
    ]

    // MARK: What the launcher asks

    /// Blocks until the gateway said ready; throws what it said instead, or that it died.
    func waitUntilReady(seconds: Int = 10) throws(SandboxError) {
        let outcome: String? = locked(waitingUpTo: seconds, until: { ready || startError != nil || exited }) {
            ready ? nil : (startError ?? "the gateway did not start within \(seconds) s")
        }
        if let outcome { throw .network(outcome) }
    }

    /// Sends `request` through `send` and waits for the counters line it brings.
    func counters(requestingWith send: () -> Bool) -> GatewayStatistics? {
        awaitAnswer(to: send, counted: \.countersSerial) { counters }
    }

    /// Sends a `f FAULTS` request through `send` and waits for its answer: whether the gateway
    /// took the faults (it has a fault stage); nil if it is gone.
    func setFaults(requestingWith send: () -> Bool) -> Bool? {
        awaitAnswer(to: send, counted: \.faultsSerial) { faultsApplied }
    }

    /// Sends a request about a named network's member (`j MEMBER` as it joins, `P ID PORT` for
    /// one of its ports) and waits for its answer: "ok", or why not; nil if the gateway is gone.
    func memberAnswer(requestingWith send: () -> Bool) -> String? {
        awaitAnswer(to: send, counted: \.memberSerial) { memberAnswer }
    }

    /// A request and its answer line: `serial` counts the answers of that kind (`handle`), so
    /// the one after `send` is this request's; nil if the gateway exited first or never answered.
    private func awaitAnswer<T>(
        to send: () -> Bool, counted serial: KeyPath<GatewayMonitor, Int>, _ answer: () -> T?
    ) -> T? {
        let before = locked { self[keyPath: serial] }
        guard send() else { return nil }
        return locked(waitingUpTo: 10, until: { self[keyPath: serial] > before || exited }) {
            self[keyPath: serial] > before ? answer() : nil
        }
    }

    /// Marks the run as ending (a death from here on is not reported), then waits for the
    /// final counters after `close` asked for them, and with `untilExit` for the process to be
    /// gone as well (its packet socket, and with it the veth, released).
    func stop(untilExit: Bool, closingWith close: () -> Void) -> GatewayStatistics? {
        locked { stopping = true }
        close()
        return locked(waitingUpTo: 10, until: { exited || (final != nil && !untilExit) }) { final }
    }

    /// Installs the handler called (under the monitor's lock, so never after `stop` began)
    /// when the gateway dies during the run; if it already died, calls it now.
    func setDeathHandler(_ handler: @escaping @Sendable (String) -> Void) {
        locked {
            onDeath = handler
            if let death, ready, !stopping { handler(death) }
        }
    }

    var deathReason: String? { locked { death } }

    /// Runs `body` under the lock and wakes every waiter (the state may have changed).
    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&mutex)
        defer {
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
        }
        return body()
    }

    private func locked<T>(waitingUpTo seconds: Int, until done: () -> Bool, _ body: () -> T) -> T {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += seconds
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while !done() {
            if pthread_cond_timedwait(&condition, &mutex, &deadline) == ETIMEDOUT { break }
        }
        return body()
    }
}
