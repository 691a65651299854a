// Short transfers through the gateway at every MTU a user may pick: 100 kB and 1 MB, a new
// connection each, both ways, from a kernel client in the app namespace to a server on the host
// side. The guard for issue 17's collapse (at MTU 1500 the packet ring cut the app's TSO
// super-frames, and every upload crawled at one segment per retransmission timeout): on a clean
// link no transfer may need a retransmission timeout, on either side, and every byte arrives
// exactly (SHA-256). Not timed: the machine is noisy; Benchmarks/bench-short-transfer.sh times.

import Foundation
import Glibc
import NetstackTesting
import TestPrivileges
import Testing
import UserNet

/// A host server on 9007: a 9-byte request ('U' or 'D', then the size, 8 bytes big-endian).
/// Upload: reads that many bytes and answers the SHA-256 of what it read (hex). Download: sends
/// that many bytes of a fixed pattern, then closes.
final class HostTransferServer: @unchecked Sendable {
    static let port = 9007
    let server: BackgroundScript

    static let script = #"""
        import hashlib, socket, struct, sys, threading
        host = sys.argv[1]
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        s = socket.socket(family); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 9007)); s.listen(16)
        def pattern(n):
            return (bytes(range(251)) * (n // 251 + 1))[:n]
        def handle(c):
            try:
                head = b''
                while len(head) < 9:
                    b = c.recv(9 - len(head))
                    if not b: return
                    head += b
                op, n = head[:1], struct.unpack('>Q', head[1:])[0]
                if op == b'U':
                    h, got = hashlib.sha256(), 0
                    while got < n:
                        b = c.recv(min(65536, n - got))
                        if not b: break
                        h.update(b); got += len(b)
                    c.sendall(h.hexdigest().encode())
                else:
                    c.sendall(pattern(n))
            finally:
                c.close()
        def loop():
            while True:
                c, _ = s.accept()
                threading.Thread(target=handle, args=(c,), daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()
        print('ready', flush=True)
        threading.Event().wait()
        """#

    init(lab: GatewayLab, address: String) throws {
        server = try BackgroundScript(namespace: lab.hostNamespace, script: Self.script, arguments: [address])
    }

    func stop() { server.stop() }
}

@Suite(.serialized, .tags(.root), .needsRoot) struct GatewayShortTransferTests {
    /// The app's side: each transfer on a new connection; prints "up N ok|bad" and "down N ok|bad"
    /// (ok: the SHA-256 of what arrived is that of what was sent).
    static let client = #"""
        import hashlib, socket, struct, sys
        host, sizes = sys.argv[1], [int(x) for x in sys.argv[2].split(',')]
        def pattern(n):
            return (bytes(range(251)) * (n // 251 + 1))[:n]
        for n in sizes:
            data = pattern(n)[::-1]
            s = socket.create_connection((host, 9007), timeout=30)
            s.sendall(b'U' + struct.pack('>Q', n) + data)
            answer = b''
            while len(answer) < 64:
                b = s.recv(64 - len(answer))
                if not b: break
                answer += b
            s.close()
            print('up %d %s' % (n, 'ok' if answer.decode() == hashlib.sha256(data).hexdigest() else 'bad'), flush=True)
        for n in sizes:
            s = socket.create_connection((host, 9007), timeout=30)
            s.sendall(b'D' + struct.pack('>Q', n))
            h, got = hashlib.sha256(), 0
            while True:
                b = s.recv(1 << 20)
                if not b: break
                h.update(b); got += len(b)
            s.close()
            print('down %d %s' % (n, 'ok' if h.digest() == hashlib.sha256(pattern(n)).digest() else 'bad'), flush=True)
        """#

    /// A counter of the app namespace's kernel TCP (/proc/net/netstat, TcpExt), e.g. TCPTimeouts.
    static func appKernelCounter(_ lab: GatewayLab, _ name: String) throws -> Int? {
        let netstat = try lab.inApp(["cat", "/proc/net/netstat"]).output.split(separator: "\n")
        for (index, line) in netstat.enumerated() where line.hasPrefix("TcpExt:") && index + 1 < netstat.count {
            let names = line.split(separator: " ")
            let values = netstat[index + 1].split(separator: " ")
            if let column = names.firstIndex(where: { $0 == name }), column < values.count {
                return Int(values[column])
            }
        }
        return nil
    }

    static let cases: [(mtu: Int, ipv6: Bool)] = [
        (1280, false), (1500, false), (9000, false), (65520, false),
        (1280, true), (1500, true), (9000, true), (65520, true)
    ]

    @Test(arguments: cases)
    func shortTransfersNeedNoRetransmissionTimeout(_ mtu: Int, _ ipv6: Bool) throws {
        let lab = try GatewayLab(mtu: mtu, ipv6: ipv6)
        let address = ipv6 ? "2001:db8::1" : "\(GatewayLab.hostAddress)"
        let server = try HostTransferServer(lab: lab, address: address)
        defer { server.stop() }
        let gateway = try lab.startGateway(try UserNetOptions(mtu: mtu, dns: ["127.0.0.1:53"]))
        defer { gateway.stop() }
        if ipv6 {
            // The app learns its route from the gateway's router advertisement; wait for it.
            _ = try lab.inApp([
                "bash", "-c",
                "for i in $(seq 100); do ip -6 route get 2001:db8::1 >/dev/null 2>&1 && exit 0; sleep 0.05; done"
            ])
        }

        let result = try lab.inApp(["python3", "-c", Self.client, address, "100000,1000000"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output == "up 100000 ok\nup 1000000 ok\ndown 100000 ok\ndown 1000000 ok\n")

        let counters = try #require(gateway.counters())
        // The app's kernel (uploads) and the gateway's stack (downloads) each needed no RTO.
        #expect(try Self.appKernelCounter(lab, "TCPTimeouts") == 0)
        #expect(counters.tcp.retransmissionTimeouts == 0)
        // And nothing was lost at the ring: no frame cut short, none dropped by the kernel.
        #expect(counters.link.truncated == 0)
        #expect(counters.link.kernelDropped == 0)
        #expect(counters.link.droppedBadVirtioHeader == 0)
    }
}
