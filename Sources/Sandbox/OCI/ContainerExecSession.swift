import CLauncher
import Glibc
import Posix

/// One `exec` from start to end: its terminal (relayed here, or sent to an engine's console
/// socket), the start, then either its pid for an engine that reaps it (`detach`) or its exit
/// status, waited for here as the subreaper.
public struct ContainerExecSession: Sendable {
    public var tty = false
    public var consoleSocket: String?
    public var detach = false
    public var pidFile: String?

    public init() {}

    /// Runs `request` in `record`'s sandbox: 0 once started with `detach`, else its status.
    public func run(_ request: ExecRequest, record: ContainerRecord, status: ContainerStatus) throws(SandboxError)
        -> Int32
    {
        guard ContainerOperation.exec.allowed(in: status) else {
            throw ContainerOperation.exec.refusal(id: record.id, status: status)
        }
        var request = request
        request.terminal = tty
        if !detach { ContainerExec.becomeSubreaper() }
        let started = try ContainerExec.start(request, record: record)
        // The terminal is the sandbox's own (its devpts): relayed here, or handed to the engine.
        let terminal = started.terminalFD >= 0 ? TerminalRelay(adopting: started.terminalFD) : nil
        defer { terminal?.close() }
        if let terminal, let consoleSocket, sbx_send_to_console_socket(consoleSocket, terminal.primaryFD) != 0 {
            kill(started.pid, SIGKILL)
            throw .system(PosixError(call: "sendmsg", errno: errno), detail: "(--console-socket \(consoleSocket))")
        }
        if let pidFile { try ContainerRuntime.writePidFile(pidFile, pid: started.pid) }
        if detach { return 0 }
        if let terminal, consoleSocket == nil { terminal.relay(until: started.pid) }
        return ContainerExec.wait(for: started.pid)
    }
}
