#!/usr/bin/env python3
# Sends one hand-made IPv6 TCP SYN out of eth0 to the gateway's MAC, the way a hostile app
# with a packet socket could (its kernel would never emit these destinations), and prints
# what came back: "synack", "rst", "icmp6 TYPE CODE" or "none".
# usage: raw6-syn.py DST PORT [SEGMENT SEGMENTS_LEFT]   (the last two add a type-4 routing header)
import socket, struct, sys, time

dst, port = sys.argv[1], int(sys.argv[2])
segment = sys.argv[3] if len(sys.argv) > 4 else None
segments_left = int(sys.argv[4]) if len(sys.argv) > 4 else 0
src = "fd00::100"
gateway_mac = bytes.fromhex("52550a000202")
sport = 40000 + int(time.time() * 1000) % 20000

def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

s6, d6 = socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst)
tcp = struct.pack("!HHIIBBHHH", sport, port, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
pseudo = s6 + d6 + struct.pack("!IxxxB", len(tcp), 6)
tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
payload, next_header = tcp, 6
if segment:
    routing = struct.pack("!BBBBBBH", 6, 2, 4, segments_left, 0, 0, 0) + socket.inet_pton(socket.AF_INET6, segment)
    payload, next_header = routing + tcp, 43
ip = struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64) + s6 + d6
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD))
sock.bind(("eth0", 0))
own_mac = sock.getsockname()[4]
sock.send(gateway_mac + own_mac + b"\x86\xdd" + ip + payload)
deadline = time.time() + 2
sock.settimeout(0.2)
while time.time() < deadline:
    try:
        frame = sock.recv(65535)
    except socket.timeout:
        continue
    if len(frame) < 54 or frame[12:14] != b"\x86\xdd" or frame[6:12] == own_mac:
        continue
    nh, body = frame[20], frame[54:]
    if nh == 6 and len(body) >= 14 and struct.unpack("!HH", body[:4]) == (port, sport):
        flags = body[13]
        print("synack" if flags & 0x12 == 0x12 else "rst" if flags & 0x04 else "tcp %x" % flags)
        sys.exit(0)
    if nh == 58 and len(body) >= 2 and body[0] < 128:
        print("icmp6 %d %d" % (body[0], body[1]))
        sys.exit(0)
print("none")
