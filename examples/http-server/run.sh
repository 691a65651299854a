#!/bin/bash
# A web server inside the sandbox, published on the host side with -p 8080:80 and fetched there
# with curl. Usage (as root): examples/http-server/run.sh SANDBOX_BIN
source "$(dirname "$0")/../lib/hostside.bash"
HOST_ADDR=198.51.100.1

step "host side: network namespace $HS (no uplink), address $HOST_ADDR"
hostside_up "$HOST_ADDR"

step "sandbox run --net=user -p 8080:80 -- busybox httpd on port 80 inside"
# The program: write a page, show the sandbox's network, serve the page on port 80 (in the
# foreground: the server is the sandbox's program, so stopping the sandbox stops it).
APP='
mkdir -p /tmp/www
echo "hello from inside the sandbox (hostname $(hostname))" >/tmp/www/index.html
echo "   [sandbox] eth0 $(ip -4 -o addr show dev eth0 | awk "{print \$4}"); serving /tmp/www on port 80"
exec busybox httpd -f -p 80 -h /tmp/www
'
background "$SANDBOX" run --net=user -p 8080:80 -- sh -c "$APP"
launcher=$LAST_PID

# fetch URL: curl from the host side until the sandbox answers; fails when the sandbox is gone
# or never answers (the caller says so: `fail` in a $(...) would end only that subshell).
fetch() {
    local page _
    for _ in $(seq 150); do
        kill -0 "$launcher" 2>/dev/null || return 1
        page=$(HX curl -sS --max-time 2 "$1" 2>/dev/null) && [ -n "$page" ] && { echo "$page"; return 0; }
        sleep 0.1
    done
    return 1
}

step "host side: curl http://127.0.0.1:8080/ (the published port)"
page=$(fetch http://127.0.0.1:8080/) || fail "no answer at http://127.0.0.1:8080/ (is the sandbox still running?)"
echo "   got: $page"
[[ "$page" == "hello from inside the sandbox (hostname sandbox)" ]] || fail "unexpected page: $page"

step "host side: curl http://$HOST_ADDR:8080/ (no HOST_IP in -p: every host-side address)"
page=$(fetch "http://$HOST_ADDR:8080/") || fail "no answer at http://$HOST_ADDR:8080/"
echo "   got: $page"
[[ "$page" == "hello from inside the sandbox"* ]] || fail "unexpected page: $page"

step "stop the sandbox: SIGTERM goes to the server inside"
kill -TERM "$launcher"
wait "$launcher"
rc=$?
BG_PIDS=("${BG_PIDS[@]/$launcher}")  # reaped: never signal that pid again
echo "   sandbox exited with $rc (143 = 128+SIGTERM: the server ended by the signal)"
if HX curl -s --max-time 2 -o /dev/null http://127.0.0.1:8080/; then fail "port 8080 still answers after the sandbox stopped"; fi
echo "   port 8080 is closed again"
ok
