#!/bin/bash
# Named networks (`sandbox network create`, `run --network NAME --name N --network-alias A`):
# a client, a server and a database on one network reach each other by name through the
# network's gateway, the database is cut off with `sandbox update --net-loss 100%` and healed;
# a delay on one member's link is measured in round trips; sandboxes on another network, or on
# none, cannot reach them; the network's gateway is one confined process, gone with its last
# sandbox; `network rm` refuses a network in use unless forced.
source "$(dirname "$0")/lib/netuser-common.bash"

N1="it$$a"
N2="it$$b"
CLEANUPS+=('R rm -f "db$$" "server$$" "lone$$" >/dev/null 2>&1; NET rm -f "$N1" "$N2" >/dev/null 2>&1')
# holders NAME: how many holder processes serve network NAME.
holders() { pgrep -fc -- "__network .* $1\$" || true; }
# within VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals allowed).
within() { python3 -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= v <= hi else 1)' "$@"; }

expect_eq "network create prints the name" "$N1" "$(NET create --dns 127.0.0.1:5353 "$N1" 2>&1)"
NET create --dns 127.0.0.1:5353 --net-delay 20ms --pcap "$WORK/n2.pcap" "$N2" >/dev/null
expect_eq "a second network gets the next /24" "1" "$(NET ls | grep -c "^$N2 .*10\.89\.[0-9]*\.0/24")"
expect_match "a name in use is refused" "exists already" "$(NET create "$N1" 2>&1)"
expect_match "an overlapping --cidr is refused" "overlaps network" \
    "$(NET create --cidr "$(NET inspect "$N1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cidr"])')" "x$$" 2>&1)"
expect_match "run --network of no network" "no network nosuch$$" "$(SB --network "nosuch$$" -- true 2>&1)"
expect_match "a gateway flag with --network is refused" "give it to .sandbox network create." \
    "$(SB --network "$N1" --deny all -- true 2>&1)"

# The database and the server run detached; the server answers each request with what it got
# from the database (or says it could not reach it).
R run -d --name "db$$" --network "$N1" -- sh -c \
    'while :; do busybox nc -l -p 5432 -e echo db-row-42; done' >/dev/null
R run -d --name "server$$" --network "$N1" --network-alias api -p 127.0.0.1:18080:8080 -- sh -c \
    "while :; do busybox nc -l -p 8080 -e sh -c 'busybox nc -w 2 db$$ 5432 </dev/null || echo db-unreachable'; done" \
    >/dev/null
expect_eq "one gateway process serves the network" "1" "$(holders "$N1")"
members=$(NET inspect "$N1")
expect_eq "inspect lists both sandboxes" "2" "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["members"]))' <<<"$members")"
db_ip=$(python3 -c "import json,sys; print([m['ipv4'] for m in json.load(sys.stdin)['members'] if 'db$$' in m['names']][0])" <<<"$members")
gateway_pid=$(pgrep -f -P "$(pgrep -f -- "__network .* $N1\$" | head -n 1)" sandbox-gateway | head -n 1)
expect_eq "the network's gateway runs as nobody" "65534" "$(awk '/^Uid:/ {print $2}' "/proc/$gateway_pid/status")"
expect_eq "the network's gateway has no capabilities" "0000000000000000" "$(awk '/^CapEff:/ {print $2}' "/proc/$gateway_pid/status")"
expect_eq "the network's gateway is under seccomp" "2" "$(awk '/^Seccomp:/ {print $2}' "/proc/$gateway_pid/status")"

# ask: the client's request to the server, by its alias.
ask() { SB --network "$N1" --name "client$$" -- sh -c 'busybox nc -w 5 api 8080 </dev/null' 2>/dev/null; }
answer=""
for _ in $(seq 30); do answer=$(ask) && [ "$answer" = db-row-42 ] && break; sleep 0.2; done
expect_eq "client -> server (by alias) -> db (by name)" "db-row-42" "$answer"
expect_eq "the host reaches the server's published port (and the server the db)" "db-row-42" \
    "$(HX busybox nc -w 5 127.0.0.1 18080 </dev/null)"
expect_eq "names resolve to the members' addresses" "$db_ip" \
    "$(SB --network "$N1" -- getent ahostsv4 "db$$" 2>/dev/null | awk 'NR == 1 {print $1}')"
expect_eq "a host search domain does not take a member's name upstream" "$db_ip" \
    "$(SB --network "$N1" --dns-search example.test -- getent ahostsv4 "db$$" 2>/dev/null | awk 'NR == 1 {print $1}')"
expect_match "members search the gateway's zone first" "^search sandbox.internal example.test" \
    "$(SB --network "$N1" --dns-search example.test -- grep ^search /etc/resolv.conf 2>/dev/null)"
expect_eq "a member's address names it (PTR, answered by the network's DNS)" "db$$" \
    "$(SB --network "$N1" -- getent hosts "$db_ip" 2>/dev/null | awk '{print $2}')"
expect_eq "the client's own name is its host name" "client$$" \
    "$(SB --network "$N1" --name "client$$" -- hostname 2>/dev/null)"

