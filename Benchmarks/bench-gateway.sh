#!/bin/bash
# bench-gateway.sh: the --net=user gateway beside its peers, measured in the same run on the same
# machine, printed as a markdown table (the README quotes it):
#   kernel veth        the limit: two namespaces joined by a veth pair, no user-space hop
#   slirp4netns        the established user-mode peer (tap0, MTU 65520)
#   pasta              passt's namespace mode, the newer user-mode peer (MTU 65520)
#   sandbox --net=user this project's gateway (`sandbox run --net=user --allow-host-loopback`)
# Columns: iperf3 upload and download (Gbit/s), sockperf TCP ping-pong average latency (us), and
# wrk -t1 -c32 with `Connection: close` (connections/s: one request per connection), then the
# ratio of each to slirp4netns.
#
# All servers run in a throwaway "host side" namespace with no uplink, so nothing leaves the
# machine; the user-mode peers reach it at 10.0.2.2 (their host-loopback address). Every
# namespace and process made here is removed on every exit path.
#
# usage (root): Benchmarks/bench-gateway.sh [SANDBOX_BIN]   (default .build/static/release/sandbox)
# env: T=seconds per iperf3/wrk run (5); ROWS="kernel slirp pasta sandbox" and
#      COLUMNS="up down lat conn" pick a subset; SANDBOX_ARGS adds options to `sandbox run`.
# Not part of `make test`: it measures, it does not assert.
set -u
T=${T:-5}
ROWS=${ROWS:-kernel slirp pasta sandbox}
COLUMNS=${COLUMNS:-up down lat conn}
SANDBOX=${1:-.build/static/release/sandbox}
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
http { access_log off; server { listen 8080 backlog=4096; location / { return 200 "ok\n"; } } }
EOF
ip netns exec "$HOSTNS" nginx -c "$WORK/nginx.conf" &
for port in 5401 5402 5403 5404 5405 5406 5407 5408; do
    ip netns exec "$HOSTNS" iperf3 -s -p "$port" >/dev/null 2>&1 &
done
ip netns exec "$HOSTNS" sockperf server --tcp -p 11112 >/dev/null 2>&1 &
sleep 1

# Measurements. $1 = command prefix that runs a client in the row's network, $2 = server
# address, then a port. Each prints a number or "fail".
measure_iperf() { # $3 port, $4 extra iperf3 option (-R = download)
    $1 iperf3 -c "$2" -p "$3" -t "$T" ${4:-} -J 2>/dev/null | python3 -c '
import json, sys
try: print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))
except Exception: print("fail")'
}
measure_latency() {
    local out
    out=$($1 sockperf ping-pong --tcp -i "$2" -p 11112 -t 3 2>/dev/null | sed -nE 's/.*avg-latency=([0-9.]+).*/\1/p' | head -1)
    echo "${out:-fail}"
}
measure_connections() {
    local out
    out=$($1 wrk -t1 -c32 -d"$T" -H 'Connection: close' "http://$2:8080/" 2>/dev/null | awk '/Requests\/sec/ {print $2}')
    echo "${out:-fail}"
}

declare -A RESULT
measure_row() { # $1 row name, $2 prefix, $3 address, $4 upload port, $5 download port
    local column
    for column in $COLUMNS; do
        case $column in
        up) RESULT[$1,up]=$(measure_iperf "$2" "$3" "$4") ;;
        down) RESULT[$1,down]=$(measure_iperf "$2" "$3" "$5" -R) ;;
        lat) RESULT[$1,lat]=$(measure_latency "$2" "$3") ;;
        conn) RESULT[$1,conn]=$(measure_connections "$2" "$3") ;;
        esac
    done
}

for row in $ROWS; do
    case $row in
    kernel)
        measure_row kernel "ip netns exec $KERNNS" 10.77.0.1 5401 5402 ;;
    slirp)
        # slirp4netns drives tap0 in a child namespace of the host side; 10.0.2.2 is the host
        # side's loopback.
        ip netns exec "$HOSTNS" unshare -n sleep infinity &
        SLIRP_HOLDER=$!
        sleep 0.3
        ip netns exec "$HOSTNS" slirp4netns --configure --mtu=65520 "$SLIRP_HOLDER" tap0 >/dev/null 2>&1 &
        sleep 1
        measure_row slirp "nsenter -t $SLIRP_HOLDER -n" 10.0.2.2 5403 5404 ;;
    pasta)
        # As root pasta keeps uid 0 (--runas 0) without capabilities: it joins a namespace
        # whose user namespace root owns, and opens /dev/net/tun (0600) there as its owner.
        ip netns exec "$HOSTNS" unshare -Urn sleep infinity &
        PASTA_HOLDER=$!
        sleep 0.3
        ip netns exec "$HOSTNS" pasta --runas 0 --quiet --config-net -4 -m 65520 "$PASTA_HOLDER" >/dev/null 2>&1 \
            || fail "pasta did not start"
        sleep 0.5
        measure_row pasta "nsenter -t $PASTA_HOLDER -n" 10.77.0.254 5407 5408 ;;
    sandbox)
        # shellcheck disable=SC2086
        measure_row sandbox "ip netns exec $HOSTNS $SANDBOX run --net=user --allow-host-loopback $SANDBOX_ARGS --" \
            10.0.2.2 5405 5406 ;;
    *) fail "unknown row $row (kernel, slirp, pasta, sandbox)" ;;
    esac
done

# The table. Ratios: higher is better for throughput and conn/s, lower for latency.
ratio() { # $1 value, $2 slirp's value
    python3 -c 'import sys
try: print("%.2fx" % (float(sys.argv[1]) / float(sys.argv[2])))
except Exception: print("-")' "$1" "$2"
}
label() { case $1 in kernel) echo "kernel veth" ;; slirp) echo "slirp4netns" ;; pasta) echo "pasta" ;; sandbox) echo "sandbox --net=user" ;; esac; }
heading() { case $1 in up) echo "up Gbit/s" ;; down) echo "down Gbit/s" ;; lat) echo "latency us" ;; conn) echo "conn/s" ;; esac; }

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
