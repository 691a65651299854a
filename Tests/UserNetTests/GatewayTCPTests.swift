// TCP through the gateway, end to end (see GatewayLab): kernel TCP in the app namespace,
// the gateway's TCP in between, kernel TCP servers (python3) in the host namespace.

import Foundation
import Glibc
import Netstack
import TestPrivileges
import Testing
import UserNet
import Wire

/// Host-side TCP servers (python3, in the host namespace), killed on deinit:
///   8080 python's http.server over the lab directory
///   9000 upload sink: reads to EOF, answers the sha256 of what came, closes
///   9001 download source: sends DOWNLOAD_BYTES random bytes (their sha256 in download.sha256), closes
///   9002 echo: echoes until EOF, then closes
///   9003 reset: accepts, reads a little, then closes with RST (SO_LINGER 0)
///   9006 slow sink: as 9000, but with a 4 KiB receive buffer, taking 4 KiB a millisecond for
///        its first second (the gateway's sends to it come up short and wait for writability)
///   9005 observer: reads to EOF or error, appends "eof N" or "reset N" to observed.txt, and
///        after an EOF still sends "bye" (data after the app's half-close)
///   127.0.0.1:5353 a DNS-over-TCP server: every A query gets 198.51.100.1
final class HostTCPServers: @unchecked Sendable {
    let server: BackgroundScript
    static let downloadBytes = 50 << 20

