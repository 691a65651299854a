#!/bin/bash
# Seeds for the dns fuzz target: real queries and answers, captured from dig talking to the
# e2e tests' DNS server in a throwaway network namespace (loopback only), one file per message,
# the first byte saying which way it went (0: query, 1: answer). Usage: fuzz-dns-seeds.sh DIR
set -euo pipefail
DIR=${1:?usage: fuzz-dns-seeds.sh DIR}
NS="fuzzdns$$"
WORK=$(mktemp -d)
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; ip netns del "$NS" 2>/dev/null; rm -rf "$WORK"; }
PIDS=()
trap cleanup EXIT
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
cat >"$WORK/zone" <<ZONE
www.example.com A 93.184.216.34
www.example.com AAAA 2001:db8::34
api.example.com A 10.1.2.3
ZONE
ip netns exec "$NS" python3 tests-e2e/lib/dns-server.py 127.0.0.1 53 "$WORK/zone" "$WORK/log" &
PIDS+=($!)
ip netns exec "$NS" tcpdump -i lo -w "$WORK/dns.pcap" -U port 53 2>/dev/null &
PIDS+=($!)
sleep 1
for args in "www.example.com A" "www.example.com AAAA" "api.example.com A" "missing.example.com A" \
            "+edns=0 www.example.com ANY" "+noedns +norecurse www.example.com A" "+dnssec www.example.com MX"; do
    ip netns exec "$NS" dig +time=1 +tries=1 @127.0.0.1 $args >/dev/null || true
done
sleep 0.5
kill "${PIDS[1]}"; wait "${PIDS[1]}" 2>/dev/null || true
python3 - "$WORK/dns.pcap" "$DIR" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
offset, n = 24, 0
linktype = struct.unpack("<I", data[20:24])[0]
while offset + 16 <= len(data):
    _, _, length, _ = struct.unpack("<IIII", data[offset:offset + 16])
    packet = data[offset + 16:offset + 16 + length]
    offset += 16 + length
    ip = packet[14:] if linktype == 1 else packet
    if len(ip) < 28 or ip[9] != 17:
        continue
    udp = ip[(ip[0] & 15) * 4:]
    payload = udp[8:]
    direction = 1 if struct.unpack("!H", udp[:2])[0] == 53 else 0
    open(f"{sys.argv[2]}/captured-{n:03d}", "wb").write(bytes([direction]) + payload)
    n += 1
print(f"fuzz-dns-seeds: {n} captured messages")
PY
