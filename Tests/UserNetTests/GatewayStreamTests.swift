// Stream behaviour through the gateway that the other TCP suites leave out: iperf3 both ways
// (a real bulk client, not our own script), and the host side closing its half first while the
// app keeps sending (the gateway must pass the FIN inward and keep carrying bytes outward).

import Foundation
import Glibc
import NetstackTesting
import TestPrivileges
import Testing
import UserNet

/// `iperf3 -s` in the lab's host namespace, bound to the host address; killed on stop.
final class HostIperfServer: @unchecked Sendable {
    static let port = 5201
    let process = Process()

    init(lab: GatewayLab) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // `ip netns exec` execs iperf3 in place: this pid is the server's.
        process.arguments = [
            "ip", "netns", "exec", lab.hostNamespace, "iperf3", "-s", "--forceflush", "-B", "\(GatewayLab.hostAddress)",
            "-p", "\(Self.port)"
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        var seen = ""
        while !seen.contains("Server listening") {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { break }
            seen += String(decoding: data, as: UTF8.self)
        }
        guard seen.contains("Server listening") else {
            stop()
            throw NamespaceLab.Failure(description: "iperf3 -s did not start: \(seen)")
        }
        // The server reports each test on stdout: keep draining it so it never blocks.
        pipe.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A host server on 9006 that half-closes first: it sends "greeting", shuts down its writing
/// half, then reads to EOF and records "after-fin N" (the bytes the app sent after the FIN).
final class HostHalfCloser: @unchecked Sendable {
    static let port = 9006
    let server: BackgroundScript

    static let script = #"""
        import os, socket, sys, threading
        host, directory = sys.argv[1], sys.argv[2]
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 9006)); s.listen(16)
        def handle(c):
            c.sendall(b'greeting'); c.shutdown(socket.SHUT_WR)
            n = 0
            while True:
                b = c.recv(65536)
                if not b: break
                n += len(b)
            with open(os.path.join(directory, 'after-fin.txt'), 'a') as f:
                f.write('after-fin %d\n' % n)
            c.close()
        def loop():
            while True:
                c, _ = s.accept()
                threading.Thread(target=handle, args=(c,), daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()
        print('ready', flush=True)
        threading.Event().wait()
        """#

    init(lab: GatewayLab) throws {
        server = try BackgroundScript(
            namespace: lab.hostNamespace, script: Self.script,
            arguments: ["\(GatewayLab.hostAddress)", lab.directory])
    }

    func stop() { server.stop() }
}

@Suite(.serialized, .tags(.root), .needsRoot) struct GatewayStreamTests {
    /// Bytes iperf3 reports the receiver got, from its JSON; nil when it did not run.
    static func receivedBytes(_ json: String) -> Int? {
        guard let start = json.firstIndex(of: "{"),
            let object = try? JSONSerialization.jsonObject(with: Data(json[start...].utf8)) as? [String: Any],
            let end = object["end"] as? [String: Any],
            let received = end["sum_received"] as? [String: Any],
            let bytes = received["bytes"] as? NSNumber
        else { return nil }
        return bytes.intValue
    }

    @Test func iperf3UploadAndDownload() throws {
        let lab = try GatewayLab()
        let server = try HostIperfServer(lab: lab)
        defer { server.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:53"]))
        defer { gateway.stop() }

        let host = "\(GatewayLab.hostAddress)"
        let upload = try lab.inApp(["iperf3", "-c", host, "-p", "\(HostIperfServer.port)", "-t", "1", "-J"])
        #expect(upload.status == 0, "\(upload.output)")
        let uploaded = Self.receivedBytes(upload.output) ?? 0
        #expect(uploaded > 0)
        let download = try lab.inApp(["iperf3", "-c", host, "-p", "\(HostIperfServer.port)", "-t", "1", "-R", "-J"])
        #expect(download.status == 0, "\(download.output)")
        let downloaded = Self.receivedBytes(download.output) ?? 0
        #expect(downloaded > 0)

        // Both transfers went through the gateway's flows (iperf3 opens a control and a data
        // connection per test), not around it.
        let counters = try #require(gateway.counters())
        #expect(counters.flowsAllowed >= 4)
        #expect(counters.nic.rxBytes >= UInt64(uploaded))
        #expect(counters.nic.txBytes >= UInt64(downloaded))
    }

    @Test func theHostHalfClosesFirstAndTheAppKeepsSending() throws {
        let lab = try GatewayLab()
        let server = try HostHalfCloser(lab: lab)
        defer { server.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:53"]))
        defer { gateway.stop() }

        // The app reads to EOF (the host's FIN, passed inward), then sends 5000 bytes and closes.
        let client = """
            import socket, sys
            s = socket.create_connection((sys.argv[1], 9006), timeout=20)
            got = b''
            while True:
                b = s.recv(100)
                if not b: break
                got += b
            s.sendall(b'w' * 5000); s.close()
            print(got.decode())
            """
        let result = try lab.inApp(["python3", "-c", client, "\(GatewayLab.hostAddress)"])
        #expect(result.output == "greeting\n")

        let path = lab.directory + "/after-fin.txt"
        var recorded = ""
        for _ in 0..<200 where recorded.isEmpty {
            recorded = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if recorded.isEmpty { usleep(50_000) }
        }
        #expect(recorded == "after-fin 5000\n")
    }

    /// The host ends first, so the gateway closes actively and keeps the four-tuple in
    /// TIME-WAIT; the app (which closed passively) reuses its port at once, and its SYN opens
    /// a new connection (RFC 6191) rather than being answered from TIME-WAIT.
    @Test func aSYNReopensAFourTupleInTimeWait() throws {
        let lab = try GatewayLab()
        let server = try HostHalfCloser(lab: lab)
        defer { server.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(dns: ["127.0.0.1:53"]))
        defer { gateway.stop() }

        let client = """
            import socket, sys, time
            got = []
            for attempt in range(2):
                for _ in range(40):
                    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.settimeout(20); s.bind(('', 41234))
                    try:
                        s.connect((sys.argv[1], 9006)); break
                    except OSError:
                        s.close(); time.sleep(0.05)
                data = b''
                while True:
                    b = s.recv(100)
                    if not b: break
                    data += b
                s.sendall(b'x' * 10); s.close()
                got.append(data.decode())
                time.sleep(0.1)
            print(' '.join(got))
            """
        let result = try lab.inApp(["python3", "-c", client, "\(GatewayLab.hostAddress)"])
        #expect(result.output == "greeting greeting\n")
        let counters = try #require(gateway.counters())
        #expect(counters.tcpTimeWaitReused == 1)
    }
}
