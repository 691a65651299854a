// A throwaway world for gateway tests, three network namespaces made by the test and removed
// on every path (deinit):
//   app   eth0 10.0.2.100/24, default route via 10.0.2.2: kernel clients run here
//         (`ip netns exec`), exactly as a sandboxed app would.
//   gw    the other end of the veth; the test opens the AF_PACKET socket there.
//   host  the "host side": lo, also holding 198.51.100.1/32 (TEST-NET-2); no uplink.
//         The gateway's thread enters it, so every host socket it opens lives here, and the
//         test's servers (UDP echo, a tiny DNS server) run here too.
// A NamespaceLab makes them, names with the pid and a counter (tests run in parallel).

import Foundation
import Glibc
import Logging
import NetstackTesting
import Synchronization
import UserNet
import Wire

final class GatewayLab: @unchecked Sendable {
    let appNamespace: String
    let gatewayNamespace: String
    let hostNamespace: String
    let gatewayLink: String
    let directory: String
    /// Owns the namespaces: they go with it, also when this initializer throws.
    private let lab: NamespaceLab
    private var openFDs: [Int32] = []

    static let hostAddress = IPv4Address(198, 51, 100, 1)

    /// `ipv6`: the app and host namespaces keep IPv6 (the app gets fd00::100/64 and learns the
    /// gateway from its router advertisements; the host side also holds 2001:db8::1).
    init(mtu: Int = 65520, ipv6: Bool = false) throws {
        let lab = NamespaceLab()
        self.lab = lab
        appNamespace = "gwt-app-\(lab.tag)"
        gatewayNamespace = "gwt-gw-\(lab.tag)"
        hostNamespace = "gwt-host-\(lab.tag)"
        gatewayLink = "gwv\(lab.shortTag)"
        directory = "/tmp/gwt-\(lab.tag)"
        for name in [appNamespace, gatewayNamespace, hostNamespace] {
            let keepsIPv6 = ipv6 && name != gatewayNamespace
            try lab.addNamespace(name, loopbackUp: true, sysctls: keepsIPv6 ? [] : NamespaceLab.ipv6Off)
        }
        try lab.addVeth("eth0", in: appNamespace, peer: gatewayLink, in: gatewayNamespace, mtu: mtu)
        try lab.bringUp("eth0", in: appNamespace, addresses: ["10.0.2.100/24"])
        try NamespaceLab.run(["ip", "-n", appNamespace, "route", "add", "default", "via", "10.0.2.2"])
        try lab.bringUp(gatewayLink, in: gatewayNamespace)
        // A host address that is not loopback (this kernel has no dummy links), alone: the
        // rest of its /24 stays unrouted.
        try NamespaceLab.run(["ip", "-n", hostNamespace, "addr", "add", "\(Self.hostAddress)/32", "dev", "lo"])
        if ipv6 {
            try NamespaceLab.run(["ip", "-n", hostNamespace, "addr", "add", "2001:db8::1/128", "dev", "lo", "nodad"])
            try NamespaceLab.run(["ip", "-n", appNamespace, "addr", "add", "fd00::100/64", "dev", "eth0", "nodad"])
        }
        try NamespaceLab.run(["mkdir", "-p", directory])
    }

    deinit {
        for fd in openFDs { close(fd) }
        _ = try? NamespaceLab.run(["rm", "-rf", directory])
    }