    static let script = #"""
        import hashlib, os, socket, struct, sys, threading, time, http.server, functools
        host, directory, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
        def listener(port, receive_buffer=0):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if receive_buffer: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            s.bind((host, port))
            s.listen(1024)
            return s
        def serve(s, handler):
            def loop():
                while True:
                    c, _ = s.accept()
                    threading.Thread(target=handler, args=(c,), daemon=True).start()
            threading.Thread(target=loop, daemon=True).start()
        def sink(c, slow=False):
            h = hashlib.sha256()
            start = time.monotonic()
            while True:
                crawling = slow and time.monotonic() - start < 1
                b = c.recv(4096 if crawling else 1 << 20)
                if not b: break
                h.update(b)
                if crawling: time.sleep(0.001)
            c.sendall(h.hexdigest().encode())
            c.close()
        def slow_sink(c): sink(c, slow=True)
        payload = os.urandom(size)
        open(os.path.join(directory, 'download.sha256'), 'w').write(hashlib.sha256(payload).hexdigest())
        def source(c):
            c.sendall(payload)
            c.close()
        def echo(c):
            while True:
                b = c.recv(65536)
                if not b: break
                c.sendall(b)
            c.close()
        def reset(c):
            c.recv(100)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            c.close()
        def observer(c):
            n = 0; outcome = 'eof'
            try:
                while True:
                    b = c.recv(65536)
                    if not b: break
                    n += len(b)
            except ConnectionResetError:
                outcome = 'reset'
            with open(os.path.join(directory, 'observed.txt'), 'a') as f:
                f.write('%s %d\n' % (outcome, n))
            if outcome == 'eof':
                c.sendall(b'bye')
            c.close()
        def dns(c):
            def exact(n):
                b = b''
                while len(b) < n:
                    more = c.recv(n - len(b))
                    if not more: return None
                    b += more
                return b
            while True:
                head = exact(2)
                if head is None: break
                q = exact(struct.unpack('!H', head)[0])
                if q is None: break
                end = 12
                while q[end] != 0: end += 1 + q[end]
                question = q[12:end + 5]
                answer = q[:2] + b'\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00' + question
                answer += b'\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04' + bytes([198, 51, 100, 1])
                c.sendall(struct.pack('!H', len(answer)) + answer)
            c.close()
        serve(listener(9005), observer)
        dns_listener = socket.socket()
        dns_listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        dns_listener.bind(('127.0.0.1', 5353))
        dns_listener.listen(64)
        serve(dns_listener, dns)
        serve(listener(9000), sink)
        serve(listener(9006, receive_buffer=4096), slow_sink)
        serve(listener(9001), source)
        serve(listener(9002), echo)
        serve(listener(9003), reset)
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)
        class Quiet(handler.func):
            def log_message(self, *a): pass
        web = http.server.ThreadingHTTPServer((host, 8080), functools.partial(Quiet, directory=directory))
        print('ready', flush=True)
        web.serve_forever()
        """#

    init(lab: GatewayLab) throws {
        server = try BackgroundScript(
            namespace: lab.hostNamespace, script: Self.script,
            arguments: ["\(GatewayLab.hostAddress)", lab.directory, "\(Self.downloadBytes)"])
    }

    func stop() { server.stop() }
}

@Suite(.serialized, .tags(.root), .needsRoot) struct GatewayTCPTests {
    /// An app-side TCP client (python3). Modes:
    ///   upload N [PORT]  send N random bytes (to the sink, 9000 unless PORT), half-close, print
    ///                 "sent SHA" and "got SHA"
    ///   download      read to EOF, print "got SHA BYTES"
    ///   connect PORT  connect only: print "ok" or "err ERRNO-NAME"
    ///   parallel N    N connections at once to the echo port, each sends and reads back its
    ///                 own line; print "ok COUNT"
    ///   reset         send to the reset port, print how the connection ended
    ///   abort         send 100 bytes to the observer, then close with RST (SO_LINGER 0)
    ///   halfclose     send 100 bytes to the observer, half-close, print what comes back
    static let client = """
        import hashlib, os, socket, sys, errno, threading
        host, mode = sys.argv[1], sys.argv[2]
        def connect(port, timeout=30):
            s = socket.create_connection((host, port), timeout=timeout)
            return s
        if mode == 'upload':
            n = int(sys.argv[3]); data = os.urandom(n)
            s = connect(int(sys.argv[4]) if len(sys.argv) > 4 else 9000)
            s.sendall(data); s.shutdown(socket.SHUT_WR)
            got = b''
            while True:
                b = s.recv(100)
                if not b: break
                got += b
            print('sent', hashlib.sha256(data).hexdigest()); print('got', got.decode())
        elif mode == 'download':
            s = connect(9001); h = hashlib.sha256(); total = 0
            while True:
                b = s.recv(1 << 20)
                if not b: break
                h.update(b); total += len(b)
            print('got', h.hexdigest(), total)
        elif mode == 'connect':
            try:
                s = connect(int(sys.argv[3]), timeout=10); print('ok')
            except socket.timeout:
                print('timeout')
            except OSError as e:
                print('err ' + errno.errorcode.get(e.errno, str(e.errno)))
        elif mode == 'hold':
            held = []
            for i in range(int(sys.argv[3])):
                try:
                    s = connect(9002, timeout=10); s.sendall(b'x'); s.recv(1); held.append(s); print('ok')
                except OSError as e:
                    print('err ' + errno.errorcode.get(e.errno, str(e.errno)))
        elif mode == 'parallel':
            n = int(sys.argv[3]); ok = []; lock = threading.Lock()
            socks = []
            for i in range(n):
                socks.append(connect(9002))
            def run(i, s):
                line = ('hello %d\\n' % i).encode() * 10
                s.sendall(line); s.shutdown(socket.SHUT_WR)
                got = b''
                while True:
                    b = s.recv(65536)
                    if not b: break
                    got += b
                if got == line:
                    with lock: ok.append(i)
                s.close()
            ts = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(socks)]
            for t in ts: t.start()
            for t in ts: t.join()
            print('ok', len(ok))
        elif mode == 'abort':
            import struct
            s = connect(9005); s.sendall(b'y' * 100)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
            s.close(); print('aborted')
        elif mode == 'halfclose':
            s = connect(9005); s.sendall(b'z' * 100); s.shutdown(socket.SHUT_WR)
            got = b''
            while True:
                b = s.recv(100)
                if not b: break
                got += b
            print(got.decode())
        elif mode == 'reset':
            s = connect(9003)
            s.sendall(b'x' * 10)
            try:
                b = s.recv(100)
                print('eof' if not b else 'data')
            except OSError as e:
                print('err ' + errno.errorcode.get(e.errno, str(e.errno)))
        """

    func client(_ lab: GatewayLab, _ arguments: [String], host: String = "198.51.100.1") throws -> [String] {
        let result = try lab.inApp(["python3", "-c", Self.client, host] + arguments)
        return result.output.split(separator: "\n").map(String.init)
    }

    @Test func httpRefusedResetAndParallelConnections() throws {
        let lab = try GatewayLab()
        let servers = try HostTCPServers(lab: lab)
        defer { servers.stop() }
        let logPath = lab.directory + "/connections.jsonl"
        try "hello from the host side\n".write(toFile: lab.directory + "/index.txt", atomically: true, encoding: .utf8)
        let options = try UserNetOptions(
            dns: ["127.0.0.1:53"],
            policyArguments: [(flag: "--deny", value: "198.51.100.1/32:9999")],
            logConnections: logPath)
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }

        let curl = try lab.inApp(["curl", "-sS", "--max-time", "30", "http://198.51.100.1:8080/index.txt"])
        #expect(curl.status == 0)
        #expect(curl.output == "hello from the host side\n")

        // Nothing listens on 9004: the host refuses, so the app is refused at once (RST).
        #expect(try client(lab, ["connect", "9004"]) == ["err ECONNREFUSED"])
        // Denied by policy: RST at once too, and logged.
        #expect(try client(lab, ["connect", "9999"]) == ["err ECONNREFUSED"])
        // The host peer resets: so does the gateway toward the app.
        #expect(try client(lab, ["reset"]) == ["err ECONNRESET"])

        #expect(try client(lab, ["parallel", "1000"]) == ["ok 1000"])

        let counters = try #require(gateway.counters())
        #expect(counters.tcpResetsSent >= 2)
        #expect(counters.flowsDenied == 1)
        #expect(counters.tcp.connectionsAccepted >= 1002)
        gateway.stop()
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("198.51.100.1:9999\",\"verdict\":\"deny\""))
        #expect(log.contains("198.51.100.1:8080\",\"verdict\":\"allow\""))
    }

    /// --flow-memory: two flows' rings fit in 1 MiB; the third is refused with a reset before
    /// any host connection, counted and logged; once the two are gone a new flow fits again.
    @Test func theFlowMemoryBudgetRefusesNewFlowsAndCounts() throws {
        let lab = try GatewayLab()
        let servers = try HostTCPServers(lab: lab)
        defer { servers.stop() }
        let logPath = lab.directory + "/connections.jsonl"
        let options = try UserNetOptions(dns: ["127.0.0.1:53"], logConnections: logPath, flowMemoryBytes: 1 << 20)
        let gateway = try lab.startGateway(options)
        defer { gateway.stop() }
        // Each flow's rings open at their initial sizes (they grow with use): three fit in 1 MiB.
        var config = TCPConfig()
        config.mtu = 65520
        #expect(3 * config.openingBufferBytes <= 1 << 20 && 4 * config.openingBufferBytes > 1 << 20)
        #expect(try client(lab, ["hold", "4"]) == ["ok", "ok", "ok", "err ECONNREFUSED"])
        var again: [String] = []
        for _ in 0..<50 {
            again = try client(lab, ["connect", "9002"])
            if again == ["ok"] { break }
            usleep(100_000)
        }
        #expect(again == ["ok"], "the closed flows gave their memory back")
        let counters = try #require(gateway.counters())
        #expect(counters.flowsRefusedAtMemoryBudget == 1)
        #expect(counters.tcpBufferBytesPeak == 3 * config.openingBufferBytes)
        gateway.stop()
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("\"verdict\":\"deny\",\"reason\":\"flow-memory-budget\""))
    }

    @Test func fiftyMegabytesEachWay() throws {
        let lab = try GatewayLab()
        let servers = try HostTCPServers(lab: lab)
        defer { servers.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:53"]))
        defer { gateway.stop() }

        try expectUploadIntact(lab, bytes: 50 << 20)
        let download = try client(lab, ["download"])
        let expected = try String(contentsOfFile: lab.directory + "/download.sha256", encoding: .utf8)
        #expect(download == ["got \(expected) \(HostTCPServers.downloadBytes)"])
    }

    /// Bytes from the app go to the host socket straight from the connection's ring; a host
    /// reader that takes them slowly makes those sends come up short, and the rest waits in
    /// the ring (the app's window closes) until the socket is writable: nothing lost, nothing
    /// twice.
    @Test func anUploadToASlowReaderArrivesIntact() throws {
        let lab = try GatewayLab()
        let servers = try HostTCPServers(lab: lab)
        defer { servers.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:53"]))
        defer { gateway.stop() }
        try expectUploadIntact(lab, bytes: 8 << 20, port: 9006)
    }

    /// Uploads `bytes` random bytes to a sink (`port`) and checks the sink's SHA-256 of what
    /// came is the client's of what it sent.
    func expectUploadIntact(_ lab: GatewayLab, bytes: Int, port: Int = 9000) throws {
        let upload = try client(lab, ["upload", "\(bytes)", "\(port)"])
        #expect(upload.count == 2)
        if upload.count == 2 {
            #expect(upload[0].dropFirst(5) == upload[1].dropFirst(4), "sent and received digests")
        }
    }

    @Test func halfCloseAndResetFromTheAppUnreachableAndDNSOverTCP() throws {
        let lab = try GatewayLab()
        let servers = try HostTCPServers(lab: lab)
        defer { servers.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:5353"]))
        defer { gateway.stop() }

        // The app half-closes: the host sees EOF after 100 bytes and can still answer.
        #expect(try client(lab, ["halfclose"]) == ["bye"])
        // The app resets: the host peer sees a reset too.
        #expect(try client(lab, ["abort"]) == ["aborted"])
        let observedPath = lab.directory + "/observed.txt"
        var observed: [String] = []
        for _ in 0..<200 where observed.count < 2 {
            observed = ((try? String(contentsOfFile: observedPath, encoding: .utf8)) ?? "").split(separator: "\n").map(
                String.init)
            if observed.count < 2 { usleep(50_000) }
        }
        #expect(observed == ["eof 100", "reset 100"])

        // No route on the host side: the app's connect fails at once with the ICMP answer.
        #expect(try client(lab, ["connect", "80"], host: "203.0.113.1") == ["err ENETUNREACH"])

        // DNS over TCP to the DNS address, forwarded over TCP to the host's resolver.
        let dig = try lab.inApp(["dig", "+tcp", "+short", "+tries=1", "+time=5", "@10.0.2.3", "allowed.test", "A"])
        #expect(dig.output.trimmingCharacters(in: .whitespacesAndNewlines) == "198.51.100.1")
        let counters = try #require(gateway.counters())
        #expect(counters.dns.tcpAnswers == 1)
    }
}
