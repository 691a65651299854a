import ArgumentParser
import Glibc
import Sandbox

/// `sandbox spec`: a default config.json, as runc spec writes one.
struct Spec: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "OCI runtime: write a default config.json into the bundle.")

    @Option(name: [.short, .long], help: ArgumentHelp("Where to write it.", valueName: "DIR"))
    var bundle: String = "."

    @Flag(help: "Accepted (runc's): the default already runs without privileges.")
    var rootless = false

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let path = bundle + "/config.json"
            guard !FileExists.at(path) else { throw .invalidArgument("\(path) already exists") }
            try OCIDefaults.writeSpec(to: path)
        }
    }
}

/// `sandbox features`: what this runtime supports (runtime-spec features.md).
struct Features: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "OCI runtime: print the supported features (JSON).")

    func run() {
        print(OCIDefaults.featuresJSON())
    }
}

enum FileExists {
    static func at(_ path: String) -> Bool {
        var status = stat()
        return stat(path, &status) == 0
    }
}
