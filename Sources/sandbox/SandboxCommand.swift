import ArgumentParser
import Glibc
import Posix
import Sandbox

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

            Examples:
              sandbox run -- sh -c 'id; hostname; ip addr'
              sandbox run -p 8080:80 -- busybox httpd -f -p 80
              sandbox run --allow 192.0.2.0/24:443 --deny all -- ./app
              sandbox run --net=none --memory 512m --pids-limit 100 -v "$PWD:/tmp/src:ro" -- ls /tmp/src
            """,
        version: BuildInfo.versionLine,
        subcommands: [
            Run.self, Ps.self, Exec.self, Stop.self, Rm.self, Logs.self, Update.self,
            Create.self, Start.self, State.self, Kill.self, Delete.self, List.self, Spec.self, Features.self,
            NetworkCommand.self, UsernetCommand.self, Version.self, Completion.self
        ]
    )

    static let usageErrorStatus: Int32 = 125

    static func main() {
        do {
            // `sandbox run` is parsed as a root of its own: a fifth less parsing than from the
            // top (no command tree, one completion-script check), 0.3 ms of its start-up.
            // Whatever it refuses is parsed again from the top, for the messages and exit
            // statuses the user expects.
            // The gateway's own process (GatewayProcess re-executes this binary): not a command
            // for users, and it must not parse anything before it has confined itself.
            if CommandLine.arguments.dropFirst().first == GatewayMain.subcommand { GatewayMain.run() }
            // runc's global flags (--root, --log, ...) come before the command.
            let arguments = RuntimeGlobals.extract(Array(CommandLine.arguments.dropFirst()))[...]
            if arguments.first == Supervisor.subcommand { SuperviseEntry.run(Array(arguments.dropFirst())) }
            // A named network's holder (NetworkClient starts it): not a command for users either.
            if arguments.first == NetworkHolder.subcommand { NetworkHolder.run(Array(arguments.dropFirst())) }
            if arguments.first == "run", var run = try? Run.parse(Array(arguments.dropFirst())) {
                Glibc.exit(run.execute())
            }
            var command = try parseAsRoot(Array(arguments))
            if var run = command as? Run {
                Glibc.exit(run.execute())
            }
            try command.run()
        } catch {
            // --help, --version and friends exit cleanly through ArgumentParser.
            if exitCode(for: error) == .success { exit(withError: error) }
            // A subcommand that already said why (usernet) exits with its own status, silently.
            if let exit = error as? ExitCode { Glibc.exit(exit.rawValue) }
            FileHandleStderr.write("sandbox: \(message(for: error))\n")
            Glibc.exit(usageErrorStatus)
        }
    }

    /// ArgumentParser's message without its own "Error: " (we print one prefix, `sandbox:`),
    /// and a suggestion when the first word is a misspelt subcommand.
    static func message(for error: any Error) -> String {
        var text = fullMessage(for: error)
        if text.hasPrefix("Error: ") { text.removeFirst("Error: ".count) }
        let names = configuration.subcommands.map { $0._commandName }
        if let word = CommandLine.arguments.dropFirst().first, !word.hasPrefix("-"), !names.contains(word),
            let close = names.min(by: { editDistance($0, word) < editDistance($1, word) }),
            editDistance(close, word) <= 2
        {
            return "unknown command '\(word)'; did you mean '\(close)'?\n  See 'sandbox --help' for the commands."
        }
        return text
    }

    /// Levenshtein distance, for the suggestion above (names are a few bytes long).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8), b = Array(b.utf8)
        var row = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in stride(from: 1, through: b.count, by: 1) {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return a.isEmpty ? b.count : row[b.count]
    }
}

enum FileHandleStderr {
    static func write(_ text: String) {
        try? Posix.writeAll(STDERR_FILENO, Array(text.utf8))
    }
}
