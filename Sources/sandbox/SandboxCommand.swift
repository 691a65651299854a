import ArgumentParser
import Glibc

/// The CLI entry point. Argument errors exit 125 (as docker and podman do), not
/// ArgumentParser's 64, so a caller can tell "the sandbox refused" from "the app said 64".
@main
struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run untrusted programs in fresh Linux namespaces with a user-mode network gateway.",
        discussion: """
            Exit status of `sandbox run`: the program's own status; 128+N when signal N ended it; \
            125 when the sandbox could not be set up (bad arguments included); 126 when the \
            program could not be executed; 127 when it was not found.
            """,
        subcommands: [Run.self, Version.self]
    )

    static let usageErrorStatus: Int32 = 125

    static func main() {
        do {
            var command = try parseAsRoot()
            if var run = command as? Run {
                Glibc.exit(run.execute())
            }
            try command.run()
        } catch {
            // --help, --version and friends exit cleanly through ArgumentParser.
            if exitCode(for: error) == .success { exit(withError: error) }
            let message = fullMessage(for: error)
            FileHandleStderr.write("sandbox: \(message)\n")
            Glibc.exit(usageErrorStatus)
        }
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() {
        print("sandbox \(sandboxVersion)")
    }
}

let sandboxVersion = "0.1.0-dev"

enum FileHandleStderr {
    static func write(_ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress.map { $0 + offset }, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            offset += written
        }
        bytes.removeAll()
    }
}
