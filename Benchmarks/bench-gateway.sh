#!/bin/bash
# bench-gateway.sh: the --net=user gateway beside its peers, measured in the same run on the same
# machine, printed as a markdown table (the README quotes it):
#   kernel veth        the limit: two namespaces joined by a veth pair, no user-space hop
#   slirp4netns        the established user-mode peer (tap0, MTU 65520)
#   pasta              passt's namespace mode, the newer user-mode peer (MTU 65520)
#   sandbox --net=user this project's gateway (`sandbox run --net=user --allow-host-loopback`)
# Columns (as ../shared/bench/peers.sh takes them): iperf3 upload and download (Gbit/s, one flow),
# up4 (four parallel flows), udp (iperf3 -u, 8000-byte datagrams offered at 20 Gbit/s, received
# Gbit/s), sockperf TCP ping-pong average latency (us), wrk -t1 -c32 keep-alive requests/s (rps)
# and with `Connection: close` (conn/s: one request per connection), and CPU seconds of the whole
# machine per GB moved in the single-flow upload and download (cpu-up, cpu-down: /proc/stat busy
# time over the bytes; lower is better); then the ratio of each to slirp4netns.
#
# All servers run in a throwaway "host side" namespace with no uplink, so nothing leaves the
# machine; the user-mode peers reach it at 10.0.2.2 (their host-loopback address). Every
# namespace and process made here is removed on every exit path.
#
# usage (root): Benchmarks/bench-gateway.sh [SANDBOX_BIN]   (default .build/static/release/sandbox)
# env: T=seconds per iperf3/wrk run (5); ROWS="kernel slirp pasta sandbox" and
#      COLUMNS="up down up4 udp lat rps conn cpu-up cpu-down" pick a subset; SANDBOX_ARGS adds
#      options to `sandbox run`.
# Not part of `make test`: it measures, it does not assert.
set -u
T=${T:-5}
ROWS=${ROWS:-kernel slirp pasta sandbox}
COLUMNS=${COLUMNS:-up down up4 udp lat rps conn cpu-up cpu-down}
SANDBOX=$(realpath -m "${1:-.build/static/release/sandbox}")
SANDBOX_ARGS=${SANDBOX_ARGS:-}

for tool in ip iperf3 sockperf wrk nginx python3; do
    command -v "$tool" >/dev/null || { echo "bench-gateway: $tool is not installed" >&2; exit 1; }
done
case " $ROWS " in *" slirp "*) command -v slirp4netns >/dev/null || { echo "bench-gateway: slirp4netns is not installed" >&2; exit 1; } ;; esac
case " $ROWS " in *" pasta "*) command -v pasta >/dev/null || { echo "bench-gateway: pasta is not installed (apt-get install passt)" >&2; exit 1; } ;; esac
case " $ROWS " in *" sandbox "*) [ -x "$SANDBOX" ] || { echo "bench-gateway: no sandbox binary at $SANDBOX (swift build -c release --product sandbox)" >&2; exit 1; } ;; esac
[ "$(id -u)" = 0 ] || { echo "bench-gateway: run as root (it makes namespaces)" >&2; exit 1; }

HOSTNS=bgw-host-$$
KERNNS=bgw-kern-$$
WORK=$(mktemp -d /tmp/bench-gateway.XXXXXX)
SLIRP_HOLDER=
PASTA_HOLDER=

