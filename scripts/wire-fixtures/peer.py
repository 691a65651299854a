#!/usr/bin/env python3
"""Traffic for the Wire fixtures. `peer.py serve-tcp ADDR PORT` accepts one connection, reads
until the client closes, and answers 50 bytes after the first 100; `peer.py tcp ADDR PORT`
connects, sends 100 bytes, reads the answer, closes. `peer.py udp ADDR PORT` sends one
datagram. `peer.py bulk-serve`/`bulk` move 300 kB one way (for SACK under netem loss).
`peer.py ra IFNAME` sends one Router Advertisement from the router. `peer.py udp-dstopts ADDR PORT`
sends a UDP datagram with a destination-options header."""
import socket, struct, sys, time

def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET

cmd = sys.argv[1]
if cmd == "serve-tcp":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1)
    c, _ = s.accept()
    got = b""
    while len(got) < 100:
        chunk = c.recv(4096)
        if not chunk: break
        got += chunk
    c.sendall(bytes(range(50)))
    while c.recv(4096): pass
    c.close()
elif cmd == "tcp":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.create_connection((addr, port))
    s.sendall(b"GET /wire-fixture HTTP/1.0\r\n" + b"x" * 72)
    got = b""
    while len(got) < 50:
        chunk = s.recv(4096)
        if not chunk: break
        got += chunk
    time.sleep(0.2)
    s.close()
elif cmd == "bulk-serve":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(1)
    c, _ = s.accept()
    while c.recv(65536): pass
    c.close()
elif cmd == "bulk":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.create_connection((addr, port))
    s.sendall(b"s" * 300_000)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
elif cmd == "udp":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.sendto(b"hello wire", (addr, port))
elif cmd == "udp-dstopts":
    addr, port = sys.argv[2], int(sys.argv[3])
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    # Destination options header: next header/len filled by the kernel; one PadN option
    # (type 1, length 4) pads the header to 8 bytes (RFC 8200 4.2).
    IPV6_DSTOPTS = 59
    s.setsockopt(socket.IPPROTO_IPV6, IPV6_DSTOPTS, bytes([0, 0, 1, 4, 0, 0, 0, 0]))
    s.sendto(b"dstopts", (addr, port))
elif cmd == "ra":
    ifname = sys.argv[2]
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    mac = bytes.fromhex(open(f"/sys/class/net/{ifname}/address").read().strip().replace(":", ""))
    # RFC 4861 4.2: type 134, code 0, checksum (kernel fills it for raw ICMPv6), cur hop
    # limit 64, flags M=0 O=1, router lifetime 1800, reachable time 0, retrans timer 0.
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0x40, 1800, 0, 0)
    ra += struct.pack("!BB6s", 1, 1, mac)                            # source link-layer address
    ra += struct.pack("!BBHI", 5, 1, 0, 1500)                         # MTU
    ra += struct.pack("!BBBBIII16s", 3, 4, 64, 0xC0, 86400, 14400, 0,  # prefix information, L+A
                      socket.inet_pton(socket.AF_INET6, "fd00:1::"))
    s.sendto(ra, ("ff02::1", 0, 0, socket.if_nametoindex(ifname)))
