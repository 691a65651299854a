"""A tiny authoritative DNS server for the example: answers A questions for the names given on
the command line, NXDOMAIN for any other name, and nothing else. It stands in for a real
resolver so the example never asks the machine's own.

    python3 dns.py LISTEN_IP PORT NAME=IPV4 [NAME=IPV4 ...]
"""
import socket
import struct
import sys

listen_ip, port = sys.argv[1], int(sys.argv[2])
records = {}
for pair in sys.argv[3:]:
    name, address = pair.split("=", 1)
    records[name.lower().rstrip(".")] = socket.inet_aton(address)


def parse_question(query):
    """Returns (name, qtype, end of the question) or None for a malformed query."""
    labels, offset = [], 12
    while offset < len(query):
        length = query[offset]
        if length == 0:
            break
        if length > 63 or offset + 1 + length > len(query):
            return None
        labels.append(query[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    if offset + 5 > len(query):
        return None
    qtype = struct.unpack("!H", query[offset + 1:offset + 3])[0]
    return ".".join(labels).lower(), qtype, offset + 5


sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((listen_ip, port))
while True:
    query, peer = sock.recvfrom(4096)
    if len(query) < 12:
        continue
    question = parse_question(query)
    if question is None:
        continue
    name, qtype, end = question
    known = name in records
    answers = 1 if known and qtype == 1 else 0
    # QR, AA, RA (resolvers such as nslookup refuse an answer without it), RD copied from the
    # query; RCODE 3 (NXDOMAIN) for a name we do not know.
    flags = 0x8480 | (query[2] & 0x01) << 8 | (0 if known else 3)
    reply = query[:2] + struct.pack("!HHHHH", flags, 1, answers, 0, 0) + query[12:end]
    if answers:
        reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + records[name]
    sock.sendto(reply, peer)
