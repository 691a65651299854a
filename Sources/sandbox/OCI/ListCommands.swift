import ArgumentParser
import Glibc
import Sandbox
import UserNet

/// `sandbox ps`: the sandboxes (podman's ps), or with an id the processes of one (runc's ps).
struct Ps: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List sandboxes; with an ID, list that sandbox's processes (runc's ps).")

    @Flag(name: [.short, .long], help: "Also the stopped ones (without an ID).")
    var all = false

    @Option(name: [.short, .long], help: ArgumentHelp("Output format.", valueName: "table|json"))
    var format: String = "table"

    @Argument(help: "A sandbox's name or id: list its processes.")
    var id: String?

    @Argument(parsing: .captureForPassthrough, help: "ps(1) options (accepted; the table is fixed).")
    var psOptions: [String] = []

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let runtime = try RuntimeGlobals.runtime()
            if let id {
                try printProcesses(runtime, id: id)
            } else {
                printSandboxes(runtime.list().filter { all || $0.1 != .stopped })
            }
        }
    }

    private func printProcesses(_ runtime: ContainerRuntime, id: String) throws(SandboxError) {
        let (record, status) = try runtime.state(id: id)
        let pids = status == .stopped ? [] : SandboxProcesses.list(initPID: record.initPID)
        if format == "json" {
            print("[" + pids.map { String($0.pid) }.joined(separator: ",") + "]")
            return
        }
        print("PID     CMD")
        for process in pids { print(pad(String(process.pid), 8) + process.command) }
    }

    private func printSandboxes(_ entries: [(ContainerRecord, ContainerStatus)]) {
        if format == "json" {
            let items = entries.map { record, status in
                "{\"id\":\(JSONText.quoted(record.id)),\"status\":\"\(status.rawValue)\",\"pid\":\(record.pid),"
                    + "\"created\":\"\(record.created)\",\"command\":["
                    + record.command.map(JSONText.quoted).joined(separator: ",") + "],\"ports\":["
                    + record.ports.map(JSONText.quoted).joined(separator: ",") + "]"
                    + (record.exitStatus.map { ",\"exitStatus\":\($0)" } ?? "") + "}"
            }
            print("[" + items.joined(separator: ",") + "]")
            return
        }
        print(pad("NAME", 16) + pad("STATUS", 14) + pad("CREATED", 22) + pad("PORTS", 22) + "COMMAND")
        for (record, status) in entries {
            let shown = status == .stopped ? "exited (\(record.exitStatus.map(String.init) ?? "?"))" : status.rawValue
            print(
                pad(record.id, 16) + pad(shown, 14) + pad(record.created, 22)
                    + pad(record.ports.joined(separator: ","), 22) + record.command.joined(separator: " "))
        }
    }
}

/// `sandbox list`: runc's list of containers.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OCI runtime: list containers (runc's list).")

    @Option(name: [.short, .long], help: ArgumentHelp("Output format.", valueName: "table|json"))
    var format: String = "table"

    @Flag(name: [.short, .long], help: "Only the ids.")
    var quiet = false

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let entries = try RuntimeGlobals.runtime().list()
            if quiet {
                for (record, _) in entries { print(record.id) }
            } else if format == "json" {
                let states = entries.map { String(decoding: $0.0.stateJSON(status: $0.1), as: UTF8.self) }
                print("[" + states.joined(separator: ",") + "]")
            } else {
                print(pad("ID", 20) + pad("PID", 9) + pad("STATUS", 10) + pad("BUNDLE", 40) + "CREATED")
                for (record, status) in entries {
                    print(
                        pad(record.id, 20) + pad(status == .stopped ? "0" : String(record.pid), 9)
                            + pad(status.rawValue, 10) + pad(record.bundle ?? "-", 40) + record.created)
                }
            }
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}
