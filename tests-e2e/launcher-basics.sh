#!/bin/bash
# sandbox run through the real CLI: exit status, isolation as the app sees it, file system,
# options, and argument errors.
source "$(dirname "$0")/lib/launcher-common.bash"
S() { "$SANDBOX" run --net=none "$@"; }

# Exit status passes through; a signal gives 128+N; the sandbox's own failures 125/126/127.
S -- true; expect_eq "exit 0" 0 $?
S -- sh -c 'exit 42'; expect_eq "exit 42" 42 $?
S -- sh -c 'kill -TERM $$'; expect_eq "SIGTERM -> 143" 143 $?
S -- sh -c 'kill -KILL $$'; expect_eq "SIGKILL -> 137" 137 $?
S -- /no/such/program 2>/dev/null; expect_eq "not found -> 127" 127 $?
S -- /etc/hostname 2>/dev/null; expect_eq "not executable -> 126" 126 $?
"$SANDBOX" run --net=user -- true; expect_eq "--net=user runs (the default)" 0 $?
out=$("$SANDBOX" run --net=none -p 8080:80 -- true 2>&1); rc=$?
expect_eq "-p with --net=none" 125 $rc
expect_match "-p says it needs --net=user" "needs --net=user" "$out"
for args in "--net=bogus" "--memory=12x" "--pids-limit=0" "--cpus=abc" "--ulimit=nofile" "-v relative:/x" \
            "--user=no-such-user-here" "--user=1:2:3" "--hostname=-x" "--workdir=rel" "--seccomp=/no/such/profile.json" "--dispatch=mmap" \
            "--mtu=99" "--cidr=10.0.0.0" "--bogus-flag" "--userns=maybe"; do
    # shellcheck disable=SC2086
    out=$("$SANDBOX" run --net=none $args -- true 2>&1); rc=$?
    expect_eq "bad argument $args -> 125" 125 $rc
    expect_match "bad argument $args explained" "^sandbox: " "$out"
done
"$SANDBOX" run --net=none 2>/dev/null; expect_eq "no command -> 125" 125 $?

# Help is complete: every flag of `run` is listed.
help=$("$SANDBOX" run --help)
for flag in --net --rootfs --volume --env --workdir --hostname --tty --user --userns --seccomp --memory \
            --pids-limit --cpus --ulimit --publish --allow-host-loopback --allow --deny --allow-domain --dns \
            --cidr --mtu --pcap --log-connections --dispatch; do
    expect_match "help lists $flag" "$flag" "$help"
done
expect_match "version" "^sandbox [0-9]" "$("$SANDBOX" version)"

# Identity, privileges, namespaces.
expect_eq "hostname" "sandbox" "$(S -- hostname)"
expect_eq "--hostname" "box-1" "$(S --hostname box-1 -- hostname)"
status=$(S -- cat /proc/self/status)
for set in CapInh CapPrm CapEff CapBnd CapAmb; do
    expect_eq "$set is empty" "0000000000000000" "$(awk -v k="$set:" '$1 == k {print $2}' <<<"$status")"
done
expect_eq "NoNewPrivs" 1 "$(awk '$1 == "NoNewPrivs:" {print $2}' <<<"$status")"
expect_eq "Seccomp filter mode" 2 "$(awk '$1 == "Seccomp:" {print $2}' <<<"$status")"
expect_eq "--seccomp unconfined" 0 "$(S --seccomp unconfined -- awk '$1 == "Seccomp:" {print $2}' /proc/self/status)"
# init (pid 1) gets the filter with the ready message and loads it right after the program
# starts, and drops every capability: poll its status for up to 2 s.
init_view='for i in $(seq 40); do s=$(awk '"'"'$1 == "Seccomp:" {print $2}'"'"' /proc/1/status); [ "$s" = 2 ] && break; sleep 0.05; done
echo "$s $(awk '"'"'$1 == "CapEff:" {print $2}'"'"' /proc/1/status)"'
expect_eq "init under the seccomp filter, no capabilities" "2 0000000000000000" "$(S -- sh -c "$init_view")"
# Only the sandbox's processes: init (1), the shell (2), and ls.
pids=$(S -- sh -c 'ls /proc | grep -c "^[0-9]"')
expect_eq "/proc shows only the sandbox (init, sh, ls, grep)" 4 "$pids"
expect_eq "pid 1 is init, the app is pid 2" 2 "$(S -- sh -c 'echo $$')"
expect_eq "only lo in --net=none" "lo" "$(S -- ls /sys/class/net)"
expect_match "lo is up" "UP" "$(S -- cat /sys/class/net/lo/operstate /sys/class/net/lo/flags | tr '\n' ' ' | sed 's/0x9/UP/')"
host_net=$(readlink /proc/self/ns/net)
expect_eq "--net=host shares the host's netns" "$host_net" "$("$SANDBOX" run --net=host -- readlink /proc/self/ns/net)"
[ "$(S -- readlink /proc/self/ns/net)" != "$host_net" ] && ok || bad "--net=none has its own netns"
# --net=host cannot mount a sysfs of its own: it shows the host's /sys alone, not the mounts
# below it (the host's cgroup hierarchies here).
if [ -n "$(ls /sys/fs/cgroup)" ]; then
    expect_eq "--net=host: no host mount below /sys" "" "$("$SANDBOX" run --net=host -- ls /sys/fs/cgroup)"