    /// An fd for the namespace (kept open until the lab goes).
    func namespaceFD(_ name: String) throws -> Int32 {
        let fd = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NamespaceLab.Failure(description: "open /run/netns/\(name): errno \(errno)") }
        openFDs.append(fd)
        return fd
    }

    /// Starts a gateway over the veth, its thread in the host namespace. The host namespace's
    /// 198.51.100.1 and 2001:db8::1 stand for the Internet, but they are addresses of the
    /// namespace the gateway's sockets live in, which the gateway protects as the host's own;
    /// unless `openHostAddresses` is false they are opened as a user would, with an explicit
    /// `--allow` each (appended, so the test's own rules still come first).
    func startGateway(_ options: UserNetOptions, openHostAddresses: Bool = true, logger: Logger? = nil) throws
        -> Gateway
    {
        var options = options
        if openHostAddresses {
            options.policy.rules += [
                try EgressRule.parseNetwork("\(Self.hostAddress)/32", verdict: .allow),
                try EgressRule.parseNetwork("2001:db8::1/128", verdict: .allow)
            ]
        }
        var settings = Gateway.Settings()
        settings.hostNamespaceFD = try namespaceFD(hostNamespace)
        settings.logger = logger
        return try Gateway(
            options: options, interface: gatewayLink, interfaceNamespaceFD: try namespaceFD(gatewayNamespace),
            settings: settings)
    }

    /// Sets a sysctl in the host namespace (e.g. ping_group_range).
    func hostSysctl(_ assignment: String) throws {
        try lab.exec(in: hostNamespace, ["sysctl", "-qw", assignment])
    }

    /// Runs a command in the app namespace; returns its output and exit status.
    func inApp(_ arguments: [String]) throws -> (output: String, status: Int32) {
        try NamespaceLab.execute(["ip", "netns", "exec", appNamespace] + arguments)
    }

    /// A UDP exchange from the app: sends each payload size to `address`:`port` on one
    /// connected socket and waits (`timeoutSeconds` at most) for the echo. Prints one line per size:
    /// "ok N" when the same bytes came back, or "err ERRNO-NAME".
    func appUDPExchange(_ address: String, _ port: UInt16, sizes: [Int], timeoutSeconds: Int = 5) throws -> [String] {
        let script = """
            import socket, sys, errno, os
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.IPPROTO_IP, 11, 1)  # IP_RECVERR: every ICMP error reaches recv()
            s.settimeout(int(sys.argv[4]))
            s.connect((sys.argv[1], int(sys.argv[2])))
            for n in [int(x) for x in sys.argv[3].split(',')]:
                data = os.urandom(n)
                try:
                    s.send(data)
                    back = s.recv(70000)
                    print('ok %d' % n if back == data else 'mismatch %d' % n)
                except socket.timeout:
                    print('timeout')
                except OSError as e:
                    print('err ' + errno.errorcode.get(e.errno, str(e.errno)))
            """
        let result = try inApp([
            "python3", "-c", script, address, "\(port)", sizes.map(String.init).joined(separator: ","),
            "\(timeoutSeconds)"
        ])
        return result.output.split(separator: "\n").map(String.init)
    }
}

/// Servers on the host side, on one thread inside the host namespace: UDP echo sockets and a
/// DNS server that answers A queries from a fixed table (empty answer for other names).
final class HostServers: @unchecked Sendable {
    private let stopping = Atomic<Bool>(false)
    private var thread = pthread_t()
    private var running = false
    private let namespaceFD: Int32
    private let echoAddresses: [(IPv4Address, UInt16)]
    private let dnsAddress: (IPv4Address, UInt16)
    private let dnsTable: [String: [String]]
    private let ready = Mutex<Int?>(nil)
    let dnsQueries = Atomic<Int>(0)
    let echoed = Atomic<Int>(0)