cleanup() {
    # Everything started here runs in the host-side namespace (servers, slirp4netns, the
    # sandbox) or is the slirp holder: end those processes by pid, then the namespaces.
    local pids
    pids=$(ip netns pids "$HOSTNS" 2>/dev/null; ip netns pids "$KERNNS" 2>/dev/null)
    [ -n "$SLIRP_HOLDER" ] && pids="$pids $SLIRP_HOLDER"
    [ -n "$PASTA_HOLDER" ] && pids="$pids $PASTA_HOLDER"
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill $pids 2>/dev/null
    sleep 0.3
    pids=$(ip netns pids "$HOSTNS" 2>/dev/null; ip netns pids "$KERNNS" 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "${pids// /}" ] && kill -9 $pids 2>/dev/null
    ip netns del "$HOSTNS" 2>/dev/null
    ip netns del "$KERNNS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { echo "bench-gateway: $*" >&2; exit 1; }

# The host side: loopback for the user-mode peers, a veth end for the kernel row.
ip netns add "$HOSTNS" || fail "cannot create namespace $HOSTNS"
ip netns add "$KERNNS" || fail "cannot create namespace $KERNNS"
ip -n "$HOSTNS" link set lo up
ip -n "$KERNNS" link set lo up
ip link add "bgwh$$" netns "$HOSTNS" type veth peer name "bgwk$$" netns "$KERNNS" || fail "cannot create the veth pair"
ip -n "$HOSTNS" link set "bgwh$$" mtu 65520 up
ip -n "$KERNNS" link set "bgwk$$" mtu 65520 up
ip -n "$HOSTNS" addr add 10.77.0.1/24 dev "bgwh$$"
ip -n "$KERNNS" addr add 10.77.0.2/24 dev "bgwk$$"
# pasta copies the host side's addresses and default route into its namespace, and maps the
# route's gateway (10.77.0.254, nobody) to the host side's loopback.
ip -n "$HOSTNS" route add default via 10.77.0.254 dev "bgwh$$"

# Servers: nginx answers "ok" to every request; one iperf3 server per row and direction (a
# server takes one test at a time); sockperf answers ping-pong.
cat >"$WORK/nginx.conf" <<EOF
daemon off; worker_processes 1; pid $WORK/nginx.pid; error_log /dev/null;
events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; server { listen 8080 backlog=4096; location / { return 200 "ok\n"; } } }
EOF
ip netns exec "$HOSTNS" nginx -c "$WORK/nginx.conf" &
for port in $(seq 5401 5424); do
    ip netns exec "$HOSTNS" iperf3 -s -p "$port" >/dev/null 2>&1 &
done
ip netns exec "$HOSTNS" sockperf server --tcp -p 11112 >/dev/null 2>&1 &
sleep 1
# Clients run from /: `sandbox run` binds the working directory read-only, which would hide the
# sandbox's own /tmp when run from /tmp (iperf3 -u writes a temporary file there); from / it binds
# nothing (and says so on stderr).
cd / || fail "cannot enter /"

# Measurements. $1 = command prefix that runs a client in the row's network, $2 = server
# address, then a port. Each prints a number or "fail".
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
measure_iperf() { # $3 port, then extra iperf3 options (-R = download) -> "Gbit/s CPU-s/GB retransmits"
    local prefix=$1 address=$2 port=$3 before after
    shift 3
    before=$(busy_ticks)
    $prefix iperf3 -c "$address" -p "$port" -t "$T" "$@" -J 2>/dev/null >"$WORK/iperf.json"
    after=$(busy_ticks)
    python3 - "$WORK/iperf.json" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
try:
    end = json.load(open(sys.argv[1]))["end"]
    total = end.get("sum_received") or end["sum"]
    cpu = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
    gigabytes = total["bytes"] / 1e9
    retransmits = end.get("sum_sent", {}).get("retransmits", "-")
    print("%.2f %.2f %s" % (total["bits_per_second"] / 1e9, cpu / gigabytes, retransmits))
except Exception:
    print("fail fail -")
PY
}
measure_latency() {
    local out
    out=$($1 sockperf ping-pong --tcp -i "$2" -p 11112 -t 3 2>/dev/null | sed -nE 's/.*avg-latency=([0-9.]+).*/\1/p' | head -1)
    echo "${out:-fail}"
}
measure_requests() { # $3 "close": a new connection per request
    local out header=()
    [ "${3:-}" = close ] && header=(-H 'Connection: close')
    out=$($1 wrk -t1 -c32 -d"$T" "${header[@]}" "http://$2:8080/" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
    echo "${out:-fail}"
}

declare -A RESULT
# The single-flow upload, with the sender's retransmissions. pasta's is taken three times and
# the median run kept: the pasta on this machine (passt 2023-03-09, Debian bookworm) drops
# upload segments inside itself (its tap shows no drops), so its sender stalls on
# retransmission timeouts and one run reads anywhere from 0.05 to 11 Gbit/s. Neither the tap's
# txqueuelen, the MTU, nor the host's socket buffers changed that here.
measure_upload() { # the arguments of measure_row
    local runs=1 run
    [ "$1" = pasta ] && runs=3
    for run in $(seq "$runs"); do measure_iperf "$2" "$3" "$4"; done | sort -n | sed -n "$(((runs + 1) / 2))p" >"$WORK/up"
    read -r "RESULT[$1,up]" "RESULT[$1,cpu-up]" "RESULT[$1,up-retransmits]" <"$WORK/up"
}
measure_row() { # $1 row name, $2 prefix, $3 address, $4 first of the row's three iperf3 ports
    local column figures
    for column in $COLUMNS; do
        case $column in
        up | cpu-up)
            [ -n "${RESULT[$1,up]:-}" ] && continue
            measure_upload "$@" ;;
        down | cpu-down)
            [ -n "${RESULT[$1,down]:-}" ] && continue
            read -r "RESULT[$1,down]" "RESULT[$1,cpu-down]" _ < <(measure_iperf "$2" "$3" "$4" -R) ;;
        up4) read -r "RESULT[$1,up4]" _ < <(measure_iperf "$2" "$3" $(($4 + 1)) -P 4) ;;
        udp) read -r "RESULT[$1,udp]" _ < <(measure_iperf "$2" "$3" $(($4 + 2)) -u -b 20G -l 8000) ;;
        lat) RESULT[$1,lat]=$(measure_latency "$2" "$3") ;;
        rps) RESULT[$1,rps]=$(measure_requests "$2" "$3") ;;
        conn) RESULT[$1,conn]=$(measure_requests "$2" "$3" close) ;;
        *) fail "unknown column $column" ;;
        esac
    done
}

