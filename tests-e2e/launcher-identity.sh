#!/bin/bash
# Issue 13, identity: as root, a default run's app is uid 0 inside a user namespace and an
# unprivileged host uid outside (read from the host's /proc during the run); `--userns host`
# is today's host uid 0; volumes stay writable through idmapped mounts.
source "$(dirname "$0")/lib/launcher-common.bash"
[ "$(id -u)" -eq 0 ] || { echo "launcher-identity: needs root"; exit 1; }
APP=""
CLEANUPS+=('[ -n "$APP" ] && kill "$APP" 2>/dev/null; wait 2>/dev/null')

# host_uid_of_run [FLAGS...]: the real host uid of the app's process, read from outside.
host_uid_of_run() {
    "$SANDBOX" run --net=none "$@" -- sleep 31415 &
    APP=$!
    local pid="" i
    for i in $(seq 1 100); do
        pid=$(pgrep -f '^sleep 31415$' | head -1)
        [ -n "$pid" ] && break
        sleep 0.05
    done
    [ -n "$pid" ] && awk '$1 == "Uid:" {print $2}' "/proc/$pid/status" 2>/dev/null
    kill "$APP" 2>/dev/null; wait "$APP" 2>/dev/null; APP=""
}

uid=$(host_uid_of_run)
[ -n "$uid" ] && [ "$uid" -ge 2147483648 ] && ok || bad "default run: the app's host uid is ${uid:-unknown}, not an unprivileged reserved id"
expect_eq "default run: uid 0 inside" "0" "$("$SANDBOX" run --net=none -- id -u)"
uid=$(host_uid_of_run --userns host)
expect_eq "--userns host: the app is host uid 0 (what the default avoids)" "0" "$uid"

# /etc/shadow through a root that shows the host's whole /etc (the default root hides it as well).
"$SANDBOX" run --net=none --rootfs / -- cat /etc/shadow >/dev/null 2>&1
[ $? -ne 0 ] && ok || bad "the app's root reads the host's /etc/shadow"
"$SANDBOX" run --net=none --rootfs / --userns host -- cat /etc/shadow >/dev/null 2>&1
expect_eq "--userns host reads /etc/shadow (the hole the default identity closes)" 0 $?

mkdir "$WORK/vol"
"$SANDBOX" run --net=none -v "$WORK/vol:/tmp/vol" -- sh -c 'echo data > /tmp/vol/file'
expect_eq "a writable volume stays writable" "data" "$(cat "$WORK/vol/file" 2>/dev/null)"
expect_eq "a file the app's root writes is on-disk root's (idmapped)" "0" "$(stat -c %u "$WORK/vol/file" 2>/dev/null)"
out=$("$SANDBOX" run --net=none --user 70000 -- true 2>&1); rc=$?
expect_eq "--user beyond the range: 125" 125 $rc
# Names are resolved in the sandbox root's accounts (here the host's /etc): nobody is 65534.
expect_eq "--user by name" "65534 65534" "$("$SANDBOX" run --net=none --user nobody -- sh -c 'echo $(id -u) $(id -g)' 2>/dev/null)"
out=$("$SANDBOX" run --net=none --user no-such-user-here -- true 2>&1); rc=$?
expect_eq "--user with an unknown name: 125" 125 $rc
expect_match "--user with an unknown name: the message names the file" "no no-such-user-here in the sandbox root's /etc/passwd" "$out"
# --group-add: supplementary groups, by number or by name in the root's /etc/group.
expect_eq "--group-add by number and by name" "0 27 100" \
    "$("$SANDBOX" run --net=none --group-add 27 --group-add users -- id -G 2>/dev/null)"
out=$("$SANDBOX" run --net=none --group-add no-such-group-here -- true 2>&1); rc=$?
expect_eq "--group-add with an unknown name: 125" 125 $rc
expect_match "--group-add: the message names the flag" "bad --group-add no-such-group-here" "$out"
finish