    init(namespaceFD: Int32, echo: [(IPv4Address, UInt16)], dns: (IPv4Address, UInt16), dnsTable: [String: [String]])
        throws
    {
        self.namespaceFD = namespaceFD
        echoAddresses = echo
        dnsAddress = dns
        self.dnsTable = dnsTable
        let rc = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                Unmanaged<HostServers>.fromOpaque(argument).takeUnretainedValue().serve()
                return nil
            }, Unmanaged.passUnretained(self).toOpaque())
        guard rc == 0 else { throw NamespaceLab.Failure(description: "pthread_create: \(rc)") }
        running = true
        // Wait until the sockets are bound (or failed).
        while true {
            if let count = ready.withLock({ $0 }) {
                guard count == echo.count + 1 else {
                    stop()
                    throw NamespaceLab.Failure(description: "host servers: \(count) of \(echo.count + 1) sockets bound")
                }
                break
            }
            usleep(1000)
        }
    }

    deinit { stop() }

    func stop() {
        guard running else { return }
        stopping.store(true, ordering: .releasing)
        pthread_join(thread, nil)
        running = false
    }

    private func bindUDP(_ address: IPv4Address, _ port: UInt16) -> Int32 {
        let fd = socket(AF_INET, 2 /* SOCK_DGRAM */ | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        sin.sin_addr = in_addr(s_addr: address.rawValue.bigEndian)
        let bound = withUnsafePointer(to: &sin) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    private func serve() {
        guard enterNetworkNamespace(namespaceFD) == 0 else {
            ready.withLock { $0 = 0 }
            return
        }
        var fds: [Int32] = echoAddresses.map { bindUDP($0.0, $0.1) }
        fds.append(bindUDP(dnsAddress.0, dnsAddress.1))
        defer { for fd in fds where fd >= 0 { close(fd) } }
        ready.withLock { $0 = fds.filter { $0 >= 0 }.count }
        guard fds.allSatisfy({ $0 >= 0 }) else { return }
        var pollfds = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var buffer = [UInt8](repeating: 0, count: 70_000)
        while !stopping.load(ordering: .acquiring) {
            guard poll(&pollfds, nfds_t(pollfds.count), 20) > 0 else { continue }
            for (index, entry) in pollfds.enumerated() where entry.revents & Int16(POLLIN) != 0 {
                var from = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let n = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(entry.fd, raw.baseAddress, raw.count, Int32(MSG_DONTWAIT), $0, &length)
                        }
                    }
                }
                guard n >= 0 else { continue }
                var reply: [UInt8]
                if index == fds.count - 1 {
                    dnsQueries.wrappingAdd(1, ordering: .relaxed)
                    guard let answer = dnsAnswer(Array(buffer[0..<n])) else { continue }
                    reply = answer
                } else {
                    echoed.wrappingAdd(1, ordering: .relaxed)
                    reply = Array(buffer[0..<n])
                }
                _ = reply.withUnsafeMutableBytes { raw in
                    withUnsafePointer(to: &from) { p in
                        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(entry.fd, raw.baseAddress, raw.count, 0, $0, length)
                        }
                    }
                }
            }
        }
    }

    /// Reads the query's ID and name and answers from the table.
    private func dnsAnswer(_ query: [UInt8]) -> [UInt8]? {
        guard query.count > 12 else { return nil }
        let id = UInt16(query[0]) << 8 | UInt16(query[1])
        var labels: [String] = []
        var offset = 12
        while offset < query.count, query[offset] != 0, labels.count < 64 {
            let length = Int(query[offset])
            guard length < 64, offset + 1 + length <= query.count else { return nil }
            labels.append(String(decoding: query[(offset + 1)..<(offset + 1 + length)], as: UTF8.self))
            offset += 1 + length
        }
        let name = labels.joined(separator: ".").lowercased()
        return try? DNSTestMessages.response(id: id, name: name, addresses: dnsTable[name] ?? [], ttl: 60)
    }
}

/// setns(fd, CLONE_NEWNET) for the calling thread. setns is a GNU extension the Glibc module
/// does not export (and importing CNetShims here would hide Glibc's socket constants from the
/// other test files), so it is looked up by name.
func enterNetworkNamespace(_ fd: Int32) -> Int32 {
    typealias Function = @convention(c) (Int32, Int32) -> Int32
    guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "setns") else { return -1 }
    return unsafeBitCast(symbol, to: Function.self)(fd, 0x4000_0000)
}

/// A python3 script running in a namespace until stopped (or the test ends). It must print
/// "ready" once it listens; the initializer waits for that line.
final class BackgroundScript: @unchecked Sendable {
    let process = Process()

    init(namespace: String, script: String, arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["ip", "netns", "exec", namespace, "python3", "-c", script] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        // Wait for "ready" (or the end of its output, if it failed).
        var seen = ""
        while !seen.contains("ready") {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
        }
        guard seen.contains("ready") else {
            stop()
            throw NamespaceLab.Failure(description: "background script did not start: \(seen)")
        }
    }

    func stop() {
        guard process.isRunning else { return }
        // `ip netns exec` execs python in place: this pid is the script's.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}
