// A named network's holder: `sandbox __network ROOT NAME`, started by the first sandbox that
// joins (NetworkClient) in a session of its own, so it outlives that sandbox. It starts the
// network's gateway as one confined process (GatewayProcess with no packet socket: a switch),
// listens on the network's socket, gives each joining launcher its addresses and passes its
// packet socket on to the gateway. A member leaves when its launcher's connection closes (the
// sandbox ended, however it ended). When the last member has left, or on `network rm`, it stops
// the gateway and exits. It runs unconfined, like a detached sandbox's supervisor: it parses
// only its own launchers' requests (the socket is in a 0700 directory), never a frame.
//
// Requests, one SOCK_SEQPACKET message each, answered "ok ..." or "error WHY":
//   join NAMES FAULTS  the member's names (comma-separated, or "-") and link faults
//   link               with the member's packet socket, bound to its veth
//   publish PORT       with a listening socket: one of the member's published ports (`-p`)
//   faults FAULTS      new link faults for this member (`sandbox update`)
//   members            the members, one line each
//   counters           the gateway's counters (GatewayStatistics' line)
//   stop               `network rm --force`: the gateway stops, every member's link with it

import CLauncher
import Glibc
import Posix
import UserNet
import Wire

public enum NetworkHolder {
    public static let subcommand = "__network"
    /// What the holder and the network's gateway say (refusals, warnings), bounded as a
    /// detached sandbox's output is: `log`, and `log.1` before it (BoundedLog).
    static let logNames = [BoundedLog.fileName, BoundedLog.fileName + ".1"]
    /// Without a member for this long after it started, the holder ends.
    static let idleSeconds: Int32 = 10
    /// Launchers' connections at once (the switch takes 1024 members); more are closed at once.
    static let maximumConnections = 1024

    /// Runs the holder (arguments: the store's root, the network's name); never returns.
    public static func run(_ arguments: [String]) -> Never {
        guard arguments.count == 2 else { _exit(2) }
        // One descriptor per launcher's connection: as many as the hard limit allows.
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0 {
            files.rlim_cur = files.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
        }
        let store = NetworkStore(root: arguments[0])
        let name = arguments[1]
        let notify = SessionSpawn.notifyFD
        _ = fcntl(notify, F_SETFD, FD_CLOEXEC)
        // The gateway's process inherits stderr, so its warnings land in the same bounded log.
        let output = try? Supervisor.keepOutput(in: store.directory(name))
        let holder: Holder
        do { holder = try Holder(store: store, name: name) } catch {
            try? Posix.writeAll(notify, Array("error \(error)\n".utf8))
            _exit(1)
        }
        try? Posix.writeAll(notify, Array("ok\n".utf8))
        Posix.close(notify)
        holder.serve()
        // Every writer of the log's pipe is gone once these close (the gateway has exited).
        close(STDOUT_FILENO)
        close(STDERR_FILENO)
        output?.drain()
        _exit(0)
    }
}

/// One launcher's connection and, once it joined, its member.
private struct Connection {
    let fd: Int32
    var member: NetworkMemberSpec?
    var linked = false
}

private final class Holder {
    let store: NetworkStore
    let name: String
    let options: UserNetOptions
    let gateway: GatewayProcess
    let listener: Int32
    /// Readable when the gateway died (its death handler writes here).
    let deathPipe: [Int32]
    var connections: [Connection] = []
    var nextID: UInt32 = 1
    var stopping = false
    /// Connections closed because `maximumConnections` were open.
    var refused = 0
    var socketRemoved = false
    /// The last address given (as an offset from host .100): the next goes above it, so that an
    /// address a member just left is not at once another's.
    var lastOffset: UInt32?

    /// `maximumConnections`, within the descriptors this process may open (less its own few).
    let connectionLimit: Int

    init(store: NetworkStore, name: String) throws(SandboxError) {
        self.store = store
        self.name = name
        var files = rlimit()
        let soft = getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0 ? Int(clamping: files.rlim_cur) : 1024
        connectionLimit = max(1, min(NetworkHolder.maximumConnections, soft - 32))
        let configured = try store.load(name).options()
        do { options = try GatewayWiring.withRoutableResolvers(configured) } catch {
            throw .network("network \(name): \(error)")
        }
        var pipes: [Int32] = [-1, -1]
        guard sbx_pipe_cloexec(&pipes) == 0 else { throw .system(PosixError(call: "pipe2", errno: errno)) }
        deathPipe = pipes
        let path = store.socketPath(name)
        unlink(path)
        listener = sbx_listen_unix(path)
        guard listener >= 0 else { throw .system(PosixError(call: "listen", errno: errno), detail: path) }
        gateway = try GatewayProcess.start(
            options: options, packetSocket: nil, dispatch: NetworkStore.dispatchMode, launch: GatewayProcess.Launch())
        try gateway.waitUntilReady()
        let write = deathPipe[1]
        gateway.onDeath { _ in _ = Glibc.write(write, "x", 1) }
    }

