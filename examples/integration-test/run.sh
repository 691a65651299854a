#!/bin/bash
# An integration test over a network that misbehaves on request: a client in a sandbox talks to
# a server across a lossy, slow link (--net-loss, --net-delay, applied by the gateway) and
# retries until it gets through; then a detached client is cut off (`sandbox update --net-loss
# 100%`) and healed (`--net-loss 0%`), and its log shows it failing and recovering; last, the
# server runs in a sandbox of its own on a named network, and the client reaches it by name.
# Usage (as root): examples/integration-test/run.sh SANDBOX_BIN
source "$(dirname "$0")/../lib/hostside.bash"
SERVER=198.51.100.10

step "host side: network namespace $HS (no uplink); the server under test on the remote side, $SERVER:8000"
hostside_up 198.51.100.1
remote_up "$SERVER"
mkdir -p "$WORK/www" && echo "order accepted" >"$WORK/www/order"
remote_background "$PY" -m http.server 8000 --bind "$SERVER" --directory "$WORK/www" >/dev/null 2>&1
wait_for_http "http://$SERVER:8000/order"

# The client under test: up to 40 tries, 1 s each, 0.2 s apart; prints each try, exits 0 on success.
CLIENT='
import sys, time, urllib.request
for attempt in range(1, 41):
    try:
        body = urllib.request.urlopen(sys.argv[1], timeout=1).read().decode().strip()
        print(f"   [client] try {attempt}: {body}")
        sys.exit(0)
    except Exception as error:
        print(f"   [client] try {attempt}: {type(error).__name__}")
        time.sleep(0.2)
sys.exit(1)
'

step "a flaky link: --net-loss 30% --net-delay 20ms,5ms --net-seed 7 (each way; the same seed, the same losses)"
HX "$SANDBOX" run --net-loss 30% --net-delay 20ms,5ms --net-seed 7 -- "$PY" -c "$CLIENT" "http://$SERVER:8000/order" \
    || fail "the client never got through the flaky link"

step "a detached client polling the server; cut off with sandbox update --net-loss 100%, then healed"
STATE="$WORK/state"
SB() { HX "$SANDBOX" --root "$STATE" "$@"; }
NET="example$$"
trap 'SB rm -f poller shop >/dev/null 2>&1; SB network rm -f "$NET" >/dev/null 2>&1; cleanup' EXIT
SB run -d --name poller -- sh -c "while :; do
    if curl -s --max-time 1 -o /dev/null http://$SERVER:8000/order; then echo up; else echo down; fi; sleep 0.2; done" >/dev/null
# last_is WORD: waits (10 s at most) until the poller's latest line is WORD.
last_is() { for _ in $(seq 100); do [ "$(SB logs poller | tail -n 1)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
last_is up || fail "the poller never reached the server"
echo "   $(SB update --net-loss 100% poller)"
last_is down || fail "the poller was not cut off"
echo "   $(SB update --net-loss 0% poller)"
last_is up || fail "the poller did not recover"
echo "   the poller's log, runs of the same line: $(SB logs poller | uniq | tr '\n' ' ')"
SB rm -f poller >/dev/null

step "a named network: the server in a sandbox of its own (--name shop), the client reaching it by name over a flaky link"
SB network create "$NET" >/dev/null
SB run -d --name shop --network "$NET" -v "$WORK/www:/srv:ro" -- "$PY" -m http.server 8000 --directory /srv >/dev/null
SB run --network "$NET" --net-loss 30% --net-seed 7 -- "$PY" -c "$CLIENT" "http://shop:8000/order" \
    || fail "the client never reached the server on the named network"
SB rm -f shop >/dev/null
SB network rm "$NET" >/dev/null
ok
