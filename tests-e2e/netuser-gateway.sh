#!/bin/bash
# The gateway's own process, checked from outside during real runs (issue 15): who it is, what
# it may do, where it lives, and that the sandbox fails closed when it dies. The host side is
# hostsim (netuser-common), so the gateway's host sockets live there.
source "$(dirname "$0")/lib/netuser-common.bash"

# The gateway's process: the launcher's child named sandbox-gateway.
gateway_of() {
    local launcher=$1 pid
    for _ in $(seq 100); do
        pid=$(pgrep -P "$launcher" -x sandbox-gateway | head -1)
        [ -n "$pid" ] && grep -q "^Seccomp:[[:space:]]*2" "/proc/$pid/status" 2>/dev/null && { echo "$pid"; return; }
        sleep 0.05
    done
}
field() { awk -v f="$2:" '$1 == f { $1 = ""; sub(/^ /, ""); print }' "/proc/$1/status"; }

# The checks on one gateway process; $3 is the uid/gid it must have outside.
check_confined() {
    local label=$1 gw=$2 id=$3 launcher=$4 kind
    if [ -z "$gw" ]; then bad "$label: no sandbox-gateway process under the launcher"; return; fi
    expect_eq "$label: Uid" "$id $id $id $id" "$(field "$gw" Uid)"
    expect_eq "$label: Gid" "$id $id $id $id" "$(field "$gw" Gid)"
    expect_eq "$label: no supplementary groups" "" "$(field "$gw" Groups)"
    for set in CapInh CapPrm CapEff CapBnd CapAmb; do
        expect_eq "$label: $set" "0000000000000000" "$(field "$gw" $set)"
    done
    expect_eq "$label: NoNewPrivs" "1" "$(field "$gw" NoNewPrivs)"
    expect_eq "$label: Seccomp filter mode" "2" "$(field "$gw" Seccomp)"
    for kind in user mnt ipc uts pid; do
        if [ "$(readlink "/proc/$gw/ns/$kind")" != "$(readlink "/proc/$launcher/ns/$kind")" ]; then ok
        else bad "$label: $kind namespace is the launcher's"; fi
    done
    expect_eq "$label: net namespace is the launcher's (its host sockets)" \
        "$(readlink "/proc/$launcher/ns/net")" "$(readlink "/proc/$gw/ns/net")"
    expect_eq "$label: its root is empty" "" "$(ls -A "/proc/$gw/root/" 2>&1)"
    expect_match "$label: its root is read-only" "^/ ro," "$(awk '$5 == "/" {print $5, $6}' "/proc/$gw/mountinfo"),"
    expect_match "$label: no core files" "^Max core file size +0 +0 " "$(grep 'core file' "/proc/$gw/limits")"
    expect_match "$label: open files sized from --max-flows (1000 + ports + 64)" "^Max open files +106[45] +106[45] " \
        "$(grep 'open files' "/proc/$gw/limits")"
}

# A run: the gateway serves (curl through it) while we look at it from outside.
ip netns exec "$HS" "$SANDBOX" run --max-flows 1000 -- sh -c \
    "curl -sS --max-time 10 http://$REMOTE_ADDR:8000/; sleep 3" >"$WORK/run-curl.out" 2>&1 &
launcher=$!
gw=$(gateway_of "$launcher")
check_confined "run" "$gw" 65534 "$launcher"
# The same probes see a difference where there is one: the launcher, which used to run the
# gateway as threads of its own, is host root with capabilities and no filter.
expect_eq "the launcher (the gateway's old home) is uid 0" "0 0 0 0" "$(field "$launcher" Uid)"
expect_eq "the launcher has no seccomp filter" "0" "$(field "$launcher" Seccomp)"
if [ "$(field "$launcher" CapEff)" != "0000000000000000" ]; then ok; else bad "the launcher shows no capabilities"; fi
if [ -n "$(ls -A "/proc/$launcher/root/")" ]; then ok; else bad "the launcher's root looks empty"; fi
wait "$launcher"; expect_eq "run with the confined gateway: exit 0" 0 $?
expect_eq "run: curl through the confined gateway" "hello-from-host" "$(cat "$WORK/run-curl.out")"
check_no_leftovers "confined run"

# With --memory the gateway is charged to the sandbox's cgroup: its buffers count against the
# limit the user set, like the app's (the sandbox's init, the launcher's other child, is there).
# nsenter, not `ip netns exec`: that remounts /sys, and with it the cgroup hierarchies.
nsenter --net=/run/netns/"$HS" "$SANDBOX" run --memory 256m --pids-limit 200 -- sleep 3 &
launcher=$!
gw=$(gateway_of "$launcher")
sandbox_init=$(pgrep -P "$launcher" | grep -vx "$gw" | head -1)
memory_of() { grep -E '^[0-9]+:(memory)?:' "/proc/$1/cgroup" | sed 's/^[0-9]*://' | sort | tr '\n' ' '; }
expect_match "the sandbox's init is in a sandbox cgroup" "sandbox-" "$(memory_of "$sandbox_init")"
expect_eq "the gateway is in the sandbox's cgroup (--memory covers it)" "$(memory_of "$sandbox_init")" "$(memory_of "$gw")"
if [[ "$(memory_of "$launcher")" != *sandbox-* ]]; then ok; else bad "the launcher is in the sandbox's cgroup"; fi
wait "$launcher"; expect_eq "run with --memory: exit 0" 0 $?
check_no_leftovers "confined run with --memory"

