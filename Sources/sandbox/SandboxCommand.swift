import ArgumentParser

@main
struct SandboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sandbox",
        abstract: "Run untrusted programs in fresh Linux namespaces with a user-mode network gateway.",
        subcommands: [Version.self]
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() {
        print("sandbox \(sandboxVersion)")
    }
}

let sandboxVersion = "0.1.0-dev"
