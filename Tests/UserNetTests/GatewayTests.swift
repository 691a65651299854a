// The gateway end to end (see GatewayLab): kernel clients in the app namespace, the gateway on
// the veth, servers on the host side. Each test builds its own namespaces and removes them.

import Foundation
import Glibc
import NetstackTesting
import TestPrivileges
import Testing
import UserNet
import Wire

@Suite(.serialized, .tags(.root), .needsRoot) struct GatewayEndToEndTests {
    static let echoPort: UInt16 = 7777
    static let loopbackEchoPort: UInt16 = 7778
    static let dnsPort: UInt16 = 5353

    /// Servers: UDP echo on 198.51.100.1:7777 and 127.0.0.1:7778, DNS on 127.0.0.1:5353.
    func servers(_ lab: GatewayLab) throws -> HostServers {
        try HostServers(
            namespaceFD: try lab.namespaceFD(lab.hostNamespace),
            echo: [(GatewayLab.hostAddress, Self.echoPort), (IPv4Address(127, 0, 0, 1), Self.loopbackEchoPort)],
            dns: (IPv4Address(127, 0, 0, 1), Self.dnsPort),
            dnsTable: ["allowed.test": ["198.51.100.1"], "other.test": ["198.51.100.7"]])
    }

    func logLines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test func udpEchoDNSPingAndPcapThroughTheGateway() throws {
        let lab = try GatewayLab()
        let servers = try servers(lab)
        defer { servers.stop() }
        try lab.hostSysctl("net.ipv4.ping_group_range=0 2147483647")
        let pcapPath = lab.directory + "/gw.pcap"
        let logPath = lab.directory + "/connections.jsonl"
        let options = try UserNetOptions(dns: ["127.0.0.1:\(Self.dnsPort)"], pcap: pcapPath, logConnections: logPath)
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        // UDP echo, from 1 byte to a datagram the size of the MTU and beyond (fragmented).
        let sizes = [1, 1400, 9000, 65000]
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: sizes) == sizes.map { "ok \($0)" })

        // DNS through the forwarder on 10.0.2.3, answered by the host's (tiny) resolver.
        let dig = try lab.inApp(["dig", "+short", "+tries=1", "+time=5", "@10.0.2.3", "allowed.test", "A"])
        #expect(dig.status == 0)
        #expect(dig.output.trimmingCharacters(in: .whitespacesAndNewlines) == "198.51.100.1")

        // Ping the gateway (answered by the stack) and a host-side address (a real echo through
        // a ping socket: the host's kernel answers).
        let pingGateway = try lab.inApp(["ping", "-c", "3", "-i", "0.2", "-W", "5", "10.0.2.2"])
        #expect(pingGateway.status == 0 && pingGateway.output.contains("3 received"))
        let pingHost = try lab.inApp(["ping", "-c", "3", "-i", "0.2", "-W", "5", "198.51.100.1"])
        #expect(pingHost.status == 0 && pingHost.output.contains("3 received"))

        let counters = try #require(gateway.counters())
        #expect(counters.udpDatagramsFromApp == UInt64(sizes.count))
        #expect(counters.udpDatagramsToApp == UInt64(sizes.count))
        #expect(counters.dns.answers == 1)
        #expect(counters.echoRequestsForwarded == 3 && counters.echoRepliesToApp == 3)
        #expect(counters.ping.opened == 1)
        #expect(servers.echoed.load(ordering: .relaxed) == sizes.count)

        let final = try #require(gateway.stop())
        // Every frame crossed the tap: what the stack received and sent is what the file holds,
        // and tshark reads the same number.
        #expect(final.pcapFrames == final.nic.rxFrames + final.nic.txFrames)
        #expect(final.pcapDropped == 0)
        let tshark = try NamespaceLab.run(["tshark", "-r", pcapPath, "-T", "fields", "-e", "frame.number"])
        // (tshark's stderr, merged in, may carry a "running as root" note: count frame numbers.)
        let frameNumbers = tshark.split(separator: "\n").filter { UInt64($0) != nil }
        #expect(UInt64(frameNumbers.count) == final.pcapFrames)
        #expect(final.pcapFrames > 0)

        // The connection log has the UDP flow and the echo flow, with bytes both ways.
        let lines = logLines(logPath)
        let udp = try #require(lines.first { $0.contains("\"protocol\":\"udp\"") && $0.contains("198.51.100.1:7777") })
        let payloadBytes = sizes.reduce(0, +)
        #expect(udp.contains("\"verdict\":\"allow\""))
        #expect(udp.contains("\"bytes_from_app\":\(payloadBytes),\"bytes_to_app\":\(payloadBytes)"))
        #expect(lines.contains { $0.contains("\"protocol\":\"icmp\"") && $0.contains("\"verdict\":\"allow\"") })
    }

    /// A burst of datagrams from the app, sent one by one, reaches the host intact, the shorter
    /// last one too. (Their echoes may come back in another order: the host side's replies race
    /// the stack's resolution of the app's address, so order is not asserted. How many rounds
    /// the burst takes, and so how many batched sends, depends on the scheduler.)
    @Test func aBurstOfDatagramsArrivesIntact() throws {
        let counters = try echoDatagrams(
            sending: """
                for i, n in enumerate(sizes):
                    s.send(bytes([i]) * n)
                """)
        #expect(counters.udpDatagramsFromApp == 51)
    }

    /// An app's UDP GSO send (UDP_SEGMENT, as QUIC stacks use) reaches the gateway as one
    /// super-datagram; it leaves as the 51 datagrams it stands for, in one batched send.
    @Test func anAppsUDPSegmentSendLeavesAsItsDatagramsInOneBatchedSend() throws {
        let counters = try echoDatagrams(
            sending: """
                s.setsockopt(socket.IPPROTO_UDP, 103, 1200)  # UDP_SEGMENT
                s.send(b"".join(bytes([i]) * n for i, n in enumerate(sizes)))
                """)
        #expect(counters.udpDatagramsFromApp == 51)
        #expect(counters.udpBatchedSends == 1)
    }

    /// Sends 50 datagrams of 1,200 bytes and one of 700, each filled with its index, to the
    /// echo server as `sending` says, and checks every echo is intact.
    private func echoDatagrams(sending: String) throws -> GatewayCounters {
        let lab = try GatewayLab()
        let servers = try servers(lab)
        defer { servers.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:\(Self.dnsPort)"]))
        defer { gateway.stop() }
        let script = """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(5)
            s.connect(("198.51.100.1", \(Self.echoPort)))
            sizes = [1200] * 50 + [700]
            \(sending)
            got = [(d[0], len(d), d == bytes([d[0]]) * len(d)) for d in (s.recv(70000) for _ in sizes)]
            print("ok" if sorted(got) == [(i, n, True) for i, n in enumerate(sizes)] else "bad %r" % got[:8])
            """
        let result = try lab.inApp(["python3", "-c", script])
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        return try #require(gateway.counters())
    }

    @Test func refusalsAreImmediateAndLogged() throws {
        let lab = try GatewayLab()
        let servers = try servers(lab)
        defer { servers.stop() }
        // ping_group_range closed (the default of a fresh namespace made explicit).
        try lab.hostSysctl("net.ipv4.ping_group_range=1 0")
        let logPath = lab.directory + "/connections.jsonl"
        let options = try UserNetOptions(
            dns: ["127.0.0.1:\(Self.dnsPort)"],
            policyArguments: [(flag: "--deny", value: "198.51.100.0/24:7777")],
            logConnections: logPath)
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        // A denied destination: ICMP administratively prohibited at once (EHOSTUNREACH).
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: [10]) == ["err EHOSTUNREACH"])
        // Link-local (cloud metadata) is blocked by default.
        #expect(try lab.appUDPExchange("169.254.169.254", 80, sizes: [10]) == ["err EHOSTUNREACH"])
        // Host loopback, through the gateway address, is closed without --allow-host-loopback.
        #expect(try lab.appUDPExchange("10.0.2.2", Self.loopbackEchoPort, sizes: [10]) == ["err EHOSTUNREACH"])
        // An allowed port where nothing listens: the host's port unreachable comes back to the
        // app as its own ECONNREFUSED.
        #expect(try lab.appUDPExchange("198.51.100.1", 9, sizes: [10, 10]).contains("err ECONNREFUSED"))
        // No route on the host: network unreachable.
        #expect(try lab.appUDPExchange("203.0.113.1", 53, sizes: [10]) == ["err ENETUNREACH"])
        // Ping sockets forbidden: counted, and the app gets no reply (never a fake one).
        let ping = try lab.inApp(["ping", "-c", "2", "-i", "0.2", "-W", "1", "198.51.100.1"])
        #expect(ping.status != 0 && ping.output.contains("0 received"))

        let counters = try #require(gateway.counters())
        #expect(counters.flowsDenied == 3)
        #expect(counters.hostErrorsReflected >= 1)
        #expect(counters.ping.forbidden >= 1 && counters.echoRepliesToApp == 0)
        #expect(servers.echoed.load(ordering: .relaxed) == 0)
        gateway.stop()

        let lines = logLines(logPath)
        #expect(
            lines.contains {
                $0.contains("198.51.100.1:7777") && $0.contains("\"verdict\":\"deny\"")
                    && $0.contains("policy rule 1")
            })
        #expect(lines.contains { $0.contains("169.254.169.254:80") && $0.contains("\"reason\":\"metadata-service\"") })
        #expect(lines.contains { $0.contains("10.0.2.2:7778") && $0.contains("\"reason\":\"host-loopback-disabled\"") })
    }

    /// The host namespace's own addresses are the host's services: closed like its loopback
    /// (read from the namespace the gateway's sockets use), opened by --allow-host-loopback.
    @Test func theHostsOwnAddressesAreClosedByDefault() throws {
        let lab = try GatewayLab()
        let servers = try servers(lab)
        defer { servers.stop() }
        let logPath = lab.directory + "/connections.jsonl"
        let gateway = try lab.startGateway(
            try UserNetOptions(dns: ["127.0.0.1:\(Self.dnsPort)"], logConnections: logPath),
            openHostAddresses: false)
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: [10]) == ["err EHOSTUNREACH"])
        gateway.stop()
        #expect(
            logLines(logPath).contains {
                $0.contains("198.51.100.1:\(Self.echoPort)") && $0.contains("\"reason\":\"host-address\"")
            })
        let opened = try lab.startGateway(
            try UserNetOptions(allowHostLoopback: true, dns: ["127.0.0.1:\(Self.dnsPort)"]),
            openHostAddresses: false)
        defer { opened.stop() }
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: [10]) == ["ok 10"])
    }

    @Test func hostLoopbackAndAllowDomainWhenAllowed() throws {
        let lab = try GatewayLab()
        let servers = try servers(lab)
        defer { servers.stop() }
        // Only what allowed.test resolves to, then nothing else.
        let options = try UserNetOptions(
            allowHostLoopback: true, dns: ["127.0.0.1:\(Self.dnsPort)"],
            policyArguments: [
                (flag: "--allow-domain", value: "allowed.test"),
                (flag: "--deny", value: "0.0.0.0/0")
            ])
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        // 10.0.2.2 maps to the host's 127.0.0.1 with --allow-host-loopback... but the policy
        // denies everything not learned, loopback included.
        #expect(try lab.appUDPExchange("10.0.2.2", Self.loopbackEchoPort, sizes: [10]) == ["err EHOSTUNREACH"])
        // Before resolving, the allowed name's address is denied like any other.
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: [10]) == ["err EHOSTUNREACH"])
        let dig = try lab.inApp(["dig", "+short", "+tries=1", "+time=5", "@10.0.2.3", "allowed.test", "A"])
        #expect(dig.output.trimmingCharacters(in: .whitespacesAndNewlines) == "198.51.100.1")
        // Resolved through the forwarder: now admitted. A name not covered stays denied.
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: [100]) == ["ok 100"])
        _ = try lab.inApp(["dig", "+short", "+tries=1", "+time=5", "@10.0.2.3", "other.test", "A"])
        #expect(try lab.appUDPExchange("198.51.100.7", Self.echoPort, sizes: [10]) == ["err EHOSTUNREACH"])
        let counters = try #require(gateway.counters())
        #expect(counters.learnedAddresses == 1)
        gateway.stop()

        // Without a policy, --allow-host-loopback reaches the host's loopback via 10.0.2.2.
        let open = try UserNetOptions(allowHostLoopback: true, dns: ["127.0.0.1:\(Self.dnsPort)"])
        let second = try lab.startGateway(open)
        defer { second.stop() }
        #expect(try lab.appUDPExchange("10.0.2.2", Self.loopbackEchoPort, sizes: [1, 500]) == ["ok 1", "ok 500"])
    }

    @Test func udpFlowsExpireWhenIdleAndTheFlowLimitRefusesOnlyNewFlows() throws {
        let lab = try GatewayLab()
        let servers = try servers(lab)
        defer { servers.stop() }
        let logPath = lab.directory + "/connections.jsonl"
        let options = try UserNetOptions(
            dns: ["127.0.0.1:\(Self.dnsPort)"], logConnections: logPath,
            udpTimeoutSeconds: 1, maxFlows: 1)
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        // A long-lived app socket holds the only flow; a second flow is refused (silently, no
        // reply), and the first keeps working (well within its 1 s idle timeout).
        let script = """
            import socket, sys
            a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.settimeout(5)
            a.connect(('198.51.100.1', 7777))
            a.send(b'first'); print(a.recv(100).decode())
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.settimeout(0.3)
            b.connect(('198.51.100.1', 7777))
            b.send(b'second')
            try:
                print(b.recv(100).decode())
            except socket.timeout:
                print('no reply')
            a.send(b'again'); print(a.recv(100).decode())
            """
        let output = try lab.inApp(["python3", "-c", script]).output
        #expect(output.split(separator: "\n").map(String.init) == ["first", "no reply", "again"])
        var counters = try #require(gateway.counters())
        #expect(counters.flowsRefusedAtLimit == 1)
        #expect(counters.activeFlows == 1)

        // Idle for the 1 s timeout: the flow goes (checked by the once-a-second sweep).
        for _ in 0..<100 where counters.activeFlows > 0 {
            usleep(100_000)
            counters = try #require(gateway.counters())
        }
        #expect(counters.flows.expired == 1)
        #expect(counters.activeFlows == 0)
        // And a new flow may open again.
        #expect(try lab.appUDPExchange("198.51.100.1", Self.echoPort, sizes: [3]) == ["ok 3"])
        gateway.stop()
        let lines = logLines(logPath)
        #expect(lines.contains { $0.contains("\"reason\":\"flow-limit\"") })
        #expect(lines.contains { $0.contains("\"bytes_from_app\":10,\"bytes_to_app\":10") })
    }

    @Test func startingOnAMissingInterfaceFailsWithTheCallThatFailed() throws {
        let options = try UserNetOptions(dns: ["127.0.0.1:53"])
        do {
            _ = try Gateway(options: options, interface: "gwt-missing0")
            Issue.record("a gateway started on an interface that does not exist")
        } catch {
            guard case .system(let failure) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(failure.call.hasPrefix("if_nametoindex"))
        }
    }

    @Test func ipv6UDPTCPDNSAndPingThroughTheGateway() throws {
        let lab = try GatewayLab(ipv6: true)
        let servers = try servers(lab)
        defer { servers.stop() }
        try lab.hostSysctl("net.ipv4.ping_group_range=0 2147483647")
        let echo = try BackgroundScript(
            namespace: lab.hostNamespace,
            script: """
                import socket, threading
                u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.bind(('2001:db8::1', 7777))
                def udp():
                    while True:
                        data, peer = u.recvfrom(70000); u.sendto(data, peer)
                threading.Thread(target=udp, daemon=True).start()
                t = socket.socket(socket.AF_INET6); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                t.bind(('2001:db8::1', 9002)); t.listen(16)
                def serve(c):
                    while True:
                        b = c.recv(65536)
                        if not b: break
                        c.sendall(b)
                    c.close()
                print('ready', flush=True)
                while True:
                    c, _ = t.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
                """, arguments: [])
        defer { echo.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:\(Self.dnsPort)"]))
        defer { gateway.stop() }
        // The app's route to the world: learned from the gateway's router advertisements.
        var route = ""
        for _ in 0..<100 where !route.contains("default") {
            route = (try? lab.inApp(["ip", "-6", "route", "show", "default"]).output) ?? ""
            if !route.contains("default") { usleep(100_000) }
        }
        #expect(route.contains("default via fe80::"))

        let client = """
            import hashlib, os, socket
            u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.settimeout(5)
            u.connect(('2001:db8::1', 7777))
            for n in (1, 1400, 9000):
                data = os.urandom(n); u.send(data)
                print('udp ok %d' % n if u.recv(70000) == data else 'udp mismatch')
            data = os.urandom(4 << 20)
            t = socket.create_connection(('2001:db8::1', 9002), timeout=30)
            t.sendall(data); t.shutdown(socket.SHUT_WR)
            h = hashlib.sha256()
            while True:
                b = t.recv(1 << 20)
                if not b: break
                h.update(b)
            print('tcp ok' if h.digest() == hashlib.sha256(data).digest() else 'tcp mismatch')
            import errno
            u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.settimeout(5)
            u.setsockopt(socket.IPPROTO_IPV6, 25, 1)  # IPV6_RECVERR
            u.connect(('2001:db8::1', 9)); u.send(b'x')
            try:
                u.recv(10); print('udp answered')
            except OSError as e:
                print('udp ' + errno.errorcode.get(e.errno, str(e.errno)))
            try:
                socket.create_connection(('2001:db8::2', 80), timeout=10); print('tcp connected')
            except socket.timeout:
                print('tcp timeout')
            except OSError as e:
                print('tcp ' + errno.errorcode.get(e.errno, str(e.errno)))
            """
        let output = try lab.inApp(["python3", "-c", client]).output
        // Then the host's ICMPv6 errors, reflected: port unreachable, and no route for a connect.
        #expect(
            output.split(separator: "\n").map(String.init)
                == ["udp ok 1", "udp ok 1400", "udp ok 9000", "tcp ok", "udp ECONNREFUSED", "tcp ENETUNREACH"])
        let dig = try lab.inApp(["dig", "+short", "+tries=1", "+time=5", "@fd00::3", "allowed.test", "A"])
        #expect(dig.output.trimmingCharacters(in: .whitespacesAndNewlines) == "198.51.100.1")
        let ping = try lab.inApp(["ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", "2001:db8::1"])
        #expect(ping.status == 0 && ping.output.contains("3 received"))
        let counters = try #require(gateway.counters())
        #expect(counters.echoRepliesToApp == 3)
    }
}
