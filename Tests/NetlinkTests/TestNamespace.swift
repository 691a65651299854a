import Foundation
import Synchronization

/// Names unique across parallel tests and concurrent test runs: prefix, pid, counter.
private let nameCounter = Atomic<Int>(0)
func uniqueName(_ prefix: String) -> String {
    let n = nameCounter.add(1, ordering: .relaxed).newValue
    // Interface names are at most 15 bytes: keep prefix short, pid and counter in base 36.
    return prefix + String(getpid(), radix: 36) + "x" + String(n, radix: 36)
}

struct CommandFailure: Error, CustomStringConvertible {
    let command: [String]
    let status: Int32
    let output: String
    var description: String { "\(command.joined(separator: " ")) exited \(status): \(output)" }
}

/// Runs a command (tests only: the product never shells out), returns stdout.
/// Output goes through temporary files, not pipes: tests run in parallel and a child spawned
/// by another test could inherit a pipe's write end and hold its EOF back.
@discardableResult
func run(_ arguments: [String]) throws -> String {
    let directory = FileManager.default.temporaryDirectory
    let outURL = directory.appendingPathComponent(uniqueName("out")),
        errURL = directory.appendingPathComponent(uniqueName("err"))
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    defer {
        try? FileManager.default.removeItem(at: outURL)
        try? FileManager.default.removeItem(at: errURL)
    }
    let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
    defer {
        try? out.close()
        try? err.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    let data = (try? Data(contentsOf: outURL)) ?? Data()
    guard process.terminationStatus == 0 else {
        let errors = (try? Data(contentsOf: errURL)) ?? Data()
        throw CommandFailure(
            command: arguments, status: process.terminationStatus,
            output: String(decoding: errors, as: UTF8.self))
    }
    return String(decoding: data, as: UTF8.self)
}

/// `ip -j ...` output as JSON objects.
func ipJSON(_ arguments: [String]) throws -> [[String: Any]] {
    let text = try run(["ip", "-j"] + arguments)
    guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return value as? [[String: Any]] ?? []
}

/// A named throwaway network namespace (`ip netns add`), removed by `remove()`; callers
/// `defer` it right after creation so every path removes it. Deleting the namespace deletes
/// every link inside it.
struct TestNamespace {
    let name: String
    var path: String { "/run/netns/\(name)" }

    init() throws {
        name = uniqueName("nlt")
        try run(["ip", "netns", "add", name])
    }

    func remove() {
        _ = try? run(["ip", "netns", "delete", name])
    }

    /// Names of the links in this namespace.
    func linkNames() throws -> [String] {
        try ipJSON(["-n", name, "link", "show"]).compactMap { $0["ifname"] as? String }
    }
}

/// A process parked in a namespace (for IFLA_NET_NS_PID), killed and reaped by `stop()`.
/// Spawned with posix_spawn directly so the pid is known and the reaping is ours.
final class ParkedProcess {
    let pid: pid_t

    init(in namespace: TestNamespace) throws {
        // `ip netns exec` setns()es and then execs sleep in the same process, so pid is sleep's.
        let arguments = ["/usr/sbin/ip", "netns", "exec", namespace.name, "/bin/sleep", "120"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, arguments[0], nil, nil, &argv, environ)
        guard status == 0 else { throw CommandFailure(command: arguments, status: status, output: "posix_spawn") }
        pid = child
    }

    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
