import ArgumentParser
import FoundationEssentials
import Glibc
import Sandbox

/// `sandbox exec`: a new process in a running sandbox, as runc's exec (with --process, as
/// engines call it) and as podman's (`sandbox exec NAME -- CMD`).
struct Exec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a command in a running sandbox (its namespaces, cgroups and seccomp filter, no capabilities).",
        usage: "sandbox exec [OPTIONS] NAME [--] CMD [ARGS...]\n  sandbox exec --process FILE.json [OPTIONS] ID")

    @Option(name: [.short, .long], help: ArgumentHelp("An OCI process.json to run (runc's).", valueName: "FILE"))
    var process: String?

    @Flag(name: [.short, .long], help: "Give it a pseudo-terminal.")
    var tty = false

    @Flag(name: [.short, .long], help: "Accepted (podman's -i): stdin is always passed.")
    var interactive = false

    @Option(help: ArgumentHelp("Working directory inside the sandbox.", valueName: "DIR"))
    var cwd: String?

    @Option(
        name: [.customShort("w"), .customLong("workdir")],
        help: ArgumentHelp("Same as --cwd (podman's).", valueName: "DIR"))
    var workdir: String?

    @Option(
        name: [.short, .long], help: ArgumentHelp("Set an environment variable. Repeatable.", valueName: "NAME=VALUE"))
    var env: [String] = []

    @Option(name: [.short, .long], help: ArgumentHelp("User and group ids inside the sandbox.", valueName: "UID[:GID]"))
    var user: String?

    @Flag(name: [.short, .long], help: "Start it and return (its pid goes to --pid-file).")
    var detach = false

    @Option(help: ArgumentHelp("Write its pid here.", valueName: "FILE"))
    var pidFile: String?

    @Option(help: ArgumentHelp("A unix socket that receives the terminal's primary end.", valueName: "PATH"))
    var consoleSocket: String?

    @Option(help: ArgumentHelp("Accepted (runc's); capabilities are never granted.", valueName: "CAP"))
    var cap: [String] = []

    @Flag(help: "Accepted (runc's): NO_NEW_PRIVS is always set.")
    var noNewPrivs = false

    @Option(help: ArgumentHelp("Accepted (runc's); only 0 is supported.", valueName: "N"))
    var preserveFds: Int = 0

    @Option(help: ArgumentHelp("Accepted (runc's); no SELinux label is set.", valueName: "LABEL"))
    var processLabel: String?

    @Option(help: ArgumentHelp("Accepted (runc's); no AppArmor profile is set.", valueName: "PROFILE"))
    var apparmor: String?

    @Argument(help: "The sandbox's name or id.")
    var id: String

    @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command.", valueName: "CMD [ARGS...]"))
    var command: [String] = []

    func run() throws {
        var status: Int32 = 0
        try runtimeCommand { () throws(SandboxError) in
            guard preserveFds == 0 else {
                throw .notAvailable("--preserve-fds: passing extra descriptors is not supported")
            }
            let (record, state) = try RuntimeGlobals.runtime().state(id: id)
            var session = ContainerExecSession()
            session.consoleSocket = consoleSocket
            session.detach = detach
            session.pidFile = pidFile
            let request = try makeRequest(record, session: &session)
            status = try session.run(request, record: record, status: state)
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func makeRequest(_ record: ContainerRecord, session: inout ContainerExecSession) throws(SandboxError)
        -> ExecRequest
    {
        let argv = command.first == "--" ? Array(command.dropFirst()) : command
        var request = ExecRequest(command: argv, record: record)
        session.tty = tty
        if let process {
            let bytes = try readProcessFile(process)
            let spec: OCIConfig.Process
            do { spec = try JSONDecoder().decode(OCIConfig.Process.self, from: Data(bytes)) } catch {
                throw .invalidArgument("--process \(process): not an OCI process: \(error)")
            }
            request.command = spec.args ?? []
            request.environment = (spec.env ?? []).compactMap {
                try? EnvironmentVariable.parse($0, lookup: { _ in nil })
            }
            request.workdir = spec.cwd
            request.uid = spec.user.uid
            request.gid = spec.user.gid
            request.groups = spec.user.additionalGids ?? []
            session.tty = spec.terminal ?? tty
        }
        for text in env {
            if let variable = try EnvironmentVariable.parse(text, lookup: { getenv($0).map { String(cString: $0) } }) {
                request.environment.set(variable)
            }
        }
        if let directory = cwd ?? workdir { request.workdir = directory }
        if let user {
            let spec = try UserSpec.parse(user)
            request.uid = spec.uid
            request.gid = spec.gid
            request.groups = []
        }
        if session.tty, request.environment.value(of: "TERM") == nil {
            request.environment.set(EnvironmentVariable(name: "TERM", value: "xterm"))
        }
        return request
    }

    private func readProcessFile(_ path: String) throws(SandboxError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .invalidArgument("--process \(path): cannot open it") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while bytes.count <= 1 << 20 {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += buffer.prefix(count)
        }
        return bytes
    }
}