    /// Serves until the last member left (or none came in `idleSeconds`), `stop`, or the
    /// gateway's death.
    func serve() {
        var everJoined = false
        while !stopping {
            var polled = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0)]
            polled.append(pollfd(fd: deathPipe[0], events: Int16(POLLIN), revents: 0))
            polled += connections.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let timeout = connections.isEmpty ? NetworkHolder.idleSeconds * 1000 : -1
            let ready = poll(&polled, nfds_t(polled.count), timeout)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if polled[1].revents != 0 {
                let line =
                    "network \(name): its gateway died (\(gateway.deathReason ?? "unknown")); its sandboxes are cut off\n"
                try? Posix.writeAll(2, Array(line.utf8))
                break
            }
            if polled[0].revents & Int16(POLLIN) != 0 { accept() }
            for entry in polled.dropFirst(2) where entry.revents != 0 { read(entry.fd) }
            if connections.contains(where: { $0.member != nil }) { everJoined = true }
            if connections.isEmpty, everJoined || ready == 0, endIfIdle() { break }
        }
        end()
    }

    /// Ends unless a launcher is joining: it holds the network's lock from its connect to its
    /// answer, so the lock is only tried (waiting for it would wait for an answer from us).
    func endIfIdle() -> Bool {
        guard let lock = try? store.lock(name, wait: false) else { return false }
        defer { Posix.close(lock) }
        var waiting = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
        guard poll(&waiting, 1, 0) == 0 else { return false }
        unlink(store.socketPath(name))
        socketRemoved = true
        return true
    }

    /// Stops the gateway. The socket's name goes only under the lock: once it is released, a
    /// launcher may have started this network's next holder at the same path.
    func end() {
        if !socketRemoved, let lock = try? store.lock(name, wait: false) {
            unlink(store.socketPath(name))
            Posix.close(lock)
        }
        Posix.close(listener)
        gateway.stop(untilExit: true)
        for connection in connections { Posix.close(connection.fd) }
        connections = []
    }

    func accept() {
        let fd = Glibc.accept(listener, nil, nil)
        guard fd >= 0 else { return }
        guard connections.count < connectionLimit else {
            refused += 1
            try? Posix.writeAll(
                2, Array("network \(name): refused a connection (\(refused) so far): \(connections.count) open\n".utf8))
            return Posix.close(fd)
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        connections.append(Connection(fd: fd))
    }

    func read(_ fd: Int32) {
        guard let index = connections.firstIndex(where: { $0.fd == fd }) else { return }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var received: Int32 = -1
        let count = buffer.withUnsafeMutableBytes { sbx_receive_message(fd, $0.baseAddress, $0.count, &received) }
        guard count > 0 else {
            if received >= 0 { Posix.close(received) }
            if let member = connections[index].member { gateway.leave(member.id) }
            Posix.close(fd)
            connections.remove(at: index)
            return
        }
        let request = String(decoding: buffer.prefix(count), as: UTF8.self)
        let answer = handle(request, packetSocket: received, at: index)
        if received >= 0 { Posix.close(received) }
        _ = Array(answer.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    func handle(_ request: String, packetSocket: Int32, at index: Int) -> String {
        let words = request.split(separator: " ", maxSplits: 2).map(String.init)
        switch (words.first ?? "", connections[index].member) {
        case ("join", nil) where words.count == 3:
            return join(names: words[1], faults: words[2], at: index)
        case ("link", let member?) where packetSocket >= 0 && !connections[index].linked:
            if let why = gateway.join(member, packetSocket: packetSocket) { return "error " + why }
            connections[index].linked = true
            return "ok"
        case ("publish", let member?) where packetSocket >= 0 && connections[index].linked && words.count >= 2:
            guard let port = try? PublishedPort(parsing: words.dropFirst().joined(separator: " ")) else {
                return "error malformed port"
            }
            let served = gateway.publish(port, socket: packetSocket, toMember: member.id)
            return served ? "ok" : "error the network's gateway did not take the port"
        case ("faults", let member?) where words.count == 2:
            guard let faults = LinkFaults(encoded: words[1]) else { return "error malformed faults" }
            switch gateway.setLinkFaults(faults, ofMember: member.id) {
            case true?:
                connections[index].member?.faults = faults
                return "ok"
            case false?: return "error the sandbox is not on the network's switch"
            case nil: return "error the network's gateway is gone"
            }
        case ("counters", _):
            return gateway.counters().map { "ok " + $0.line } ?? "error the network's gateway is gone"
        case ("members", _):
            // Within what the asker reads in one message (NetworkAttachment.receive).
            var lines = "ok"
            for member in connections.compactMap(\.member) where lines.utf8.count < 60_000 {
                lines += "\n" + member.description
            }
            return lines
        case ("stop", _):
            stopping = true
            return "ok"
        default:
            return "error unexpected request: \(words.first ?? "")"
        }
    }

    /// Gives the connection's sandbox the lowest free address from host .100 on.
    func join(names: String, faults: String, at index: Int) -> String {
        let dnsNames = names == "-" ? [] : names.split(separator: ",").compactMap { DNSName(String($0)) }
        guard let own = LinkFaults(encoded: faults) else { return "error malformed faults" }
        let taken = Set(connections.compactMap { $0.member?.ipv4 })
        let network = options.network
        let first = network.appV4.rawValue
        let count = (first | UInt32.max >> UInt32(network.ipv4Network.prefixLength)) - first
        let start = lastOffset.map { $0 + 1 } ?? 0
        guard
            let free = (0..<count).lazy.map({ (start + $0) % count }).first(where: {
                !taken.contains(IPv4Address(rawValue: first + $0))
            })
        else { return "error network \(name) has no free address" }
        lastOffset = free
        let v4 = IPv4Address(rawValue: first + free)
        let offset = UInt64(free)
        let v6 = IPv6Address(high: network.appV6.high, low: network.appV6.low + offset)
        let mac = MACAddress(rawValue: 0x025B_0000_0000 | UInt64(v4.rawValue))
        let member = NetworkMemberSpec(
            id: nextID, mac: mac, ipv4: v4, ipv6: v6, names: dnsNames,
            faults: own.isEmpty ? options.linkFaults : own)
        nextID += 1
        connections[index].member = member
        return "ok " + member.description
    }
}
