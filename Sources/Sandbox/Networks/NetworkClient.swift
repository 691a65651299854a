// A sandbox's side of a named network (`sandbox run --network NAME`): the launcher joins
// before it writes the sandbox's network files (it needs the addresses the holder gives), and
// links its veth's packet socket once the veth exists. The connection to the holder stays open
// for the sandbox's life: its end, however the launcher ends, is the member leaving.

import CLauncher
import Glibc
import Posix
import UserNet

/// `--network NAME --name N --network-alias A`: what a sandbox asks of a named network.
public struct NetworkMembership: Sendable, Equatable {
    public var network: String
    /// `--name` and the aliases: what the network's DNS answers with the sandbox's addresses.
    public var names: [String]
    /// `--net-delay` and the others on this sandbox's own link (none: the network's).
    public var linkFaults = LinkFaults()
    /// `-p`: published on the host (from the launcher's network namespace) to this sandbox.
    public var publishedPorts: [PublishedPort] = []

    public init(
        network: String, names: [String], linkFaults: LinkFaults = LinkFaults(), publishedPorts: [PublishedPort] = []
    ) {
        self.network = network
        self.names = names
        self.linkFaults = linkFaults
        self.publishedPorts = publishedPorts
    }
}

public final class NetworkAttachment: Sendable {
    public let definition: NetworkDefinition
    public let member: NetworkMemberSpec
    private let connection: Int32

    private init(definition: NetworkDefinition, member: NetworkMemberSpec, connection: Int32) {
        self.definition = definition
        self.member = member
        self.connection = connection
    }

    deinit { Posix.close(connection) }

    /// Joins `membership.network`, starting its holder (and gateway) if no sandbox is on it.
    static func join(_ membership: NetworkMembership, executable: String) throws(SandboxError) -> NetworkAttachment {
        let store = try NetworkStore()
        let definition = try store.load(membership.network)
        let lock = try store.lock(definition.name)
        defer { Posix.close(lock) }
        var connection = sbx_connect_unix(store.socketPath(definition.name))
        if connection < 0 {
            try startHolder(store: store, name: definition.name, executable: executable)
            connection = sbx_connect_unix(store.socketPath(definition.name))
        }
        guard connection >= 0 else {
            throw .system(PosixError(call: "connect", errno: errno), detail: "(network \(definition.name)'s holder)")
        }
        let names = membership.names.isEmpty ? "-" : membership.names.joined(separator: ",")
        let answer: String
        do { answer = try ask("join \(names) \(membership.linkFaults)", on: connection) } catch {
            Posix.close(connection)
            throw error
        }
        guard let member = NetworkMemberSpec(encoded: answer) else {
            Posix.close(connection)
            throw .network("network \(definition.name): unexpected answer to join: \(answer)")
        }
        return NetworkAttachment(definition: definition, member: member, connection: connection)
    }

    private static func startHolder(store: NetworkStore, name: String, executable: String) throws(SandboxError) {
        var notify: [Int32] = [-1, -1]
        guard sbx_pipe_cloexec(&notify) == 0 else { throw .system(PosixError(call: "pipe2", errno: errno)) }
        defer { Posix.close(notify[0]) }
        let pid: pid_t
        do {
            pid = try SessionSpawn.spawn(
                [executable, NetworkHolder.subcommand, store.root, name], notifyFD: notify[1], stdio: .null)
        } catch {
            Posix.close(notify[1])
            throw error
        }
        Posix.close(notify[1])
        let message = SessionSpawn.readLine(notify[0])
        guard message == "ok" else {
            _ = Launcher.wait(for: pid)
            let why = message.hasPrefix("error ") ? String(message.dropFirst(6)) : "it ended before it was ready"
            throw .network("network \(name): its gateway did not start: \(why)")
        }
        // It outlives this launcher as a rule; should it end first (`network rm --force`), it
        // is reaped in the background rather than left a zombie for the launcher's life.
        _ = startDetachedThread { _ = Launcher.wait(for: pid) }
    }

    /// Hands the member's packet socket (bound to its veth) to the network's gateway.
    func link(packetSocket: Int32) throws(SandboxError) {
        let answer = try Self.exchange("link", with: packetSocket, on: connection)
        guard answer == "ok" else { throw .network("network \(definition.name): \(answer)") }
    }