expect_eq "update --net-loss 100% cuts the database off" "db$$: --net-loss 100%" "$(R update --net-loss 100% "db$$" 2>&1)"
expect_eq "the server cannot reach it" "db-unreachable" "$(ask)"
expect_eq "update --net-loss 0% heals it" "db$$: no link faults" "$(R update --net-loss 0% "db$$" 2>&1)"
answer=""
for _ in $(seq 30); do answer=$(ask) && [ "$answer" = db-row-42 ] && break; sleep 0.2; done
expect_eq "healed: the request goes through again" "db-row-42" "$answer"

# IPv6 between members for 4 s: past the ~2 s at which a member would have made itself a SLAAC
# address from the router advertisement and taken it as its source (the switch drops any source
# but the member's own, so that cut them off).
db_ip6=$(python3 -c "import json,sys; print([m['ipv6'] for m in json.load(sys.stdin)['members'] if 'db$$' in m['names']][0])" <<<"$members")
expect_match "IPv6 between members lasts (20 pings over 4 s, none lost)" " 0% packet loss" \
    "$(SB --network "$N1" -- ping -6 -n -c 20 -i 0.2 "$db_ip6" 2>&1)"

# 50 ms each way on the database's link: 100 ms more on a round trip from another member.
R update --net-delay 50ms "db$$" >/dev/null
out=$(SB --network "$N1" -- ping -n -c 10 -i 0.2 "$db_ip" 2>&1)
median=$(grep -o 'time=[0-9.]*' <<<"$out" | cut -d= -f2 | sort -n | sed -n 5p)
within "${median:-0}" 100 120 && ok || bad "--net-delay 50ms on a member: median round trip ${median:-none} ms, asked 100"
echo "  measured: --net-delay 50ms on the db's link -> median round trip $median ms (asked 100)"
R update --net-delay 0ms "db$$" >/dev/null

# Isolation: another network, and --net=user, reach neither the name nor the address.
isolated() {
    "$@" -- sh -c "busybox nc -w 2 $db_ip 5432 </dev/null; getent ahostsv4 db$$ | awk 'NR == 1 {print \$1}'" 2>/dev/null
}
expect_eq "from another network: no answer, the name is the upstream's" "$REMOTE_ADDR" "$(isolated SB --network "$N2")"
expect_eq "from --net=user: the same" "$REMOTE_ADDR" "$(isolated SB --dns 127.0.0.1:5353)"

counters=$(NET inspect "$N1" | python3 -c 'import json,sys; c = json.load(sys.stdin)["counters"]; print(c["network-members"], c["frames-switched"] > 0)')
expect_eq "the gateway's counters: two members, frames switched between them" "2 True" "$counters"

expect_match "network rm refuses a network in use" "has 2 sandbox" "$(NET rm "$N1" 2>&1)"
R rm -f "db$$" "server$$" >/dev/null
for _ in $(seq 100); do [ "$(holders "$N1")" = 0 ] && break; sleep 0.1; done
expect_eq "the published port is gone with its sandbox" "" "$(HX busybox nc -w 1 127.0.0.1 18080 </dev/null 2>/dev/null)"
expect_eq "the gateway is gone with the last sandbox" "0" "$(holders "$N1")"
expect_eq "ls: no sandbox on it" "0" "$(NET ls | awk -v n="$N1" '$1 == n {print $3}')"

# network rm --force takes the gateway down under a running sandbox.
R run -d --name "lone$$" --network "$N2" -- sleep 60 >/dev/null
expect_eq "a sandbox on the second network" "1" "$(holders "$N2")"
# The network's 20 ms on every member's link: a round trip between two members crosses two
# links twice, 80 ms.
lone_ip=$(NET inspect "$N2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["members"][0]["ipv4"])')
out=$(SB --network "$N2" -- ping -n -c 10 -i 0.2 "$lone_ip" 2>&1)
median=$(grep -o 'time=[0-9.]*' <<<"$out" | cut -d= -f2 | sort -n | sed -n 5p)
within "${median:-0}" 80 96 && ok || bad "network create --net-delay 20ms: median round trip ${median:-none} ms, asked 80"
echo "  measured: network create --net-delay 20ms -> median member-to-member round trip $median ms (asked 80)"
expect_eq "network rm --force" "$N2" "$(NET rm -f "$N2" 2>&1)"
for _ in $(seq 100); do [ "$(holders "$N2")" = 0 ] && break; sleep 0.1; done
# --pcap of the network: every frame on every member's link, so each of the 10 echo requests
# and replies shows once leaving its sender's link and once entering the other's.
expect_eq "the network's pcap holds each ping on both links" "40" \
    "$(tshark -r "$WORK/n2.pcap" -Y icmp 2>/dev/null | wc -l)"
expect_eq "its gateway is gone" "0" "$(holders "$N2")"
R rm -f "lone$$" >/dev/null
expect_eq "network rm" "$N1" "$(NET rm "$N1" 2>&1)"
expect_eq "ls no longer lists them" "0" "$(NET ls | grep -c "^it$$")"
check_no_leftovers "named networks"
finish
