#!/bin/bash
# sandbox run --net=user through the real CLI, with the host side in a throwaway namespace with
# no uplink (the launcher itself runs there, so the gateway's host sockets do too).
source "$(dirname "$0")/lib/netuser-common.bash"

# The app's side of the link.
out=$(SB -- ip -4 -o addr show dev eth0 2>&1)
expect_match "eth0 has 10.0.2.100/24" " 10\.0\.2\.100/24 " "$out"
expect_match "default route via the gateway" "default via 10\.0\.2\.2 dev eth0" "$(SB -- ip route 2>&1)"
expect_eq "--net=user is the default" "10.0.2.100" "$(SB -- sh -c "ip -4 -o addr show dev eth0 | awk '{print \$4}' | cut -d/ -f1" 2>&1)"
expect_eq "MTU 65520" "65520" "$(SB -- cat /sys/class/net/eth0/mtu 2>&1)"
expect_eq "--mtu" "9000" "$(SB --mtu 9000 -- cat /sys/class/net/eth0/mtu 2>&1)"
out=$(SB --cidr 10.9.0.0/24 -- sh -c 'ip -4 -o addr show dev eth0; ip route; cat /etc/resolv.conf' 2>&1)
expect_match "--cidr moves the app" " 10\.9\.0\.100/24 " "$out"
expect_match "--cidr moves the gateway" "default via 10\.9\.0\.2 " "$out"
expect_match "--cidr moves the DNS forwarder" "nameserver 10\.9\.0\.3" "$out"
expect_match "resolv.conf points at the forwarder" "^nameserver 10\.0\.2\.3" "$(SB -- cat /etc/resolv.conf 2>&1)"
expect_match "hosts names the sandbox" "10\.0\.2\.100 box" "$(SB --hostname box -- cat /etc/hosts 2>&1)"
# IPv6 from the first instruction (a fixed address without DAD and a default route), then
# SLAAC from the gateway's router advertisement as well.
out=$(SB -- sh -c 'ip -6 -o addr show dev eth0 scope global; ip -6 route show default
    ping -c 1 -W 2 fd00::2 >/dev/null && echo ping6=ok
    for i in $(seq 100); do ip -6 -o addr show dev eth0 scope global | grep -v "fd00::100/" | grep -q "fd00::" && echo slaac=ok && break; sleep 0.1; done' 2>&1)
expect_match "IPv6 address at once" "inet6 fd00::100/64" "$out"
expect_match "IPv6 default route at once" "default via fd00::2 " "$out"
expect_match "ping6 the gateway at once" "ping6=ok" "$out"
expect_match "IPv6 address from the gateway's router advertisement" "slaac=ok" "$out"
check_no_leftovers "address checks"

# ping: the gateway answers for itself; beyond it the host's ping sockets carry the echo (this
# hostsim allows them; where ping_group_range forbids them the gateway answers nothing).
SB -- ping -c 1 -W 5 10.0.2.2 >/dev/null 2>&1; expect_eq "ping the gateway" 0 $?
SB -- ping -c 1 -W 5 "$REMOTE_ADDR" >/dev/null 2>&1; expect_eq "ping a remote address" 0 $?

# TCP out through the gateway, by address.
expect_eq "curl to the host side" "hello-from-host" "$(SB -- curl -sS --max-time 10 "http://$REMOTE_ADDR:8000/" 2>&1)"
for mode in readv recvmmsg; do
    expect_eq "curl with --dispatch $mode" "hello-from-host" "$(SB --dispatch $mode -- curl -sS --max-time 10 "http://$REMOTE_ADDR:8000/" 2>&1)"
done
expect_eq "wget to the host side" "hello-from-host" "$(SB -- wget -q -T 10 -O - "http://$REMOTE_ADDR:8000/" 2>&1)"

# DNS through the forwarder at 10.0.2.3, to a server on hostsim's loopback.
expect_eq "DNS query via 10.0.2.3" "$REMOTE_ADDR" "$(SB --dns 127.0.0.1:5353 -- dig +short +time=3 +tries=2 @10.0.2.3 web.example.test A 2>&1)"
expect_eq "curl by name (resolv.conf -> forwarder)" "hello-from-host" \
    "$(SB --dns 127.0.0.1:5353 -- curl -sS --max-time 10 "http://web.example.test:8000/" 2>&1)"

# A refused port: the host's RST becomes the app's ECONNREFUSED, not a timeout.
connect_errno() {  # prints the connect outcome as the app's kernel reports it
    echo "import socket,sys
s = socket.socket(); s.settimeout(10)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print('connected')
except OSError as e:
    print(type(e).__name__)"
}
expect_eq "refused port -> ECONNREFUSED" "ConnectionRefusedError" "$(SB -- python3 -c "$(connect_errno)" "$REMOTE_ADDR" 9 2>&1)"

# --deny: refused at once and logged.
out=$(SB --deny "$REMOTE_ADDR/32:8000" --log-connections "$WORK/conn.jsonl" -- sh -c \
    "curl -sS --max-time 10 http://$REMOTE_ADDR:8000/; echo rc=\$?; curl -sS --max-time 10 http://$REMOTE_ADDR:8001/ >/dev/null 2>&1; echo rc2=\$?" 2>&1)
expect_match "denied destination -> refused" "rc=7" "$out"
expect_eq "denied destination -> ECONNREFUSED" "ConnectionRefusedError" \
    "$(SB --log-level error --deny "$REMOTE_ADDR/32" -- python3 -c "$(connect_errno)" "$REMOTE_ADDR" 8000 2>&1)"
expect_match "a port the rule does not cover is not denied (refused by the host)" "rc2=7" "$out"
expect_match "deny logged" "\"verdict\":\"deny\".*$REMOTE_ADDR" "$(grep -F ":8000" "$WORK/conn.jsonl" 2>&1)"
expect_match "allowed flow logged" "\"verdict\":\"allow\"" "$(grep -F ":8001" "$WORK/conn.jsonl" 2>&1)"
out=$(SB --allow "$REMOTE_ADDR/32:8000" --deny all -- curl -sS --max-time 10 "http://$REMOTE_ADDR:8000/" 2>&1)
expect_eq "first match wins (--allow one, then --deny all)" "hello-from-host" "$out"
out=$(SB --deny all --allow "$REMOTE_ADDR/32:8000" -- sh -c "curl -sS --max-time 10 http://$REMOTE_ADDR:8000/; echo rc=\$?" 2>&1)
expect_match "first match wins (--deny all, then --allow one)" "rc=7" "$out"

# --allow-domain: an address is admitted once the forwarder answered it for that name.
out=$(SB --dns 127.0.0.1:5353 --allow-domain web.example.test --deny all -- sh -c \
    "curl -sS --max-time 10 http://$REMOTE_ADDR:8000/ >/dev/null 2>&1; echo before=\$?; curl -sS --max-time 10 http://web.example.test:8000/" 2>&1)
expect_match "--allow-domain: the address is denied before the name was resolved" "before=7" "$out"
expect_match "--allow-domain: allowed by name" "hello-from-host" "$out"

# Host loopback: closed by default, open with the flag (the gateway address maps to 127.0.0.1).
out=$(SB -- sh -c 'curl -sS --max-time 10 http://10.0.2.2:8001/; echo rc=$?' 2>&1)
expect_match "host loopback unreachable by default" "rc=7" "$out"
expect_eq "host loopback with --allow-host-loopback" "hello-from-loopback" \
    "$(SB --allow-host-loopback -- curl -sS --max-time 10 http://10.0.2.2:8001/ 2>&1)"
out=$(SB -- sh -c 'curl -sS --max-time 5 http://169.254.169.254/; echo rc=$?' 2>&1)
expect_match "link-local blocked" "rc=7" "$out"
check_no_leftovers "outbound runs"

# A published port: hostsim's curl reaches a server inside the sandbox.
ip netns exec "$HS" "$SANDBOX" run -p 8080:80 -- sh -c \
    'mkdir -p /tmp/www && echo hello-from-app >/tmp/www/index.html && exec busybox httpd -f -p 80 -h /tmp/www' &
launcher=$!
got=""
for _ in $(seq 100); do
    got=$(HX curl -s --max-time 2 http://127.0.0.1:8080/ 2>/dev/null) && [ -n "$got" ] && break
    sleep 0.1
done
expect_eq "-p 8080:80 from hostsim's loopback" "hello-from-app" "$got"
expect_eq "-p 8080:80 from hostsim's address" "hello-from-app" "$(HX curl -s --max-time 5 "http://$HOST_ADDR:8080/" 2>&1)"
kill -TERM "$launcher"; wait "$launcher"; rc=$?
expect_eq "SIGTERM reaches the app (143)" 143 $rc
check_no_leftovers "published port"

# The source address the app sees on a published port: the client's own when it is not loopback.
ip netns exec "$HS" "$SANDBOX" run -p 8081:81 -- python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("", 81)); s.listen()
while True:
    c, peer = s.accept(); c.sendall(peer[0].encode()); c.close()' &
launcher=$!
got=""
for _ in $(seq 100); do
    got=$(HX socat -t 5 -T 5 - "TCP:$HOST_ADDR:8081" </dev/null 2>/dev/null) && [ -n "$got" ] && break
    sleep 0.1
done
expect_eq "published port: the app sees the client's address" "$HOST_ADDR" "$got"
kill -TERM "$launcher"; wait "$launcher" 2>/dev/null
check_no_leftovers "published port, source address"

# --pcap: tshark reads the capture, and it holds the HTTP exchange.
SB --pcap "$WORK/run.pcap" -- curl -sS -o /dev/null --max-time 10 "http://$REMOTE_ADDR:8000/" 2>&1
frames=$(tshark -r "$WORK/run.pcap" 2>/dev/null | wc -l)
if [ "$frames" -gt 0 ]; then ok; else bad "pcap: tshark read no frames"; fi
expect_match "pcap holds the HTTP request" "GET / HTTP/1.1" "$(tshark -r "$WORK/run.pcap" -Y http.request 2>/dev/null)"

# Rootless: the same network as an unprivileged user (the gateway's namespace is made inside
# the sandbox's user namespace).
cp "$SANDBOX" "$WORK/sandbox-rootless"; chmod 755 "$WORK/sandbox-rootless"
rootless_uid=$((54000 + $$ % 1000))
out=$(ip netns exec "$HS" setpriv --reuid $rootless_uid --regid $rootless_uid --clear-groups \
    "$WORK/sandbox-rootless" run -- sh -c "id -u; ip -4 -o addr show dev eth0; curl -sS --max-time 10 http://$REMOTE_ADDR:8000/; ping -c 1 -W 5 10.0.2.2 >/dev/null && echo ping=ok" 2>&1)
expect_match "rootless: eth0 10.0.2.100" " 10\.0\.2\.100/24 " "$out"
expect_match "rootless: curl through the gateway" "hello-from-host" "$out"
expect_match "rootless: ping the gateway" "ping=ok" "$out"
check_no_leftovers "rootless run"

# Killing the launcher with SIGKILL leaves nothing either (the kernel tears the namespaces down).
ip netns exec "$HS" "$SANDBOX" run -- sleep 60 &
launcher=$!
for _ in $(seq 50); do pgrep -P "$launcher" >/dev/null && break; sleep 0.1; done
sleep 0.3
kill -KILL "$launcher"; wait "$launcher" 2>/dev/null
for _ in $(seq 50); do [ "$(pgrep -fc 'sleep 60$' || true)" = 0 ] && break; sleep 0.1; done
check_no_leftovers "launcher SIGKILLed"

finish
