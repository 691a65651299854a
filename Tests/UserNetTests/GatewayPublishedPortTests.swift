// Published ports (-p) end to end: clients in the host namespace reach servers in the app
// namespace through the gateway, TCP and UDP (see GatewayLab).

import Foundation
import Glibc
import NetstackTesting
import TestPrivileges
import Testing
import UserNet
import Wire

@Suite(.serialized, .tags(.root), .needsRoot) struct GatewayPublishedPortTests {
    @Test func publishedPortsCarryHostClientsToTheApp() throws {
        let lab = try GatewayLab()
        let appServer = try Self.startApp(lab)
        defer { appServer.stop() }
        let options = try UserNetOptions(dns: ["127.0.0.1:53"], publish: ["8081:80", "8082:81", "8083:5000/udp"])
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        let hostClient = """
            import socket, sys, errno
            try:
                s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
                s.sendall(b'hi')
                got = b''
                while True:
                    b = s.recv(100)
                    if not b: break
                    got += b
                print(got.decode() if got else 'eof')
            except OSError as e:
                print('err ' + errno.errorcode.get(e.errno, str(e.errno)))
            """
        func fromHost(_ address: String, _ port: String) throws -> String {
            try NamespaceLab.run(["ip", "netns", "exec", lab.hostNamespace, "python3", "-c", hostClient, address, port])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        // A non-loopback client keeps its address; a loopback one appears as the gateway.
        #expect(try fromHost("198.51.100.1", "8081") == "seen 198.51.100.1 hi")
        #expect(try fromHost("127.0.0.1", "8081") == "seen 10.0.2.2 hi")
        // Nothing listens on the app's port 81: the app refuses, the host client is reset.
        #expect(try fromHost("127.0.0.1", "8082") == "err ECONNRESET")
        // A published UDP port: the app answers the client it sees, through the same port.
        let udpClient = """
            import socket, sys
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(10)
            s.sendto(b'ping', (sys.argv[1], 8083))
            print(s.recvfrom(100)[0].decode())
            """
        func udpFromHost(_ address: String) throws -> String {
            try NamespaceLab.run(["ip", "netns", "exec", lab.hostNamespace, "python3", "-c", udpClient, address])
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(try udpFromHost("198.51.100.1") == "seen 198.51.100.1 ping")
        #expect(try udpFromHost("127.0.0.1") == "seen 10.0.2.2 ping")
        let counters = try #require(gateway.counters())
        #expect(counters.inboundConnections == 5)
    }

    /// 127.0.0.1:P and [::1]:P both appear as the gateway: the second is given another source
    /// port toward the app, never refused, and each hears only its own answers.
    @Test func clientsShownAsTheGatewayWithOnePortEachReachTheApp() throws {
        let lab = try GatewayLab(ipv6: true)
        let appServer = try Self.startApp(lab)
        defer { appServer.stop() }
        let options = try UserNetOptions(dns: ["127.0.0.1:53"], publish: ["8081:80", "8083:5000/udp"])
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        // Both clients bind one port (IPv4 and IPv6 ports are separate spaces), connect, and
        // only then send; a refused second connection reads as an error.
        let clients = """
            import socket
            def pair(kind):
                a = socket.socket(socket.AF_INET, kind); a.settimeout(10); a.bind(('127.0.0.1', 0))
                b = socket.socket(socket.AF_INET6, kind); b.settimeout(10); b.bind(('::1', a.getsockname()[1]))
                return a, b
            def read(s):
                try:
                    got = b''
                    while True:
                        chunk = s.recv(100)
                        if not chunk: return got.decode() or 'eof'
                        got += chunk
                except OSError as e:
                    return 'err %s' % e
            a, b = pair(socket.SOCK_STREAM)
            a.connect(('127.0.0.1', 8081)); b.connect(('::1', 8081))
            a.sendall(b'tcp-a'); b.sendall(b'tcp-b')
            print(read(a)); print(read(b))
            a, b = pair(socket.SOCK_DGRAM)
            for n in (1, 2):
                a.sendto(b'udp-a%d' % n, ('127.0.0.1', 8083)); b.sendto(b'udp-b%d' % n, ('::1', 8083))
                print(a.recv(100).decode()); print(b.recv(100).decode())
            """
        let answers = try NamespaceLab.run(["ip", "netns", "exec", lab.hostNamespace, "python3", "-c", clients])
            .split(separator: "\n")
        let gateway4 = "seen 10.0.2.2"
        #expect(
            answers == [
                "\(gateway4) tcp-a", "\(gateway4) tcp-b", "\(gateway4) udp-a1", "\(gateway4) udp-b1",
                "\(gateway4) udp-a2", "\(gateway4) udp-b2"
            ])
        let counters = try #require(gateway.counters())
        #expect(counters.inboundConnections == 4)
        #expect(counters.inboundSourcePortsChosen == 2)
        #expect(counters.inboundRefused == 0)
    }

    /// The app: TCP port 80 and UDP port 5000 answer each client's data with "seen ADDRESS
    /// DATA", the address it sees (TCP once it has the data, so connections stay open together).
    private static func startApp(_ lab: GatewayLab) throws -> BackgroundScript {
        try BackgroundScript(
            namespace: lab.appNamespace,
            script: """
                import socket, threading
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5000))
                def udp():
                    while True:
                        data, peer = u.recvfrom(100)
                        u.sendto(('seen %s %s' % (peer[0], data.decode())).encode(), peer)
                threading.Thread(target=udp, daemon=True).start()
                def answer(c, peer):
                    c.sendall(('seen %s %s' % (peer[0], c.recv(100).decode())).encode()); c.close()
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('0.0.0.0', 80)); s.listen(16)
                print('ready', flush=True)
                while True:
                    threading.Thread(target=answer, args=s.accept(), daemon=True).start()
                """, arguments: [])
    }
}
