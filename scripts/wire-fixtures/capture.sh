#!/bin/bash
# Captures the real Linux frames behind Tests/WireTests/Fixtures: a throwaway topology
#   app (A) --veth-- router (R) --veth, MTU 1280-- far host (B)
# in three network namespaces, traffic from ping/ping6, Python sockets and a raw-socket RA, and
# tcpdump on R's A-facing end. Checksum/segmentation offloads are off, so frames carry final
# checksums. Everything it makes is removed on exit. Usage: capture.sh OUT_DIR  (writes
# wire.pcap and sack.pcap). Run as root; needs ip, tc (tbf), tcpdump, ping, python3.
set -euo pipefail
OUT=${1:?usage: capture.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
id=$$
A=wfa$id R=wfr$id B=wfb$id
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for ns in "$A" "$R" "$B"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap cleanup EXIT
for ns in "$A" "$R" "$B"; do ip netns add "$ns"; done
inA() { ip netns exec "$A" "$@"; }
inR() { ip netns exec "$R" "$@"; }
inB() { ip netns exec "$B" "$@"; }

ip link add a0 netns "$A" type veth peer r0 netns "$R"
ip link add r1 netns "$R" mtu 1280 type veth peer b0 netns "$B" mtu 1280
inA ip link set a0 address 02:00:00:00:0a:02
inR ip link set r0 address 02:00:00:00:0a:01
for ns in "$A" "$R" "$B"; do ip netns exec "$ns" ip link set lo up; done
inA python3 "$HERE/ethtool_off.py" a0
inR python3 "$HERE/ethtool_off.py" r0 r1
inB python3 "$HERE/ethtool_off.py" b0
inR sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
inR ip addr add 10.0.1.1/24 dev r0
inR ip addr add fd00:1::1/64 dev r0 nodad
inR ip addr add 10.0.3.1/24 dev r1
inR ip addr add fd00:3::1/64 dev r1 nodad
inB ip addr add 10.0.3.2/24 dev b0
inB ip addr add fd00:3::2/64 dev b0 nodad
inR ip link set r1 up
inB ip link set b0 up
inB ip route add default via 10.0.3.1
inB ip -6 route add default via fd00:3::1
inR ip link set r0 up

# Capture on R's A-facing end from before A's link comes up, so A's router solicitation and
# MLD reports (hop-by-hop options) are in it.
ip netns exec "$R" tcpdump -i r0 -U -s 0 -w "$OUT/wire.pcap" 2>/dev/null & pids+=($!)
sleep 1
inA ip addr add 10.0.1.2/24 dev a0
inA ip addr add fd00:1::2/64 dev a0 nodad
inA ip link set a0 up
inA ip route add default via 10.0.1.1
inA ip -6 route add default via fd00:1::1
sleep 2.5     # link-local DAD, router solicitation, MLD

inA ping -q -c 1 -W 2 10.0.1.1 >/dev/null                       # ARP + echo
inA ping -q -c 1 -W 2 -M do -s 1400 10.0.3.2 >/dev/null || true   # frag needed from R
inA ping -q -c 1 -W 2 -t 1 10.0.3.2 >/dev/null || true            # time exceeded from R
inA ping -q -c 1 -W 2 -M dont -s 3000 10.0.1.1 >/dev/null        # IPv4 fragments
inA ping -6 -q -c 1 -W 2 fd00:1::1 >/dev/null                    # NS/NA + echo
inA ping -6 -q -c 1 -W 2 -M do -s 1400 fd00:3::2 >/dev/null || true  # packet too big
inA ping -6 -q -c 1 -W 2 -t 1 fd00:3::2 >/dev/null || true           # time exceeded
inA ping -6 -q -c 1 -W 2 -s 3000 fd00:1::1 >/dev/null            # fragment header
inA python3 "$HERE/peer.py" udp 10.0.1.1 5001                     # port unreachable
inA python3 "$HERE/peer.py" udp fd00:1::1 5001                    # port unreachable (v6)
inR python3 "$HERE/peer.py" ra r0                                 # router advertisement
inA python3 "$HERE/peer.py" udp-dstopts fd00:1::1 5002           # destination options
for addr in 10.0.1.1 fd00:1::1; do
    ip netns exec "$R" python3 "$HERE/peer.py" serve-tcp "$addr" 8080 & server=$!
    sleep 0.3
    inA python3 "$HERE/peer.py" tcp "$addr" 8080
    wait "$server"
done
sleep 0.5
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

# SACK: a bulk upload through a small token-bucket queue on A, which drops segments when it
# overflows, so R sees holes and its ACKs carry SACK blocks.
inA tc qdisc add dev a0 root tbf rate 50mbit burst 16k limit 12k
ip netns exec "$R" tcpdump -i r0 -U -s 128 -w "$OUT/sack.pcap" 'tcp and src host 10.0.1.1' 2>/dev/null & pids+=($!)
sleep 1
ip netns exec "$R" python3 "$HERE/peer.py" bulk-serve 10.0.1.1 8081 & server=$!
sleep 0.3
inA python3 "$HERE/peer.py" bulk 10.0.1.1 8081 || true
wait "$server" || true
sleep 0.5
