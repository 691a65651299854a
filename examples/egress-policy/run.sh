#!/bin/bash
# Egress policy: the sandboxed program may reach one destination and is refused another, and
# --log-connections records both verdicts. First by address (--allow CIDR:PORTS, then --deny
# all), then by name (--allow-domain NAME:PORTS: admitted only once the gateway's DNS forwarder
# has answered that name; under --deny all it refuses every other name without asking upstream). Usage (as root): examples/egress-policy/run.sh SANDBOX_BIN
source "$(dirname "$0")/../lib/hostside.bash"
API=198.51.100.10
OTHER=198.51.100.20

step "host side: network namespace $HS (no uplink); on the remote side beside it web servers on $API:8000 (the API) and $OTHER:8000 (anything else)"
hostside_up 198.51.100.1
remote_up "$API" "$OTHER"
for addr in "$API" "$OTHER"; do
    mkdir -p "$WORK/www-$addr"
    echo "hello from $addr" >"$WORK/www-$addr/index.html"
    remote_background "$PY" -m http.server 8000 --bind "$addr" --directory "$WORK/www-$addr" >/dev/null 2>&1
done
# A DNS server on the host side's loopback, the gateway's upstream (--dns): never the machine's own.
background "$PY" "$EXAMPLE_DIR/../lib/dns.py" 127.0.0.1 5353 "api.example.test=$API" "other.example.test=$OTHER"
wait_for_http "http://$API:8000/"
wait_for_http "http://$OTHER:8000/"

# try URL...: inside the sandbox, fetch each URL and say what happened.
APP='
for url in "$@"; do
    if page=$(curl -sS --max-time 10 "$url" 2>&1); then
        echo "   [sandbox] $url -> $page"
    else
        echo "   [sandbox] $url -> refused (curl exit status $?: $page)"
    fi
done
'

# check_log FILE: print the connection log; both verdicts must be in it, for the right addresses.
check_log() {
    echo "   connection log ($1):"
    sed 's/^/     /' "$1"
    grep '"verdict":"allow"' "$1" | grep -q "$API" || fail "no allow verdict for $API in the log"
    grep '"verdict":"deny"' "$1" | grep -q "$OTHER" || fail "no deny verdict for $OTHER in the log"
    if grep '"verdict":"allow"' "$1" | grep -q "$OTHER"; then fail "$OTHER was allowed"; fi
}

step "by address: --allow $API/32:8000 --deny all (first match decides; all is both families)"
out=$(HX "$SANDBOX" run --net=user --allow "$API/32:8000" --deny all --log-connections "$WORK/by-address.jsonl" \
      -- sh -c "$APP" app "http://$API:8000/" "http://$OTHER:8000/" 2>&1)
echo "$out"
grep -qF "http://$API:8000/ -> hello from $API" <<<"$out" || fail "the allowed destination was not reached"
grep -qF "http://$OTHER:8000/ -> refused" <<<"$out" || fail "the denied destination was reached"
check_log "$WORK/by-address.jsonl"

step "by name: --dns 127.0.0.1:5353 --allow-domain api.example.test:8000 --deny all (other names: REFUSED by the forwarder)"
out=$(HX "$SANDBOX" run --net=user --dns 127.0.0.1:5353 --allow-domain api.example.test:8000 --deny all \
      --log-connections "$WORK/by-name.jsonl" \
      -- sh -c "$APP" app http://api.example.test:8000/ http://other.example.test:8000/ 2>&1)
echo "$out"
grep -qF "http://api.example.test:8000/ -> hello from $API" <<<"$out" || fail "the allowed name was not reached"
grep -qF "http://other.example.test:8000/ -> refused" <<<"$out" || fail "the other name was reached"
echo "   connection log ($WORK/by-name.jsonl):"
sed 's/^/     /' "$WORK/by-name.jsonl"
grep '"verdict":"allow"' "$WORK/by-name.jsonl" | grep -q "$API" || fail "no allow verdict for $API in the log"
grep '"protocol":"dns"' "$WORK/by-name.jsonl" | grep '"outcome":"refused"' | grep -q other.example.test \
    || fail "the forwarder did not refuse other.example.test"
if grep -q "$OTHER" "$WORK/by-name.jsonl"; then fail "$OTHER was resolved or reached"; fi
ok