    /// Publishes `ports` to this sandbox (once linked): each socket is opened here, with the
    /// launcher's privileges and in its namespace, and handed to the network's gateway. Returns
    /// them with the host port each is bound to (the kernel's pick where none was given).
    func publish(_ ports: [PublishedPort]) throws(SandboxError) -> [PublishedPort] {
        var bound: [PublishedPort] = []
        for port in ports {
            let socket: Int32
            do { socket = try PortPublisher.openSocket(for: port) } catch {
                throw .network(GatewayError.publish(port, error).description)
            }
            defer { Posix.close(socket) }
            let actual = port.bound(to: socket)
            let answer = try Self.exchange("publish \(actual)", with: socket, on: connection)
            guard answer == "ok" else { throw .network("-p \(port): \(answer)") }
            bound.append(actual)
        }
        return bound
    }

    /// Replaces this sandbox's link faults (`sandbox update`): true once taken; nil if the
    /// network's gateway is gone.
    public func setLinkFaults(_ faults: LinkFaults) -> Bool? {
        guard let answer = try? Self.ask("faults \(faults)", on: connection) else { return nil }
        return answer.isEmpty ? true : nil
    }

    /// Sends `request`; the text after "ok " of the answer, or throws its "error WHY".
    static func ask(_ request: String, on connection: Int32) throws(SandboxError) -> String {
        let answer = try exchange(request, on: connection)
        if answer == "ok" { return "" }
        guard answer.hasPrefix("ok ") || answer.hasPrefix("ok\n") else { throw .network(answer) }
        return String(answer.dropFirst(3))
    }

    /// Sends `request` (with `descriptor`, SCM_RIGHTS, when given) and returns the answer as sent.
    private static func exchange(_ request: String, with descriptor: Int32? = nil, on connection: Int32)
        throws(SandboxError) -> String
    {
        let bytes = Array(request.utf8)
        let sent = bytes.withUnsafeBytes { raw in
            if let descriptor { return sbx_send_fd_with_data(connection, descriptor, raw.baseAddress, raw.count) == 0 }
            return send(connection, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) == raw.count
        }
        guard sent else { throw .system(PosixError(call: "sendmsg", errno: errno), detail: "(network holder)") }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
        guard count > 0 else {
            throw .system(PosixError(call: "recv", errno: count == 0 ? EPIPE : errno), detail: "(network holder)")
        }
        return String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}

extension NetworkStore {
    /// The answer of network `name`'s holder to `request` ("members", "stop"); nil when no
    /// holder runs (no sandbox is on the network).
    public func ask(_ name: String, _ request: String) throws(SandboxError) -> String? {
        let connection = sbx_connect_unix(socketPath(name))
        guard connection >= 0 else { return nil }
        defer { Posix.close(connection) }
        return try NetworkAttachment.ask(request, on: connection)
    }

    /// The members now on network `name` (none when no holder runs).
    public func members(_ name: String) throws(SandboxError) -> [NetworkMemberSpec] {
        let answer = try ask(name, "members") ?? ""
        return answer.split(separator: "\n").compactMap { NetworkMemberSpec(encoded: String($0)) }
    }

    /// The counters of network `name`'s gateway (`name=value` pairs); nil when none runs.
    public func counters(_ name: String) throws(SandboxError) -> [String: UInt64]? {
        guard let line = try ask(name, "counters") else { return nil }
        var out: [String: UInt64] = [:]
        for pair in line.split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = UInt64(parts[1]) { out[String(parts[0])] = value }
        }
        return out
    }

    /// `network rm`: under the network's lock (no sandbox joins meanwhile), refuses a network
    /// with sandboxes on it unless `force`; otherwise its holder stops the gateway (every
    /// member's link goes with it) and ends (waited for up to 10 s), and the definition goes.
    public func remove(_ name: String, force: Bool) throws(SandboxError) {
        _ = try load(name)
        let lock = try self.lock(name)
        defer { Posix.close(lock) }
        let members = try self.members(name)
        if !members.isEmpty, !force {
            throw .invalidArgument("network \(name) has \(members.count) sandbox(es) on it: stop them, or give --force")
        }
        if try ask(name, "stop") != nil {
            for _ in 0..<1000 {
                let probe = sbx_connect_unix(socketPath(name))
                guard probe >= 0 else { break }
                Posix.close(probe)
                usleep(10_000)
            }
        }
        try remove(name)
    }
}
