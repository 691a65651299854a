#!/bin/bash
# Published ports (-p) in docker's and podman's forms, from a throwaway host namespace: both
# families without a host address, an IPv6 host address end to end, ranges, a host port the
# kernel picks (printed, and shown by `sandbox ps`), UDP, the source address the app sees, and
# the messages of the failures people meet first.
source "$(dirname "$0")/lib/netuser-common.bash"

# The app: TCP ports 80-82 answer "PORT CLIENT-ADDRESS" and close; UDP 53 echoes "udp DATA".
PEER='
import socket, threading
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", port)); s.listen()
    while True:
        c, peer = s.accept(); c.sendall(f"{port} {peer[0]}".encode()); c.close()
for p in (80, 81, 82): threading.Thread(target=tcp, args=(p,), daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("", 53))
while True:
    d, peer = u.recvfrom(2048); u.sendto(b"udp " + d, peer)'
# ask SOCAT-ADDRESS: what the app answered there (empty if nothing did within 3 s). socat
# half-closes at once (stdin is empty) and then waits only -t (0.5 s unless given) for the
# answer, so -t, not -T, is the wait.
ask() { HX socat -t 3 -T 3 - "$1" </dev/null 2>/dev/null; }
# wait_for SOCAT-ADDRESS: until the app answers there (the sandbox is starting).
wait_for() { for _ in $(seq 100); do [ -n "$(ask "$1")" ] && return; sleep 0.1; done; }

# (`ip netns exec` execs in place, so $! is the launcher; never the SB function with &.)
ip netns exec "$HS" "$SANDBOX" run -p 18080:80 -p '[::1]:18081:81' -p 127.0.0.1:18090-18092:80-82 -p 81 \
    -p 18053:53/udp --log-connections "$WORK/ports.jsonl" -- python3 -c "$PEER" 2>"$WORK/ports.err" &
launcher=$!
wait_for TCP4:127.0.0.1:18080
expect_eq "-p 18080:80 from IPv4 loopback: shown as the gateway" "80 10.0.2.2" "$(ask TCP4:127.0.0.1:18080)"
expect_eq "-p 18080:80 from the host's IPv4 address: the client's own" "80 $HOST_ADDR" "$(ask "TCP4:$HOST_ADDR:18080")"
expect_eq "-p 18080:80 listens on IPv6 too (::1)" "80 10.0.2.2" "$(ask 'TCP6:[::1]:18080')"
expect_eq "-p 18080:80 from the host's IPv6 address" "80 10.0.2.2" "$(ask "TCP6:[$HOST_ADDR6]:18080")"
expect_eq "-p [::1]:18081:81 carries IPv6 end to end" "81 10.0.2.2" "$(ask 'TCP6:[::1]:18081')"
expect_eq "-p [::1]:18081:81 is IPv6 only" "" "$(ask TCP4:127.0.0.1:18081)"
expect_eq "a range: its first port" "80 10.0.2.2" "$(ask TCP4:127.0.0.1:18090)"
expect_eq "a range: its last port" "82 10.0.2.2" "$(ask TCP4:127.0.0.1:18092)"
chosen=$(sed -n 's|^sandbox: -p 81/tcp: host port \([0-9]*\) (\*:[0-9]*)$|\1|p' "$WORK/ports.err")
expect_match "-p 81: the kernel's pick is printed" "^[0-9]+$" "$chosen"
expect_eq "-p 81: the printed port reaches the app" "81 10.0.2.2" "$(ask "TCP4:127.0.0.1:${chosen:-1}")"
expect_eq "UDP over IPv4" "udp v4" "$(echo v4 | HX socat -t 3 -T 3 - UDP4:127.0.0.1:18053 2>/dev/null)"
expect_eq "UDP over IPv6 on the same -p" "udp v6" "$(echo v6 | HX socat -t 3 -T 3 - 'UDP6:[::1]:18053' 2>/dev/null)"
kill -TERM "$launcher"; wait "$launcher" 2>/dev/null
expect_match "the log names an IPv4 client of the dual-stack socket as IPv4" '"source":"127\.0\.0\.1:[0-9]+","destination":"10\.0\.2\.100:80"' "$(cat "$WORK/ports.jsonl")"
expect_eq "... never in its IPv4-mapped form" 0 "$(grep -c '::ffff:' "$WORK/ports.jsonl")"
check_no_leftovers "published ports"

# Detached: `sandbox ps` shows the host port the kernel picked.
cleanup_detached() { R rm -f ports1 >/dev/null 2>&1; }
CLEANUPS+=("cleanup_detached")
R run -d --name ports1 -p 80 -- python3 -c "$PEER" >/dev/null
ps_ports=$(R ps | awk '$1 == "ports1" {print}')
shown=$(grep -oE '\b[0-9]+:80/tcp' <<<"$ps_ports" | cut -d: -f1)
expect_match "ps shows the chosen host port" "^[1-9][0-9]*$" "$shown"
wait_for "TCP4:127.0.0.1:${shown:-1}"
expect_eq "the port ps shows reaches the app" "80 10.0.2.2" "$(ask "TCP4:127.0.0.1:${shown:-1}")"
R rm -f ports1 >/dev/null; expect_eq "rm -f" "" "$(R ps -a | tail -n +2)"

# Failures name the flag, the value and the fix.
HX python3 -c 'import socket,time; s=socket.socket(); s.bind(("127.0.0.1", 18099)); s.listen(); time.sleep(30)' &
holder=$!
SERVER_PIDS+=($holder)
for _ in $(seq 50); do HX ss -ltn | grep -q 127.0.0.1:18099 && break; sleep 0.1; done
out=$(SB -p 127.0.0.1:18099:80 -- true 2>&1); rc=$?
expect_eq "a port in use -> 125" 125 $rc
expect_eq "a port in use: the flag, the address, the fix" \
    "sandbox: start the gateway: -p 127.0.0.1:18099:80/tcp: cannot listen on 127.0.0.1:18099: Address already in use (errno 98) (another program holds the port; pick another host port)" "$out"
cp "$SANDBOX" "$WORK/sandbox-rootless"; chmod 755 "$WORK/sandbox-rootless"
rootless_uid=$((55000 + $$ % 1000))
out=$(ip netns exec "$HS" setpriv --reuid $rootless_uid --regid $rootless_uid --clear-groups \
    "$WORK/sandbox-rootless" run -p 80:80 -- true 2>&1)
expect_match "rootless -p 80: the privileged-port hint" "ports below 1024 need root; to allow this one: sysctl -w net.ipv4.ip_unprivileged_port_start=80\)$" "$out"
expect_eq "a range of unequal lengths" "sandbox: -p 8080-8081:80: the host and app port ranges must be the same length" \
    "$(SB -p 8080-8081:80 -- true 2>&1)"
expect_eq "a host port twice" "sandbox: -p 8080:81: that host port is already published" \
    "$(SB -p 8080:80 -p 8080:81 -- true 2>&1)"
expect_match "too many ports" "at most 1024 published ports in all" "$(SB -p 1-1025:1-1025 -- true 2>&1)"
check_no_leftovers "published-port failures"
finish
