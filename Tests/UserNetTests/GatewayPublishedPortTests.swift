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
        // The app's server: tells each client the address it sees, then closes.
        let appServer = try BackgroundScript(
            namespace: lab.appNamespace,
            script: """
                import socket, threading
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('0.0.0.0', 5000))
                def udp():
                    while True:
                        data, peer = u.recvfrom(100)
                        u.sendto(('seen %s %s' % (peer[0], data.decode())).encode(), peer)
                threading.Thread(target=udp, daemon=True).start()
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('0.0.0.0', 80)); s.listen(16)
                print('ready', flush=True)
                while True:
                    c, peer = s.accept()
                    c.sendall(('seen %s' % peer[0]).encode()); c.close()
                """, arguments: [])
        defer { appServer.stop() }
        let options = try UserNetOptions(dns: ["127.0.0.1:53"], publish: ["8081:80", "8082:81", "8083:5000/udp"])
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        let hostClient = """
            import socket, sys, errno
            try:
                s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
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
        #expect(try fromHost("198.51.100.1", "8081") == "seen 198.51.100.1")
        #expect(try fromHost("127.0.0.1", "8081") == "seen 10.0.2.2")
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
}
