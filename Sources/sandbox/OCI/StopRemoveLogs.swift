import ArgumentParser
import Glibc
import Sandbox

/// `sandbox stop`: SIGTERM, then SIGKILL after the timeout, as podman stop.
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop running sandboxes (TERM, then KILL after the timeout).")

    @Option(
        name: [.short, .customLong("time")], help: ArgumentHelp("Seconds to wait before KILL.", valueName: "SECONDS"))
    var timeout: Int = 10

    @Argument(help: "Sandbox names or ids.")
    var ids: [String]

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            guard (0...86_400).contains(timeout) else {
                throw .invalidArgument("bad -t \(timeout): use 0 to 86400 seconds")
            }
            let runtime = try RuntimeGlobals.runtime()
            for id in ids {
                try runtime.stop(id: id, timeout: timeout)
                print(id)
            }
        }
    }
}

/// `sandbox rm`: removes stopped sandboxes (`-f`: running ones too, killed first).
struct Rm: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove sandboxes (-f: kill running ones first).")

    @Flag(name: [.short, .long], help: "Kill a running sandbox first.")
    var force = false

    @Argument(help: "Sandbox names or ids.")
    var ids: [String]

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let runtime = try RuntimeGlobals.runtime()
            for id in ids {
                try runtime.delete(id: id, force: force)
                print(id)
            }
        }
    }
}

/// `sandbox logs`: a detached sandbox's kept output.
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a detached sandbox's output (the last 1-2 MiB are kept).")

    @Flag(name: [.short, .long], help: "Keep printing what it writes until it stops.")
    var follow = false

    @Argument(help: "The sandbox's name or id.")
    var id: String

    func run() throws {
        try runtimeCommand { () throws(SandboxError) in
            let runtime = try RuntimeGlobals.runtime()
            _ = try runtime.state(id: id)
            let directory = runtime.store.directory(id)
            var follower = LogFollower(path: directory + "/" + BoundedLog.fileName)
            follower.printRotated()
            follower.printNew()
            while follow, (try? runtime.state(id: id).1) != .stopped {
                usleep(100_000)
                follower.printNew()
            }
            follower.printNew()
        }
    }
}

/// Reads a `BoundedLog` as it grows, across a rotation.
struct LogFollower {
    let path: String
    var offset: Int = 0
    var inode: UInt = 0

    /// The rotated part, once, before the current file.
    mutating func printRotated() {
        _ = copy(path + ".1", from: 0)
    }

    mutating func printNew() {
        var status = stat()
        guard stat(path, &status) == 0 else { return }
        if inode != 0, UInt(status.st_ino) != inode { offset = 0 } // rotated: the new file from its start
        inode = UInt(status.st_ino)
        offset = copy(path, from: offset)
    }

    /// Writes `path` from `start` to stdout; returns the offset reached.
    private func copy(_ path: String, from start: Int) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return start }
        defer { close(fd) }
        var position = start
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
            guard count > 0 else { break }
            _ = buffer.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, count) }
            position += count
        }
        return position
    }
}
