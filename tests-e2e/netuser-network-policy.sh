#!/bin/bash
# A named network's policy between its members: a rule that names a member's port, by address
# (`--deny 10.89.231.100:5432`) or by name (`--deny db:7000`), refuses a member's connection to
# it at once (RST from the gateway) over either family, while the same member's other port, and
# the same port on a network without the rule, answer; `--deny all` fences the outside and leaves the members to each other; the
# network's connection log has the member-to-member flows, allowed and denied, and
# `network inspect` counts them.
source "$(dirname "$0")/lib/netuser-common.bash"

FENCED="pol$$a"
OPEN="pol$$b"
CLEANUPS+=('R rm -f "db$$" "opendb$$" >/dev/null 2>&1; NET rm -f "$FENCED" "$OPEN" >/dev/null 2>&1')
serve() { echo "while :; do busybox nc -l -p $1 -e echo $2; done"; }

# The database is the network's first member: host .100.
NET create --cidr 10.89.231.0/24 --dns 127.0.0.1:5353 --deny all --deny 10.89.231.100:5432 \
    --deny "db$$:7000" --log-connections "$WORK/fenced.log" "$FENCED" >/dev/null
NET create --cidr 10.89.232.0/24 --dns 127.0.0.1:5353 "$OPEN" >/dev/null
R run -d --name "db$$" --network "$FENCED" -- sh -c \
    "$(serve 5432 db-row-42) & $(serve 7000 db-cache-hit) & $(serve 8080 db-status-ok)" >/dev/null
R run -d --name "opendb$$" --network "$OPEN" -- sh -c "$(serve 5432 db-row-42)" >/dev/null
expect_eq "the database is host .100" "10.89.231.100" \
    "$(NET inspect "$FENCED" | python3 -c 'import json,sys; print(json.load(sys.stdin)["members"][0]["ipv4"])')"

# fetch NETWORK HOST PORT: what a member reads from HOST:PORT, and nc's complaint if any.
fetch() { SB --network "$1" -- sh -c "busybox nc -w 3 $2 $3 </dev/null 2>&1; echo rc=\$?" 2>/dev/null; }
answer=""
for _ in $(seq 30); do answer=$(fetch "$OPEN" "opendb$$" 5432) && [ "${answer%%$'\n'*}" = db-row-42 ] && break; sleep 0.2; done
expect_eq "without the rule a member reaches the database's port" "db-row-42" "${answer%%$'\n'*}"
for _ in $(seq 30); do answer=$(fetch "$FENCED" "db$$" 8080) && [ "${answer%%$'\n'*}" = db-status-ok ] && break; sleep 0.2; done
expect_eq "under --deny all a member reaches another (a port no rule names)" "db-status-ok" "${answer%%$'\n'*}"
start=$(date +%s%N)
refused=$(fetch "$FENCED" "db$$" 5432)
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
expect_match "the named port is refused (by name: IPv6, which the IPv4 rule names too)" "Connection refused" "$refused"
expect_match "and nothing of it is read" "rc=1" "$refused"
[ "$elapsed_ms" -lt 2500 ] && ok || bad "the refusal took $elapsed_ms ms: a RST, not a timeout, is expected"
expect_match "by its IPv4 address too" "Connection refused" "$(fetch "$FENCED" 10.89.231.100 5432)"
expect_match "a rule by the member's name refuses its port by name" "Connection refused" "$(fetch "$FENCED" "db$$" 7000)"
expect_match "and by its IPv4 address" "Connection refused" "$(fetch "$FENCED" 10.89.231.100 7000)"
expect_match "the outside stays fenced" "rc=1" "$(fetch "$FENCED" "$REMOTE_ADDR" 8000)"

counters=$(NET inspect "$FENCED" | python3 -c 'import json,sys; c = json.load(sys.stdin)["counters"]; print(c["member-flows-denied"] >= 1, c["member-flows-opened"] >= 1)')
expect_eq "network inspect counts the member flows, opened and denied" "True True" "$counters"

# The log: the refusal at once, the allowed flow when its member (the client) has gone.
R rm -f "db$$" >/dev/null
for _ in $(seq 50); do grep -q '"destination":"\[fd00::100\]:8080"' "$WORK/fenced.log" 2>/dev/null && break; sleep 0.1; done
expect_match "the log has the denied member flow and its rule" \
    '"destination":"10.89.231.100:5432","verdict":"deny","reason":"policy rule 2: --deny 10.89.231.100/32:5432"' \
    "$(cat "$WORK/fenced.log")"
expect_match "and the allowed one with its bytes" \
    '"protocol":"tcp","source":"\[fd00::10[0-9]\]:[0-9]*","destination":"\[fd00::100\]:8080","verdict":"allow","bytes_from_app":0,"bytes_to_app":13' \
    "$(cat "$WORK/fenced.log")"
R rm -f "opendb$$" >/dev/null
NET rm -f "$FENCED" "$OPEN" >/dev/null
check_no_leftovers "network policy"
finish
