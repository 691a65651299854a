# Shared by tests-e2e/netuser-*.sh: a throwaway "host" network namespace with no uplink
# (hostsimPID_N), and the launcher run inside it so the gateway's host sockets live there;
# beside it a "remote" namespace (remotePID_N, one veth away) stands for the Internet. The
# host's own address and loopback are host services, which the gateway protects; the remote
# web server is what an app may reach. Everything made is removed on every path
# (launcher-common's EXIT trap).
source "$(dirname "${BASH_SOURCE[0]}")/launcher-common.bash"

HS="hostsim$$_${RANDOM}"
RS="remote$$_${RANDOM}"
HOST_ADDR=198.51.100.1
REMOTE_ADDR=198.51.100.2
HOST_ADDR6=2001:db8:1::1
REMOTE_ADDR6=2001:db8:1::2
SERVER_PIDS=()
netuser_cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    ip netns del "$HS" 2>/dev/null
    ip netns del "$RS" 2>/dev/null
}
CLEANUPS+=("netuser_cleanup")

HX() { ip netns exec "$HS" "$@"; }
RX() { ip netns exec "$RS" "$@"; }
# `sandbox run` with the host side in hostsim.
SB() { ip netns exec "$HS" "$SANDBOX" run "$@"; }
# Any sandbox command there, with the detached sandboxes' state in $WORK; `sandbox network`.
STATE="$WORK/state"
R() { ip netns exec "$HS" "$SANDBOX" --root "$STATE" "$@"; }
NET() { ip netns exec "$HS" "$SANDBOX" network "$@"; }

ip netns add "$HS" || { echo "cannot make the hostsim namespace"; exit 1; }
ip netns add "$RS" || { echo "cannot make the remote namespace"; exit 1; }
HX ip link set lo up
RX ip link set lo up
# hs0 carries the host's own addresses; its veth peer hs1 is the remote side (no uplink).
HX ip link add hs0 type veth peer name hs1 netns "$RS"
HX ip addr add "$HOST_ADDR/24" dev hs0
HX ip addr add "$HOST_ADDR6/64" dev hs0 nodad
RX ip addr add "$REMOTE_ADDR/24" dev hs1
RX ip addr add "$REMOTE_ADDR6/64" dev hs1 nodad
HX ip link set hs0 up
RX ip link set hs1 up
# No default route: the machine's resolver (from /etc/resolv.conf) is unroutable here, which
# the launcher must survive (it leaves such resolvers out of the gateway's upstreams).
# The gateway forwards the app's pings through unprivileged ICMP sockets, which need this.
HX sysctl -qw net.ipv4.ping_group_range="0 2147483647"

mkdir -p "$WORK/www" "$WORK/lo"
echo hello-from-host >"$WORK/www/index.html"
echo hello-from-loopback >"$WORK/lo/index.html"
# A web server on the remote side (both families), another on hostsim's loopback only.
# (`ip netns exec` execs in place, so $! is the server itself; never a shell function with &.)
PY=/usr/bin/python3
ip netns exec "$RS" $PY -m http.server 8000 --bind "$REMOTE_ADDR" --directory "$WORK/www" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
ip netns exec "$RS" $PY -m http.server 8000 --bind "$REMOTE_ADDR6" --directory "$WORK/www" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
ip netns exec "$HS" $PY -m http.server 8001 --bind 127.0.0.1 --directory "$WORK/lo" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
# A tiny DNS server on hostsim's loopback: every A question is answered with $REMOTE_ADDR.
cat >"$WORK/dns.py" <<'PY'
import socket, struct, sys
answer = socket.inet_aton(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    q, peer = s.recvfrom(4096)
    if len(q) < 12:
        continue
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    qtype = struct.unpack("!H", q[end + 1:end + 3])[0] if end + 3 <= len(q) else 0
    header = q[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if qtype == 1 else 0, 0, 0)
    reply = header + question
    if qtype == 1:
        reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + answer
    s.sendto(reply, peer)
PY
ip netns exec "$HS" $PY "$WORK/dns.py" 127.0.0.1 5353 "$REMOTE_ADDR" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
for _ in $(seq 100); do
    HX curl -s -o /dev/null "http://$REMOTE_ADDR:8000/" && HX curl -s -o /dev/null "http://[$REMOTE_ADDR6]:8000/" \
        && HX curl -s -o /dev/null http://127.0.0.1:8001/ && break
    sleep 0.1
done

# What a run may leave: nothing. hostsim holds only lo and hs0, no gw0 anywhere we can
# see, no named namespace of ours, no launcher process, no generated-file directory.
check_no_leftovers() {
    local what=$1
    expect_eq "$what: hostsim links" "hs0 lo" "$(HX ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | sort | tr '\n' ' ' | sed 's/ $//')"
    expect_eq "$what: no gw0 in the root netns" "0" "$(ip -o link show | grep -cE ': gw0[@:]')"
    expect_eq "$what: only hostsim is named" "$HS" "$(ip -all netns list 2>/dev/null | awk '{print $1}' | grep -E "^hostsim$$_" | tr '\n' ' ' | sed 's/ $//')"
    expect_eq "$what: no launcher left" "0" "$(pgrep -fc "^$SANDBOX (run|usernet)" || true)"
    expect_eq "$what: no generated files left" "0" "$(find /tmp -maxdepth 1 -name 'sandbox-net-*' -newer "$WORK/dns.py" | wc -l)"
}

# usernet_target SECONDS: an `unshare -n sleep` inside hostsim, the namespace `sandbox usernet`
# attaches to; sets $target (killed by cleanup). It must be the unshared sleep, never a
# namespace we did not make: wait for both, since unshare changes the namespace a moment before
# it execs sleep (a loaded machine showed it).
usernet_target() {
    ip netns exec "$HS" unshare -n sleep "$1" &
    target=$!
    SERVER_PIDS+=($target)
    local sleep_exe _
    sleep_exe=$(readlink -f "$(command -v sleep)")
    for _ in $(seq 50); do
        [ "$(readlink /proc/$target/ns/net)" != "$(ip netns exec "$HS" readlink /proc/self/ns/net)" ] \
            && [ "$(readlink /proc/$target/exe)" = "$sleep_exe" ] && break
        sleep 0.1
    done
    [ "$(readlink /proc/$target/exe)" = "$sleep_exe" ] || { echo "target $target is not the sleep"; exit 1; }
}
