#!/usr/bin/env python3
# The policy tests' own DNS server (UDP and TCP on one address and port): answers A and AAAA
# from a zone file of "NAME TYPE ADDRESS" lines, NXDOMAIN for other names, and appends
# "NAME TYPE" to a log file for every question it receives, so a test can prove what never
# reached it.  usage: dns-server.py ADDRESS PORT ZONEFILE LOGFILE
import socket, struct, sys, threading

address, port, zone_path, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
zone = {}
for line in open(zone_path):
    parts = line.split()
    if len(parts) == 3:
        zone.setdefault((parts[0].lower().rstrip("."), parts[1].upper()), []).append(parts[2])
log_lock = threading.Lock()

def answer(query):
    if len(query) < 12:
        return None
    labels, end = [], 12
    while end < len(query) and query[end] != 0:
        labels.append(query[end + 1:end + 1 + query[end]].decode("ascii", "replace"))
        end += query[end] + 1
    if end + 5 > len(query):
        return None
    qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
    name = ".".join(labels).lower()
    type_name = {1: "A", 28: "AAAA"}.get(qtype, "TYPE%d" % qtype)
    with log_lock, open(log_path, "a") as log:
        log.write("%s %s\n" % (name, type_name))
    records = zone.get((name, type_name), [])
    known = any(key[0] == name for key in zone)
    rcode = 0 if known else 3
    reply = query[:2] + struct.pack("!HHHHH", 0x8180 | rcode, 1, len(records), 0, 0) + query[12:end + 5]
    for text in records:
        family = socket.AF_INET if qtype == 1 else socket.AF_INET6
        data = socket.inet_pton(family, text)
        reply += struct.pack("!HHHIH", 0xC00C, qtype, 1, 30, len(data)) + data
    return reply

def serve_tcp(listener):
    while True:
        conn, _ = listener.accept()
        with conn:
            head = conn.recv(2)
            if len(head) < 2:
                continue
            want, query = struct.unpack("!H", head)[0], b""
            while len(query) < want:
                chunk = conn.recv(want - len(query))
                if not chunk:
                    break
                query += chunk
            reply = answer(query)
            if reply:
                conn.sendall(struct.pack("!H", len(reply)) + reply)

family = socket.AF_INET6 if ":" in address else socket.AF_INET
listener = socket.socket(family, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((address, port))
listener.listen()
threading.Thread(target=serve_tcp, args=(listener,), daemon=True).start()
udp = socket.socket(family, socket.SOCK_DGRAM)
udp.bind((address, port))
while True:
    query, peer = udp.recvfrom(4096)
    reply = answer(query)
    if reply:
        udp.sendto(reply, peer)