fi
expect_eq "--userns on maps root to root" "0 0 4294967295" "$(S --userns on -- cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //')"
[ "$(S --userns on -- readlink /proc/self/ns/user)" != "$(readlink /proc/self/ns/user)" ] && ok || bad "--userns on makes a user namespace"
expect_eq "--userns on: no capabilities" "0000000000000000" "$(S --userns on -- awk '$1 == "CapEff:" {print $2}' /proc/self/status)"
expect_eq "--user" "1234:5678" "$(S --user 1234:5678 -- sh -c 'echo $(id -u):$(id -g)')"
expect_eq "environment is clean" "X PATH HOME" "$(X=1 S -e X=y -- sh -c 'echo $PATH >/dev/null; env | cut -d= -f1 | grep -vE "^(PWD|SHLVL|_)$" | sort -r | tr "\n" " " | sed "s/ $//"')"
expect_eq "-e NAME passes the caller's value" "from-host" "$(FROMHOST=from-host S -e FROMHOST -- sh -c 'echo $FROMHOST')"
expect_eq "--workdir" "/etc" "$(S -w /etc -- pwd)"
expect_eq "--ulimit" "64" "$(S --ulimit nofile=64:128 -- sh -c 'ulimit -n')"

# File system: read-only root, private tmp, minimal dev, masked and read-only paths.
S -- touch /etc/sandbox-should-not-exist 2>/dev/null; expect_eq "root is read-only" 1 $?
[ ! -e /etc/sandbox-should-not-exist ] && ok || bad "a write reached the host's /etc"
S -- sh -c "echo inside > /tmp/private-$$"; expect_eq "/tmp is writable" 0 $?
[ ! -e "/tmp/private-$$" ] && ok || bad "/tmp is not private"
expect_eq "/dev is minimal" "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero" \
    "$(S -- ls /dev | tr '\n' ' ' | sed 's/ $//')"
expect_eq "/proc/keys is masked" 0 "$(S -- sh -c 'wc -c < /proc/keys')"
expect_eq "/proc/timer_list is masked" 0 "$(S -- sh -c 'wc -c < /proc/timer_list')"
S -- sh -c 'echo 1 > /proc/sysrq-trigger' 2>/dev/null; expect_eq "/proc/sysrq-trigger is read-only" 2 $?
S -- sh -c 'echo x > /proc/sys/kernel/hostname' 2>/dev/null; expect_eq "/proc/sys is read-only" 2 $?
expect_match "/sys is read-only" "(^|,)ro(,|$)" "$(S -- awk '$2 == "/sys" {print $4}' /proc/self/mounts)"
expect_eq "/dev/null works" "" "$(S -- sh -c 'echo gone > /dev/null; cat /dev/null')"

# Volumes: read-write and read-only, and a file volume.
mkdir -p "$WORK/vol" && echo host-data > "$WORK/vol/in"
expect_eq "volume readable" "host-data" "$(S -v "$WORK/vol:/tmp/vol" -- cat /tmp/vol/in)"
S -v "$WORK/vol:/tmp/vol" -- sh -c 'echo from-sandbox > /tmp/vol/out'
expect_eq "volume writable" "from-sandbox" "$(cat "$WORK/vol/out" 2>/dev/null)"
S -v "$WORK/vol:/tmp/vol:ro" -- sh -c 'echo x > /tmp/vol/ro-write' 2>/dev/null; expect_eq "ro volume refuses writes" 2 $?
[ ! -e "$WORK/vol/ro-write" ] && ok || bad "a write reached a read-only volume"
expect_eq "file volume" "host-data" "$(S -v "$WORK/vol/in:/tmp/in-file:ro" -- cat /tmp/in-file)"
# The default root is built in a tmpfs, so a volume may go where the host has nothing; a
# --rootfs is bound read-only, so there a missing mount point cannot be made.
expect_eq "volume over a path the default root lacks" "host-data" "$(S -v "$WORK/vol:/no-such-dir-in-root:ro" -- cat /no-such-dir-in-root/in)"
out=$(S --rootfs / -v "$WORK/vol:/no-such-dir-in-root" -- true 2>&1); rc=$?
expect_eq "volume over a missing path in a read-only --rootfs" 125 $rc
expect_match "and it says so" "read-only" "$out"

# --rootfs: a directory of our own as /.
mkdir -p "$WORK/root"/{bin,lib,lib64,usr,tmp,proc,dev,sys,etc}
for d in bin lib lib64 usr; do CLEANUPS+=("umount '$WORK/root/$d' 2>/dev/null"); mount --bind "/$d" "$WORK/root/$d" 2>/dev/null || cp -a "/$d" "$WORK/root/"; done
echo rootfs-marker > "$WORK/root/etc/marker"
expect_eq "--rootfs" "rootfs-marker" "$(S --rootfs "$WORK/root" -- cat /etc/marker)"
for d in bin lib lib64 usr; do umount "$WORK/root/$d" 2>/dev/null; done

# Init: PID 1 is non-dumpable, so the program (same uid, no capabilities) cannot read its
# memory or environment through /proc; the program itself can (the control: /proc works).
out=$(S -- sh -c 'cat /proc/1/environ >/dev/null 2>&1; echo init=$?; cat /proc/self/environ >/dev/null 2>&1; echo self=$?')
expect_match "init is not dumpable: /proc/1/environ refused" "init=1" "$out"
expect_match "the program's own /proc/self/environ reads" "self=0" "$out"

# Terminal: -t gives the program a pty as controlling terminal.
out=$(script -qec "$SANDBOX run --net=none -t -- sh -c 'tty; test -t 0 && echo stdin-is-tty'" /dev/null | tr -d '\r')
expect_match "-t gives a terminal ttyname() can name" "/dev/console" "$out"
expect_match "-t stdin is a tty" "stdin-is-tty" "$out"

finish
