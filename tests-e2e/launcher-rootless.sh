#!/bin/bash
# A rootless run: an unused uid (no account needed) with unprivileged user namespaces.
source "$(dirname "$0")/lib/launcher-common.bash"
uid=54321
while getent passwd $uid >/dev/null || pgrep -u $uid >/dev/null; do uid=$((uid + 1)); done
cp "$SANDBOX" "$WORK/sandbox" && chmod 755 "$WORK/sandbox"
R() { setpriv --reuid $uid --regid $uid --clear-groups "$WORK/sandbox" run --net=none "$@"; }

expect_eq "rootless run" "hello" "$(R -- echo hello)"
expect_eq "root inside, the caller outside" "0 $uid 1" "$(R -- cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
expect_eq "uid 0 inside" 0 "$(R -- id -u)"
expect_eq "--user inside a rootless sandbox" "1000" "$(R --user 1000 -- id -u)"
expect_eq "capabilities empty" "0000000000000000" "$(R -- awk '$1 == "CapEff:" {print $2}' /proc/self/status)"
expect_eq "seccomp on" 2 "$(R -- awk '$1 == "Seccomp:" {print $2}' /proc/self/status)"
expect_eq "exit status passes through" 3 "$(R -- sh -c 'exit 3'; echo $?)"
expect_eq "hostname" "sandbox" "$(R -- hostname)"
expect_eq "own pid namespace" 2 "$(R -- sh -c 'echo $$')"
R -- touch /etc/rootless-should-not-exist 2>/dev/null; expect_eq "root read-only" 1 $?
# Root's files stay root's: a volume owned by root is not writable by the mapped user.
mkdir -p "$WORK/rootvol" && chmod 755 "$WORK/rootvol"
R -v "$WORK/rootvol:/tmp/v" -- sh -c 'echo x > /tmp/v/f' 2>/dev/null; expect_eq "host root's directory not writable" 2 $?
mkdir -p "$WORK/uservol" && chown $uid:$uid "$WORK/uservol"
R -v "$WORK/uservol:/tmp/v" -- sh -c 'echo mine > /tmp/v/f'
expect_eq "own directory writable" "mine" "$(cat "$WORK/uservol/f" 2>/dev/null)"
expect_eq "file owned by the caller" "$uid" "$(stat -c %u "$WORK/uservol/f" 2>/dev/null)"
# --writable-root over the caller's own image: writes go to the overlay, never to the image.
mkdir -p "$WORK/image"/{bin,etc,dev,proc,sys,tmp} && cp "$(command -v busybox)" "$WORK/image/bin/busybox"
ln -s busybox "$WORK/image/bin/sh"; ln -s busybox "$WORK/image/bin/cat"; echo original >"$WORK/image/etc/motd"
chown -R $uid:$uid "$WORK/image"
expect_eq "rootless --writable-root: the program writes" "changed" \
    "$(R --rootfs "$WORK/image" --writable-root -- sh -c 'echo changed >/etc/motd; cat /etc/motd')"
expect_eq "rootless --writable-root: the image is unchanged" "original" "$(cat "$WORK/image/etc/motd")"
# cgroups are root's here: a clear refusal, exit 125.
out=$(R --memory 64m -- true 2>&1); rc=$?
expect_eq "rootless --memory without a delegated cgroup -> 125" 125 $rc
expect_match "and it says why" "cgroup" "$out"
# Detached, rootless: the state under $XDG_RUNTIME_DIR, exec into it, stop, rm.
mkdir -p "$WORK/xdg" && chown $uid:$uid "$WORK/xdg" && chmod 700 "$WORK/xdg"
D() { setpriv --reuid $uid --regid $uid --clear-groups env XDG_RUNTIME_DIR="$WORK/xdg" "$WORK/sandbox" "$@"; }
CLEANUPS+=('D rm -f rd1 >/dev/null 2>&1')
expect_eq "rootless run -d" rd1 "$(D run -d --name rd1 --net=none -- sleep 1004)"
[ -f "$WORK/xdg/sandbox/containers/rd1/state.json" ] && ok || bad "no state under XDG_RUNTIME_DIR"
expect_eq "rootless exec: root inside, no capabilities" "0 0000000000000000" \
    "$(D exec rd1 -- sh -c 'echo $(id -u) $(awk "\$1 == \"CapEff:\" {print \$2}" /proc/self/status)')"
D stop -t 1 rd1 >/dev/null; D rm rd1 >/dev/null
expect_eq "rootless rm: nothing left" "" "$(ls "$WORK/xdg/sandbox/containers")"
# A named network, rootless: its definition and holder under $XDG_RUNTIME_DIR, its gateway
# the caller's; two sandboxes on it reach each other (by address: nothing is resolved here,
# and nothing leaves the switch).
CLEANUPS+=('D rm -f rn1 >/dev/null 2>&1; D network rm -f rl$$ >/dev/null 2>&1')
D network create --dns 127.0.0.1:9 "rl$$" >/dev/null
[ -f "$WORK/xdg/sandbox/networks/rl$$/network.json" ] && ok || bad "no network under XDG_RUNTIME_DIR"
D run -d --name rn1 --network "rl$$" -- sleep 60 >/dev/null
peer=$(D network inspect "rl$$" | python3 -c 'import json,sys; print(json.load(sys.stdin)["members"][0]["ipv4"])')
expect_match "rootless: a member reaches another" "1 received" "$(D run --network "rl$$" -- ping -n -c 1 -W 3 "$peer" 2>&1)"
expect_eq "rootless: the network's gateway is the caller's" "$uid" \
    "$(ps -o uid= -p "$(pgrep -u $uid -f sandbox-gateway | head -n 1)" | tr -d ' ')"
D rm -f rn1 >/dev/null
expect_eq "rootless network rm" "rl$$" "$(D network rm "rl$$" 2>&1)"
expect_eq "rootless --group-add is refused" 125 "$(R --group-add 27 -- true 2>/dev/null; echo $?)"
finish