for row in $ROWS; do
    case $row in
    kernel)
        measure_row kernel "ip netns exec $KERNNS" 10.77.0.1 5401 ;;
    slirp)
        # slirp4netns drives tap0 in a child namespace of the host side; 10.0.2.2 is the host
        # side's loopback.
        ip netns exec "$HOSTNS" unshare -n sleep infinity &
        SLIRP_HOLDER=$!
        sleep 0.3
        ip netns exec "$HOSTNS" slirp4netns --configure --mtu=65520 "$SLIRP_HOLDER" tap0 >/dev/null 2>&1 &
        sleep 1
        measure_row slirp "nsenter -t $SLIRP_HOLDER -n" 10.0.2.2 5407 ;;
    pasta)
        # As root pasta keeps uid 0 (--runas 0) without capabilities: it joins a namespace
        # whose user namespace root owns, and opens /dev/net/tun (0600) there as its owner.
        ip netns exec "$HOSTNS" unshare -Urn sleep infinity &
        PASTA_HOLDER=$!
        sleep 0.3
        ip netns exec "$HOSTNS" pasta --runas 0 --quiet --config-net -4 -m 65520 "$PASTA_HOLDER" >/dev/null 2>&1 \
            || fail "pasta did not start"
        sleep 0.5
        measure_row pasta "nsenter -t $PASTA_HOLDER -n" 10.77.0.254 5413 ;;
    sandbox)
        # shellcheck disable=SC2086
        measure_row sandbox "ip netns exec $HOSTNS $SANDBOX run --net=user --allow-host-loopback $SANDBOX_ARGS --" \
            10.0.2.2 5419 ;;
    *) fail "unknown row $row (kernel, slirp, pasta, sandbox)" ;;
    esac
done

# The table. Ratios: higher is better for throughput, rps and conn/s, lower for latency and CPU.
ratio() { # $1 value, $2 slirp's value
    python3 -c 'import sys
try: print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$1" "$2"
}
label() { case $1 in kernel) echo "kernel veth" ;; slirp) echo "slirp4netns" ;; pasta) echo "pasta" ;; sandbox) echo "sandbox --net=user" ;; esac; }
heading() {
    case $1 in
    up) echo "up Gbit/s" ;; down) echo "down Gbit/s" ;; up4) echo "up4 Gbit/s" ;; udp) echo "udp Gbit/s" ;;
    lat) echo "latency us" ;; rps) echo "rps keep-alive" ;; conn) echo "conn/s" ;;
    cpu-up) echo "cpu-up s/GB" ;; cpu-down) echo "cpu-down s/GB" ;;
    esac
}

echo "bench-gateway, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, Linux $(uname -r), T=${T}s, MTU 65520"
echo
line="| path |"; rule="|---|"
for column in $COLUMNS; do line="$line $(heading "$column") |"; rule="$rule---:|"; done
for column in $COLUMNS; do line="$line $(heading "$column" | sed 's/ .*//') vs slirp |"; rule="$rule---:|"; done
echo "$line"; echo "$rule"
for row in $ROWS; do
    line="| $(label "$row") |"
    for column in $COLUMNS; do line="$line ${RESULT[$row,$column]:-fail} |"; done
    for column in $COLUMNS; do line="$line $(ratio "${RESULT[$row,$column]:-}" "${RESULT[slirp,$column]:-}") |"; done
    echo "$line"
done
echo
line="Upload retransmissions (sender):"
for row in $ROWS; do line="$line $(label "$row") ${RESULT[$row,up-retransmits]:--};"; done
echo "${line%;}. pasta's upload is the median of three runs (see measure_upload)."