# Connection churn (wrk, 32 at a time, one request each): the load under which glibc first
# shrinks a thread's heap and lazily opens /proc/sys/vm/overcommit_memory, which once killed
# the gateway. The allow-list answers that open with ENOENT; the run must end as the app does.
out=$(SB -- wrk -t1 -c32 -d2 -H 'Connection: close' "http://$REMOTE_ADDR:8000/" 2>&1); rc=$?
expect_eq "connection churn: exit 0" 0 $rc
expect_match "connection churn: wrk got answers" "Requests/sec: +[0-9]" "$out"
check_no_leftovers "connection churn"

# Fail closed: a syscall outside the allow-list kills the gateway (SIGSYS) and the sandbox with
# it. The hidden --debug-gateway-forbidden-syscall makes the gateway call sync(2) once running.
start=$(date +%s%N)
out=$(SB --debug-gateway-forbidden-syscall -- sleep 20 2>&1); rc=$?
elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "forbidden syscall: exit 125" 125 $rc
expect_match "forbidden syscall: says why" "sandbox: the gateway died \(signal 31 SIGSYS\); stopping the sandbox" "$out"
if [ "$elapsed" -lt 10000 ]; then ok; else bad "forbidden syscall: the app was not stopped (${elapsed} ms)"; fi
expect_eq "forbidden syscall: the app is gone" "0" "$(pgrep -fc '^sleep 20$' || true)"
check_no_leftovers "forbidden syscall"

# Fail closed on any death: SIGKILL from outside during a run.
ip netns exec "$HS" "$SANDBOX" run -- sleep 20 >"$WORK/kill.out" 2>&1 &
launcher=$!
gw=$(gateway_of "$launcher")
[ -n "$gw" ] && kill -KILL "$gw"
wait "$launcher"; rc=$?
expect_eq "gateway SIGKILLed: exit 125" 125 $rc
expect_match "gateway SIGKILLed: says why" "the gateway died \(signal 9 SIGKILL\)" "$(cat "$WORK/kill.out")"
check_no_leftovers "gateway SIGKILLed"

# ^C at a terminal reaches the whole process group; the gateway, init of its own pid
# namespace without a handler, ignores it, so the app's own status comes back (130).
ip netns exec "$HS" "$SANDBOX" run -- sleep 20 &
launcher=$!
gw=$(gateway_of "$launcher")
kill -INT "$gw" 2>/dev/null; sleep 0.2
expect_eq "SIGINT to the gateway leaves it running" "sandbox-gateway" "$(cat "/proc/$gw/comm" 2>&1)"
kill -INT "$launcher"; wait "$launcher"
expect_eq "SIGINT to the launcher: the app's 130" 130 $?

# sandbox usernet: the same confinement, and the same fail-closed exit.
usernet_target 60
ip netns exec "$HS" "$SANDBOX" usernet --netns "$target" --max-flows 1000 -p 8090:80 >"$WORK/usernet.out" 2>&1 &
usernet=$!
gw=$(gateway_of "$usernet")
check_confined "usernet" "$gw" 65534 "$usernet"
expect_eq "usernet: curl through the confined gateway" "hello-from-host" \
    "$(nsenter -t "$target" -n curl -sS --max-time 10 "http://$REMOTE_ADDR:8000/" 2>&1)"
kill -TERM "$usernet"; wait "$usernet"; expect_eq "usernet: SIGTERM stops it cleanly" 0 $?
expect_match "usernet: final counters from the gateway's process" "stopped \(SIGTERM\); [1-9][0-9]* flows" "$(cat "$WORK/usernet.out")"
out=$(ip netns exec "$HS" timeout 20 "$SANDBOX" usernet --netns "$target" --debug-gateway-forbidden-syscall 2>&1); rc=$?
expect_eq "usernet forbidden syscall: exit 125" 125 $rc
expect_match "usernet forbidden syscall: says why" "the gateway died \(signal 31 SIGSYS\)" "$out"
check_no_leftovers "usernet"

# Rootless: the gateway is the caller outside, never root.
cp "$SANDBOX" "$WORK/sandbox-rootless"; chmod 755 "$WORK/sandbox-rootless"
rootless_uid=$((55000 + $$ % 1000))
ip netns exec "$HS" setpriv --reuid $rootless_uid --regid $rootless_uid --clear-groups \
    "$WORK/sandbox-rootless" run --max-flows 1000 -- sh -c "curl -sS --max-time 10 http://$REMOTE_ADDR:8000/ >/dev/null; sleep 3" &
launcher=$!
gw=$(gateway_of "$launcher")
check_confined "rootless" "$gw" "$rootless_uid" "$launcher"
wait "$launcher"; expect_eq "rootless run: exit 0" 0 $?

finish
