#!/bin/bash
# The main job: a sandbox with networking, end to end, in a throwaway "host" network namespace
# with no uplink (nothing leaves this machine):
#   1. a web server runs on a "remote" side one link from the host side (198.51.100.2:8000;
#      the host side's own addresses are host services, which the gateway keeps closed);
#   2. `sandbox run --net=user -p 8080:8000` starts a program that fetches from it through the
#      user-mode gateway, then serves what it got on its own port 8000;
#   3. the host side fetches that page through the published port 8080.
# Needs root (it makes the throwaway namespace). Cleans up on every path; exits non-zero on failure.
set -uo pipefail
SANDBOX=${1:?usage: demo.sh SANDBOX_BIN}
[ -x "$SANDBOX" ] || { echo "demo: no sandbox binary at $SANDBOX (run make build)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it makes a throwaway network namespace for the host side)" >&2; exit 1; }
SANDBOX=$(readlink -f "$SANDBOX")

HS="sandbox-demo-$$"
RS="sandbox-demo-remote-$$"
HOST_ADDR=198.51.100.1
REMOTE_ADDR=198.51.100.2
WORK=$(mktemp -d /tmp/sandbox-demo.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    ip netns del "$HS" 2>/dev/null
    ip netns del "$RS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "demo: FAILED: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

step "host side: network namespace $HS ($HOST_ADDR, no uplink); remote side $RS with a web server on $REMOTE_ADDR:8000"
ip netns add "$HS" || fail "cannot make a network namespace"
ip netns add "$RS" || fail "cannot make a network namespace"
ip netns exec "$HS" ip link set lo up
ip netns exec "$RS" ip link set lo up
ip netns exec "$HS" ip link add hs0 type veth peer name hs1 netns "$RS"
ip netns exec "$HS" ip addr add "$HOST_ADDR/24" dev hs0
ip netns exec "$RS" ip addr add "$REMOTE_ADDR/24" dev hs1
ip netns exec "$HS" ip link set hs0 up
ip netns exec "$RS" ip link set hs1 up
mkdir "$WORK/www"
echo "hello from the remote side ($(date -u +%H:%M:%S))" >"$WORK/www/index.html"
ip netns exec "$RS" /usr/bin/python3 -m http.server 8000 --bind "$REMOTE_ADDR" --directory "$WORK/www" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do ip netns exec "$HS" curl -s -o /dev/null "http://$REMOTE_ADDR:8000/" && break; sleep 0.1; done
ip netns exec "$HS" curl -s -o /dev/null "http://$REMOTE_ADDR:8000/" || fail "the remote web server did not start"
echo "   serving: $(cat "$WORK/www/index.html")"

step "sandbox run --net=user -p 8080:8000: inside, fetch from the host side, then serve it on port 8000"
# The program: show its network, fetch through the gateway, serve the result on port 8000.
APP='
echo "   [sandbox] eth0: $(ip -4 -o addr show dev eth0 | awk "{print \$4}"), default via $(ip route show default | awk "{print \$3}")"
mkdir -p /tmp/www
if curl -sS --max-time 10 -o /tmp/www/index.html "http://'"$REMOTE_ADDR"':8000/"; then
    echo "   [sandbox] fetched through the gateway: $(cat /tmp/www/index.html)"
else
    echo "   [sandbox] fetch failed"; exit 3
fi
{ echo "served from inside the sandbox; it fetched: $(cat /tmp/www/index.html)"; } >/tmp/www/index.html.new
mv /tmp/www/index.html.new /tmp/www/index.html
echo "   [sandbox] serving on port 8000"
exec busybox httpd -f -p 8000 -h /tmp/www
'
ip netns exec "$HS" "$SANDBOX" run --net=user -p 8080:8000 --log-connections "$WORK/connections.jsonl" -- sh -c "$APP" &
launcher=$!
PIDS=("$launcher" "${PIDS[@]}")

step "host side: fetch the sandbox's page through the published port (127.0.0.1:8080)"
page=""
for _ in $(seq 150); do
    kill -0 "$launcher" 2>/dev/null || break
    page=$(ip netns exec "$HS" curl -s --max-time 2 http://127.0.0.1:8080/ 2>/dev/null) && [ -n "$page" ] && break
    page=""
    sleep 0.1
done
[ -n "$page" ] || fail "no answer on the published port"
echo "   got: $page"
[[ "$page" == "served from inside the sandbox; it fetched: hello from the remote side"* ]] || fail "unexpected page: $page"

step "stop the sandbox (SIGTERM is forwarded to the program)"
kill -TERM "$launcher"
wait "$launcher"
echo "   sandbox exited with $? (128+15: the program ended by SIGTERM)"
PIDS=("${PIDS[@]:1}")
echo "   connection log (the gateway's view):"
sed 's/^/     /' "$WORK/connections.jsonl" 2>/dev/null
left=$(ip netns exec "$HS" ip -o link show | grep -vcE ': (lo|hs0|hs1)[@:]')
[ "$left" = 0 ] || fail "$left link(s) left in the host-side namespace"
echo "   nothing left behind: the sandbox's namespaces and veth went with it"

printf '\ndemo: OK\n'
