#!/bin/bash
# bench-short-transfer.sh: short TCP transfers over a new connection each (100 kB and 1 MB, upload
# and download), through `sandbox run --net=user --mtu M` beside a kernel veth at the same MTU,
# measured in the same run, at MTU 1280, 1500, 9000 and 65520. Printed as a markdown table.
#
# Short transfers live in slow start, where a stack that drops or stalls the first burst pays a
# retransmission timeout (200 ms to 1 s) per loss: bulk benchmarks (bench-gateway.sh, iperf3)
# average that away, this one shows it. Each figure is the median of R transfers (and the best),
# timed by the client from before connect() until the server confirmed the last byte (upload: a
# one-byte reply once all bytes arrived; download: EOF after the last byte). Under load both
# columns quantise to the scheduler tick (4 ms at HZ=250): compare the rows of one run only.
#
#   kernel veth  the client in a namespace joined to the host side by a veth pair at MTU M
#   sandbox      the client inside `sandbox run --mtu M --allow-host-loopback`, reaching the
#                host side's loopback at 10.0.2.2
#
# The server runs in a throwaway "host side" namespace with no uplink, so nothing leaves the
# machine. Every namespace and process made here is removed on every exit path.
#
# usage (root): Benchmarks/bench-short-transfer.sh [SANDBOX_BIN]  (default .build/static/release/sandbox)
# env: R=transfers per figure (15); MTUS="1280 1500 9000 65520"; SIZES="100000 1000000";
#      SANDBOX_ARGS adds options to `sandbox run`.
# Not part of `make test`: it measures, it does not assert.
set -u
R=${R:-15}
MTUS=${MTUS:-1280 1500 9000 65520}
SIZES=${SIZES:-100000 1000000}
SANDBOX=${1:-.build/static/release/sandbox}
SANDBOX_ARGS=${SANDBOX_ARGS:-}
PORT=5499

for tool in ip python3; do
    command -v "$tool" >/dev/null || { echo "bench-short-transfer: $tool is not installed" >&2; exit 1; }
done
[ -x "$SANDBOX" ] || { echo "bench-short-transfer: no sandbox binary at $SANDBOX (make build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench-short-transfer: run as root (it makes namespaces)" >&2; exit 1; }

HOSTNS=bst-host-$$
KERNNS=bst-kern-$$

