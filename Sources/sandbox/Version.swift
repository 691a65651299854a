import ArgumentParser

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

    func run() {
        print(BuildInfo.versionLine)
    }
}
