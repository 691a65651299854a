import ArgumentParser
import Glibc
import Posix
import Sandbox
import UserNet

/// runc's global flags, which engines put before the command (`runc --root R --log F
/// --log-format json create ...`). They are taken off the command line before parsing, so
/// every command sees them wherever they were given.
///
/// - `--root DIR`: the state root (default /run/sandbox/containers, or under $XDG_RUNTIME_DIR).
/// - `--log FILE`, `--log-format text|json`: errors are also appended there, as one line each
///   (containerd's shim reads the last error from the JSON log).
/// - `--debug`: accepted; the messages are the same.
/// - `--systemd-cgroup`: accepted; the sandbox's cgroups are its own cgroupfs directories
///   whatever the engine's manager (cgroupsPath is not used).
/// - `--rootless VALUE`, `--criu PATH`: accepted and ignored (no checkpointing here).
enum RuntimeGlobals {
    nonisolated(unsafe) static var root: String?
    nonisolated(unsafe) static var logFile: String?
    nonisolated(unsafe) static var logFormat = "text"

    static let withValue: Set<String> = ["--root", "--log", "--log-format", "--rootless", "--criu"]
    static let flags: Set<String> = ["--debug", "--systemd-cgroup"]

    /// Removes the global flags before the first command word and records their values.
    static func extract(_ arguments: [String]) -> [String] {
        var rest: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let word = arguments[index]
            let name = word.split(separator: "=", maxSplits: 1).first.map(String.init) ?? word
            if flags.contains(word) {
                index += 1
                continue
            }
            guard withValue.contains(name) else { break }
            let value: String?
            if word.contains("=") {
                value = String(word.drop(while: { $0 != "=" }).dropFirst())
                index += 1
            } else {
                value = index + 1 < arguments.endIndex ? arguments[index + 1] : nil
                index += 2
            }
            switch name {
            case "--root": root = value
            case "--log": logFile = value
            case "--log-format": logFormat = value ?? "text"
            default: break
            }
        }
        rest += arguments[min(index, arguments.endIndex)...]
        return rest
    }

    static func store() throws(SandboxError) -> ContainerStore { try ContainerStore(root: root) }

    static func runtime() throws(SandboxError) -> ContainerRuntime { ContainerRuntime(store: try store()) }

    /// Says `message` on stderr and in the --log file, if one was given.
    static func report(_ message: String) {
        FileHandleStderr.write("sandbox: \(message)\n")
        guard let logFile else { return }
        let line =
            logFormat == "json"
            ? "{\"level\":\"error\",\"msg\":\(JSONText.quoted(message)),\"time\":\"\(ContainerRuntime.timestamp())\"}\n"
            : "time=\"\(ContainerRuntime.timestamp())\" level=error msg=\(JSONText.quoted(message))\n"
        let fd = open(logFile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        try? Posix.writeAll(fd, Array(line.utf8))
        close(fd)
    }

}

/// Runs one runtime command's body: its error is reported (stderr and --log) and exits 1, as
/// runc's do.
func runtimeCommand(_ body: () throws(SandboxError) -> Void) throws {
    do { try body() } catch {
        RuntimeGlobals.report(error.description)
        throw ExitCode(1)
    }
}
