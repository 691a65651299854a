import ArgumentParser
import Glibc
import Sandbox

/// `sandbox create`: runc's create. The sandbox is made and waits for `start`.
struct Create: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "OCI runtime: create a container from a bundle; it waits for `start`.",
        discussion:
            "The pid written to --pid-file is the sandbox's supervisor: signals to it reach the program, and it exits with the program's status."
    )

    @Option(
        name: [.short, .long], help: ArgumentHelp("The bundle directory (config.json and the root).", valueName: "DIR"))
    var bundle: String = "."

    @Option(help: ArgumentHelp("Write the container's pid here.", valueName: "FILE"))
    var pidFile: String?

    @Option(
        help: ArgumentHelp(
            "A unix socket that receives the terminal's primary end (process.terminal).", valueName: "PATH"))
    var consoleSocket: String?

    @Flag(help: "Accepted (runc's): the sandbox's root is always entered with pivot_root.")
    var noPivot = false

    @Flag(help: "Accepted (runc's): no session keyring is made.")
    var noNewKeyring = false

    @Option(help: ArgumentHelp("Accepted (runc's); only 0 is supported.", valueName: "N"))
    var preserveFds: Int = 0

    @Argument(help: "The container id.")
    var id: String

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            guard preserveFds == 0 else {
                throw .notAvailable("--preserve-fds: passing extra descriptors is not supported")
            }
            var runtime = try RuntimeGlobals.runtime()
            runtime.consoleSocket = consoleSocket
            _ = try runtime.create(id: id, bundle: bundle, pidFile: pidFile)
        }
    }
}

struct Start: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OCI runtime: start a created container's program.")

    @Argument(help: "The container id.")
    var id: String

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in try RuntimeGlobals.runtime().start(id: id) }
    }
}

struct State: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "OCI runtime: print a container's state (runtime-spec JSON).")

    @Argument(help: "The container id.")
    var id: String

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let (record, status) = try RuntimeGlobals.runtime().state(id: id)
            print(String(decoding: record.stateJSON(status: status), as: UTF8.self))
        }
    }
}

struct Kill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "OCI runtime: send a signal (default TERM) to a container.",
        discussion:
            "The signal goes to the sandbox's supervisor, which passes INT, TERM, HUP, QUIT, USR1, USR2 and WINCH on to the program; KILL ends the whole sandbox."
    )

    @Flag(
        name: [.short, .long],
        help: "Every process of the container (the same here: the supervisor's death ends them all).")
    var all = false

    @Argument(help: "The container id.")
    var id: String

    @Argument(help: "Signal name (TERM, SIGTERM) or number.")
    var signal: String = "TERM"

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            try RuntimeGlobals.runtime().kill(id: id, signal: try SignalName.parse(signal))
        }
    }
}

struct Delete: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OCI runtime: remove a stopped container's state.")

    @Flag(name: [.short, .long], help: "Kill the container first if it still runs.")
    var force = false

    @Argument(help: "The container id.")
    var id: String

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let runtime = try RuntimeGlobals.runtime()
            // runc: deleting what does not exist fails, unless forced; forced, a state that
            // cannot be read is removed as it is.
            if force, (try? runtime.state(id: id)) == nil {
                try runtime.removeUnreadable(id: id)
                return
            }
            try runtime.delete(id: id, force: force)
        }
    }
}

/// Signal names as kill(1) and runc take them.
enum SignalName {
    static let names: [String: Int32] = [
        "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP, "ABRT": SIGABRT,
        "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL, "USR1": SIGUSR1, "SEGV": SIGSEGV, "USR2": SIGUSR2,
        "PIPE": SIGPIPE, "ALRM": SIGALRM, "TERM": SIGTERM, "CHLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP,
        "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU, "XFSZ": SIGXFSZ,
        "VTALRM": SIGVTALRM, "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS
    ]

    static func parse(_ text: String) throws(SandboxError) -> Int32 {
        if let number = Int32(text), number > 0, number < 65 { return number }
        let upper = text.uppercased()
        let name = upper.hasPrefix("SIG") ? String(upper.dropFirst(3)) : upper
        guard let signal = names[name] else { throw .invalidArgument("unknown signal \(text)") }
        return signal
    }
}
