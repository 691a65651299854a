#!/bin/bash
# sandbox usernet --netns PID|PATH: the gateway attached to a namespace someone else made (an
# `unshare -n sleep` process inside hostsim), as slirp4netns --configure does.
source "$(dirname "$0")/lib/netuser-common.bash"

usernet_target 120
IN() { nsenter -t "$target" -n "$@"; }

attach_and_check() {
    local label=$1 netns=$2
    ip netns exec "$HS" "$SANDBOX" usernet --netns "$netns" >"$WORK/usernet.out" 2>&1 &
    local gateway=$!
    for _ in $(seq 100); do IN ip -4 -o addr show dev eth0 2>/dev/null | grep -q 10.0.2.100 && break; sleep 0.1; done
    expect_match "$label: eth0 10.0.2.100/24" " 10\.0\.2\.100/24 " "$(IN ip -4 -o addr show dev eth0 2>&1)"
    expect_match "$label: default route" "default via 10\.0\.2\.2 dev eth0" "$(IN ip route 2>&1)"
    expect_match "$label: lo up" "LOOPBACK,UP" "$(IN ip link show lo 2>&1)"
    expect_eq "$label: curl through the gateway" "hello-from-host" "$(IN curl -sS --max-time 10 "http://$REMOTE_ADDR:8000/" 2>&1)"
    kill -TERM "$gateway"; wait "$gateway"; expect_eq "$label: SIGTERM stops it cleanly" 0 $?
    expect_match "$label: says what it attached" "eth0 10\.0\.2\.100/24" "$(cat "$WORK/usernet.out")"
    expect_eq "$label: the veth is gone with the gateway" "lo" "$(IN ip -o link show | awk -F': ' '{sub(/@.*/, "", $2); print $2}' | tr '\n' ' ' | sed 's/ $//')"
    check_no_leftovers "$label"
}
attach_and_check "by pid" "$target"
attach_and_check "by path" "/proc/$target/ns/net"

"$SANDBOX" usernet --netns not-a-namespace >/dev/null 2>&1; expect_eq "bad --netns -> 125" 125 $?
"$SANDBOX" usernet --netns "$target" -p 0:80 >/dev/null 2>&1; expect_eq "bad -p -> 125" 125 $?
expect_match "usernet --help lists the gateway flags" "--allow-host-loopback" "$("$SANDBOX" usernet --help)"
finish