cleanup() {
    local pids
    pids=$(ip netns pids "$HOSTNS" 2>/dev/null; ip netns pids "$KERNNS" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill $pids 2>/dev/null
    sleep 0.3
    pids=$(ip netns pids "$HOSTNS" 2>/dev/null; ip netns pids "$KERNNS" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null
    ip netns del "$HOSTNS" 2>/dev/null
    ip netns del "$KERNNS" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "bench-short-transfer: $*" >&2; exit 1; }

# The server: a 9-byte request ('U' or 'D', then the size as 8 bytes big-endian). Upload: read
# that many bytes, answer one byte. Download: send that many bytes, close.
SERVER=$(cat <<'EOF'
import socket, struct, sys, threading
payload = bytes(range(256)) * (1 << 14)
def recv_exact(c, n):
    got = 0
    while got < n:
        b = c.recv(min(1 << 20, n - got))
        if not b: return got
        got += len(b)
    return got
def handle(c):
    try:
        head = b''
        while len(head) < 9:
            b = c.recv(9 - len(head))
            if not b: return
            head += b
        op, n = head[:1], struct.unpack('>Q', head[1:])[0]
        if op == b'U':
            if recv_exact(c, n) == n: c.sendall(b'k')
        else:
            while n > 0:
                chunk = memoryview(payload)[:min(n, len(payload))]
                c.sendall(chunk); n -= len(chunk)
    finally:
        c.close()
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(128)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
)

# The client: for each direction and size, one warm-up transfer, then R timed ones, each on a
# new connection. Prints "up|down SIZE MEDIAN_MS BEST_MS" (or "fail" after a 20 s timeout or an
# error).
CLIENT=$(cat <<'EOF'
import socket, struct, sys, time
host, port, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sizes = [int(x) for x in sys.argv[4].split(',')]
def transfer(op, n):
    data = bytes(n) if op == b'U' else b''
    t0 = time.perf_counter()
    s = socket.create_connection((host, port), timeout=20)
    try:
        if op == b'U':
            s.sendall(op + struct.pack('>Q', n) + data)
            if s.recv(1) != b'k': raise OSError('no confirmation')
        else:
            s.sendall(op + struct.pack('>Q', n))
            got = 0
            while True:
                b = s.recv(1 << 20)
                if not b: break
                got += len(b)
            if got != n: raise OSError('short download')
    finally:
        s.close()
    return (time.perf_counter() - t0) * 1000
for op, name in ((b'U', 'up'), (b'D', 'down')):
    for n in sizes:
        try:
            transfer(op, n)
            times = sorted(transfer(op, n) for _ in range(reps))
            print('%s %d %.3f %.3f' % (name, n, times[len(times) // 2], times[0]), flush=True)
        except OSError:
            print('%s %d fail' % (name, n), flush=True)
EOF
)

ip netns add "$HOSTNS" || fail "cannot create namespace $HOSTNS"
ip netns add "$KERNNS" || fail "cannot create namespace $KERNNS"
ip -n "$HOSTNS" link set lo up
ip -n "$KERNNS" link set lo up
ip link add "bsth$$" netns "$HOSTNS" type veth peer name "bstk$$" netns "$KERNNS" || fail "cannot create the veth pair"
ip -n "$HOSTNS" addr add 10.78.0.1/24 dev "bsth$$"
ip -n "$KERNNS" addr add 10.78.0.2/24 dev "bstk$$"
ip -n "$HOSTNS" link set "bsth$$" up
ip -n "$KERNNS" link set "bstk$$" up

exec 3< <(ip netns exec "$HOSTNS" python3 -c "$SERVER" "$PORT")
read -r -t 10 line <&3 || true
[ "${line:-}" = ready ] || fail "the server did not start"

declare -A RESULT BEST
SIZE_LIST=$(echo "$SIZES" | tr ' ' ',')
record() { # $1 row, $2 MTU, then the client's lines on stdin
    local direction size ms best
    while read -r direction size ms best; do
        RESULT[$1,$2,$direction,$size]=$ms
        BEST[$1,$2,$direction,$size]=${best:-fail}
    done
}
for mtu in $MTUS; do
    ip -n "$HOSTNS" link set "bsth$$" mtu "$mtu"
    ip -n "$KERNNS" link set "bstk$$" mtu "$mtu"
    # (Process substitution, not a pipe: `record` must run in this shell to fill RESULT.)
    record kernel "$mtu" < <(ip netns exec "$KERNNS" python3 -c "$CLIENT" 10.78.0.1 "$PORT" "$R" "$SIZE_LIST")
    # shellcheck disable=SC2086
    record sandbox "$mtu" < <(ip netns exec "$HOSTNS" "$SANDBOX" run --net=user --mtu "$mtu" --allow-host-loopback \
        $SANDBOX_ARGS -- python3 -c "$CLIENT" 10.0.2.2 "$PORT" "$R" "$SIZE_LIST")
done

ratio() {
    python3 -c 'import sys
try: print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$1" "$2"
}
human() { case $1 in 100000) echo "100 kB" ;; 1000000) echo "1 MB" ;; *) echo "$1 B" ;; esac; }

echo "bench-short-transfer, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ms per transfer, a new connection each: median of R=$R (best in brackets); the ratio is of the medians"
echo
echo "| MTU | transfer | kernel veth ms | sandbox ms | sandbox / kernel |"
echo "|---:|---|---:|---:|---:|"
for mtu in $MTUS; do
    for direction in up down; do
        for size in $SIZES; do
            k=${RESULT[kernel,$mtu,$direction,$size]:-fail}
            s=${RESULT[sandbox,$mtu,$direction,$size]:-fail}
            echo "| $mtu | $(human "$size") $direction | $k (${BEST[kernel,$mtu,$direction,$size]:-fail}) |" \
                "$s (${BEST[sandbox,$mtu,$direction,$size]:-fail}) | $(ratio "$s" "$k") |"
        done
    done
done
