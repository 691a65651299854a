// Throwaway network namespaces, and veth pairs between them, for tests and benchmarks that
// need a real Linux peer (run as root). A lab owns every namespace it made and deletes them
// all, and with them every link inside, when it goes (deinit) or when told (`removeAll`), so
// a user that holds it in a `let` or a `defer` cleans up on every path, also when its set-up
// fails half-way. `tag` and `shortTag` carry the pid and a per-process counter, so labs in
// parallel tests (and parallel runs) never meet. It shells out to `ip` and `sysctl`, which is
// fine here: this is test support, never linked by product code.

import Foundation
import Glibc
import Synchronization

public final class NamespaceLab: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// For `addNamespace(sysctls:)`: no IPv6 at all, so no router solicitations or DAD on the
    /// links (tests count frames). On `default` too, so links made later inherit it.
    public static let ipv6Off = ["net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"]

    private static let counter = Mutex(0)

    /// This lab's number in this process: 1, 2, ...
    public let number: Int
    /// "PID-N", for namespace names.
    public let tag: String
    /// "PIDxN" with the pid modulo 100000, for link names (IFNAMSIZ caps them at 15 bytes).
    public let shortTag: String
    private let namespaces = Mutex<[String]>([])

    public init() {
        number = Self.counter.withLock { value in
            value += 1
            return value
        }
        let pid = getpid()
        tag = "\(pid)-\(number)"
        shortTag = "\(pid % 100_000)x\(number)"
    }

    deinit { removeAll() }

    /// Makes namespace `name` (owned by the lab from then on), optionally with `lo` up, and
    /// sets `sysctls` ("key=value") inside it.
    public func addNamespace(_ name: String, loopbackUp: Bool = false, sysctls: [String] = []) throws {
        try Self.run(["ip", "netns", "add", name])
        namespaces.withLock { $0.append(name) }
        if loopbackUp { try Self.run(["ip", "-n", name, "link", "set", "lo", "up"]) }
        if !sysctls.isEmpty { try exec(in: name, ["sysctl", "-qw"] + sysctls) }
    }

    /// A veth pair: `link` in `namespace`, `peer` in `peerNamespace`, both down and without
    /// addresses; `mtu` on both ends (nil: the kernel's default).
    public func addVeth(_ link: String, in namespace: String, peer: String, in peerNamespace: String, mtu: Int? = nil)
        throws
    {
        let mtuArguments = mtu.map { ["mtu", "\($0)"] } ?? []
        try Self.run(
            ["ip", "-n", namespace, "link", "add", link] + mtuArguments + ["type", "veth", "peer", "name", peer]
                + mtuArguments + ["netns", peerNamespace])
    }

    /// Gives `link` in `namespace` each of `addresses` ("10.0.2.100/24"), then brings it up.
    public func bringUp(_ link: String, in namespace: String, addresses: [String] = []) throws {
        for address in addresses { try Self.run(["ip", "-n", namespace, "addr", "add", address, "dev", link]) }
        try Self.run(["ip", "-n", namespace, "link", "set", link, "up"])
    }

    /// Runs a command inside `namespace`; throws with its output when it fails.
    @discardableResult
    public func exec(in namespace: String, _ arguments: [String]) throws -> String {
        try Self.run(["ip", "netns", "exec", namespace] + arguments)
    }

    /// Deletes every namespace the lab made, and the links in them. Safe to call again, and
    /// from any thread (a signal handler's, say).
    public func removeAll() {
        let names = namespaces.withLock { names in
            defer { names.removeAll() }
            return names
        }
        for name in names { _ = try? Self.run(["ip", "netns", "del", name]) }
    }

    /// Runs a command to completion; throws with its output when it exits non-zero.
    @discardableResult
    public static func run(_ arguments: [String]) throws -> String {
        let result = try execute(arguments)
        guard result.status == 0 else {
            throw Failure(
                description: "\(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)")
        }
        return result.output
    }

    /// Runs a command to completion; returns its output (stdout and stderr) and exit status.
    public static func execute(_ arguments: [String]) throws -> (output: String, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: data, as: UTF8.self), process.terminationStatus)
    }
}
