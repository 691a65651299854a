import ArgumentParser
import Sandbox

/// What `sandbox version` and `sandbox --version` print. The version is defined here and only here.
enum BuildInfo {
    static let version = "0.1.0-dev"

    /// The Swift compiler that built this binary, to the minor version. `#if compiler` is the
    /// only compile-time source of it; the package needs tools 6.1, so the ladder starts there.
    static let swiftCompiler: String = {
        #if compiler(>=7.0)
            return "7.0 or later"
        #elseif compiler(>=6.4)
            return "6.4"
        #elseif compiler(>=6.3)
            return "6.3"
        #elseif compiler(>=6.2)
            return "6.2"
        #else
            return "6.1"
        #endif
    }()

    /// One line: `sandbox VERSION (Swift X.Y)`.
    static let versionLine = "sandbox \(version) (Swift \(swiftCompiler))"
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the version and the Swift version it was built with (as --version does).")

    @Flag(
        help:
            "As JSON: version, swift, ociVersion (the runtime-spec version the OCI commands implement). Default: one line."
    )
    var json = false

    func run() {
        if json {
            print(
                "{\"version\":\"\(BuildInfo.version)\",\"swift\":\"\(BuildInfo.swiftCompiler)\",\"ociVersion\":\"\(OCIRuntime.specVersion)\"}"
            )
        } else {
            print(BuildInfo.versionLine)
        }
    }
}

/// `sandbox completion bash|zsh|fish`: the shell completion script, from the argument parser.
struct Completion: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a shell completion script.",
        discussion: """
            bash: sandbox completion bash > /etc/bash_completion.d/sandbox
            zsh:  sandbox completion zsh > "${fpath[1]}/_sandbox"
            fish: sandbox completion fish > ~/.config/fish/completions/sandbox.fish
            """)

    @Argument(help: ArgumentHelp("The shell.", valueName: "bash|zsh|fish"))
    var shell: String

    func run() throws {
        guard let kind = CompletionShell(rawValue: shell) else {
            throw ValidationError("unknown shell \(shell): use bash, zsh or fish")
        }
        print(SandboxCommand.completionScript(for: kind))
    }
}
