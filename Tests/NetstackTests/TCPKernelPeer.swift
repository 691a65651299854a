// The Linux side of the TCP interop tests and of bench-tcp's peer: a small python3 program run
// inside the kernel namespace. It speaks the same deterministic byte pattern as
// `TCPPattern` (byte at stream offset i is block[i % 65521]), so each side verifies every
// byte it reads against the pattern, without keeping the stream.

import Foundation

enum TCPKernelPeer {
    /// Modes (argv[1]):
    ///   client HOST PORT N       connect, send N, shut down writing, read to EOF (SHA-256)
    ///   serve PORT N             accept one, read to EOF (SHA-256), send N, close
    ///   fin PORT K               accept one, after K bytes read shut down writing (FIN), read on to EOF
    ///   reset PORT K             accept one, read K bytes, close with SO_LINGER 0 (RST)
    ///   stall PORT K SECONDS     accept one (small SO_RCVBUF), read K, sleep, read on to EOF
    /// Prints one line: "OK received=<bytes> sent=<bytes>" or "FAIL <why>"; client and serve
    /// add a second, "received_sha256=<hex> sent_sha256=<hex>" (hashlib over the bytes moved).
    /// PEER_CONGESTION in the environment picks the socket's congestion control (TCP_CONGESTION).
    static let congestionVariable = "PEER_CONGESTION"
    static let script = #"""
        import hashlib, os, socket, sys, struct, time
        CC = os.environ.get("PEER_CONGESTION")

        def choose_congestion(sock):
            if CC:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, CC.encode())
        P = 65521
        block = bytes(((i * 131) + (i >> 9)) & 255 for i in range(P))
        big = block * 6
        CHUNK = 262144

        # Reads to EOF (or `limit` bytes), checking the pattern from stream offset `start`.
        def verify_read(sock, limit=None, digest=None, start=0):
            buf = bytearray(CHUNK)
            mv = memoryview(buf)
            off = 0
            while limit is None or off < limit:
                want = CHUNK if limit is None else min(CHUNK, limit - off)
                n = sock.recv_into(buf, want)
                if n == 0:
                    break
                if digest is not None:
                    # The digest, compared with the Swift side's, checks every byte; the pattern
                    # check (which says where) would double the peer's CPU time on bulk runs.
                    digest.update(mv[:n])
                else:
                    o = (start + off) % P
                    if bytes(mv[:n]) != big[o:o + n]:
                        print("FAIL mismatch near offset %d" % (start + off), flush=True)
                        sys.exit(3)
                off += n
            return off

        def send_pattern(sock, total, digest=None):
            view = memoryview(big)
            off = 0
            while off < total:
                o = off % P
                n = min(CHUNK, total - off)
                k = sock.send(view[o:o + n])
                if digest is not None:
                    digest.update(view[o:o + k])
                off += k
            return off

        def accept_one(port, rcvbuf=None):
            ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if rcvbuf:
                ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            choose_congestion(ls)
            ls.bind(("0.0.0.0", port))
            ls.listen(1)
            ls.settimeout(60)
            s, _ = ls.accept()
            s.settimeout(120)
            ls.close()
            return s

        mode = sys.argv[1]
        try:
            if mode == "client":
                s = None
                for _ in range(300):
                    try:
                        s = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=120)
                        break
                    except (ConnectionRefusedError, socket.timeout, OSError):
                        time.sleep(0.05)
                if s is None:
                    print("FAIL connect", flush=True); sys.exit(2)
                choose_congestion(s)
                sd, rd = hashlib.sha256(), hashlib.sha256()
                sent = send_pattern(s, int(sys.argv[4]), sd)
                s.shutdown(socket.SHUT_WR)
                got = verify_read(s, None, rd)
                s.close()
                print("OK received=%d sent=%d" % (got, sent), flush=True)
                print("received_sha256=%s sent_sha256=%s" % (rd.hexdigest(), sd.hexdigest()), flush=True)
            elif mode == "serve":
                s = accept_one(int(sys.argv[2]))
                sd, rd = hashlib.sha256(), hashlib.sha256()
                got = verify_read(s, None, rd)
                sent = send_pattern(s, int(sys.argv[3]), sd)
                s.close()
                print("OK received=%d sent=%d" % (got, sent), flush=True)
                print("received_sha256=%s sent_sha256=%s" % (rd.hexdigest(), sd.hexdigest()), flush=True)
            elif mode == "fin":
                s = accept_one(int(sys.argv[2]))
                first = verify_read(s, int(sys.argv[3]))
                s.shutdown(socket.SHUT_WR)
                # Read on, continuing the pattern from where the first part stopped.
                off = first + verify_read(s, start=first)
                s.close()
                print("OK received=%d sent=0" % off, flush=True)
            elif mode == "reset":
                s = accept_one(int(sys.argv[2]))
                got = verify_read(s, int(sys.argv[3]))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                print("OK received=%d sent=0" % got, flush=True)
            elif mode == "stall":
                s = accept_one(int(sys.argv[2]), rcvbuf=65536)
                first = verify_read(s, int(sys.argv[3]))
                time.sleep(float(sys.argv[4]))
                off = first + verify_read(s, start=first)
                s.close()
                print("OK received=%d sent=0" % off, flush=True)
            else:
                print("FAIL mode", flush=True); sys.exit(2)
        except Exception as e:
            print("FAIL %r" % (e,), flush=True)
            sys.exit(4)
        """#
}

/// The stream both sides agree on: the byte at offset i is `block[i % period]`.
struct TCPPattern: Sendable {
    static let period = 65_521
    /// Six periods back to back, so any window of up to five periods starts at `offset % period`.
    let bytes: [UInt8]

    init() {
        let block = (0..<Self.period).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ ($0 >> 9)) }
        var all: [UInt8] = []
        all.reserveCapacity(block.count * 6)
        for _ in 0..<6 { all += block }
        bytes = all
    }

    /// The pattern from stream offset `offset`, at most `limit` bytes (and at most 5 periods).
    func withBytes<R>(at offset: Int, limit: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let start = offset % Self.period
        let count = min(limit, Self.period * 5)
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start..<start + count])) }
    }

    /// Whether `data` is the pattern at stream offset `offset` (`data.count` up to 5 periods).
    func matches(_ data: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        withBytes(at: offset, limit: data.count) { expected in
            guard expected.count == data.count else { return false }
            guard let a = expected.baseAddress, let b = data.baseAddress else { return data.isEmpty }
            return memcmp(a, b, data.count) == 0
        }
    }
}
