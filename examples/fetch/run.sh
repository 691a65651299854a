#!/bin/bash
# The sandboxed program fetches from a service on the host side: it resolves the service's name
# through the gateway's DNS forwarder (10.0.2.3, upstream: a tiny DNS server on the host side,
# given with --dns) and connects to the host side's loopback, which --allow-host-loopback makes
# reachable as the gateway address 10.0.2.2. Usage (as root): examples/fetch/run.sh SANDBOX_BIN
source "$(dirname "$0")/../lib/hostside.bash"
NAME=service.example.test

step "host side: network namespace $HS (no uplink); on its 127.0.0.1 a web service (port 8000) and a DNS server (port 5353)"
hostside_up 198.51.100.1
mkdir "$WORK/www"
echo "hello from the service on the host side's loopback" >"$WORK/www/index.html"
background "$PY" -m http.server 8000 --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1
# The name resolves to the gateway address: from inside the sandbox, that is the host's loopback.
background "$PY" "$EXAMPLE_DIR/../lib/dns.py" 127.0.0.1 5353 "$NAME=10.0.2.2"
wait_for_http http://127.0.0.1:8000/
echo "   DNS: $NAME -> 10.0.2.2 (every other name: NXDOMAIN)"

step "sandbox run --net=user --allow-host-loopback --dns 127.0.0.1:5353: resolve $NAME, fetch http://$NAME:8000/"
APP='
echo "   [sandbox] resolv.conf: $(grep nameserver /etc/resolv.conf | tr "\n" " ")"
echo "   [sandbox] nslookup '"$NAME"': $(nslookup '"$NAME"' 2>&1 | awk "/^Address/ && !/#53/ {print \$2}")"
echo "   [sandbox] curl http://'"$NAME"':8000/: $(curl -sS --max-time 10 http://'"$NAME"':8000/ 2>&1)"
if nslookup nothing.example.test >/dev/null 2>&1; then echo "   [sandbox] nothing.example.test resolved?"; else echo "   [sandbox] nothing.example.test: not found (NXDOMAIN from the host-side DNS server)"; fi
'
out=$(HX "$SANDBOX" run --net=user --allow-host-loopback --dns 127.0.0.1:5353 -- sh -c "$APP" 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "the sandbox exited with $rc"
grep -q "^   \[sandbox\] nslookup $NAME: 10.0.2.2$" <<<"$out" || fail "$NAME did not resolve to 10.0.2.2 through 10.0.2.3"
grep -q "8000/: hello from the service on the host side's loopback$" <<<"$out" || fail "the fetch did not return the service's page"
grep -q "nothing.example.test: not found" <<<"$out" || fail "an unknown name resolved"

step "the same without --allow-host-loopback: the host's loopback is out of reach"
out=$(HX "$SANDBOX" run --net=user --dns 127.0.0.1:5353 -- sh -c "curl -sS --max-time 5 http://$NAME:8000/; echo \"curl exit status \$?\"" 2>&1)
echo "$out" | sed 's/^/   [sandbox] /'
grep -q "^curl exit status [1-9]" <<<"$out" || fail "the host's loopback was reachable without --allow-host-loopback"
ok
