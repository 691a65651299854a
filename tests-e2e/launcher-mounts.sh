#!/bin/bash
# Issue 13, root file system and mounts. The default root shows the host's programs and
# libraries, not its secrets or daemons; each check is shown possible on the host itself (the
# "unconfined" half) and denied in a default run. A hostile --rootfs whose mount points are
# symlinks out of the root creates nothing on the host.
source "$(dirname "$0")/lib/launcher-common.bash"
[ "$(id -u)" -eq 0 ] || { echo "launcher-mounts: needs root"; exit 1; }
SANDBOX=$(realpath "$SANDBOX")  # the checks below run it from other directories
R() { "$SANDBOX" run --net=none "$@"; }
RUNDIR=$(mktemp -d /run/sandbox-e2e-mounts.XXXXXX)
SERVER=""
CLEANUPS+=('[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$RUNDIR" /etc/sbx-hostile-a /tmp/sbx-hostile-b')

# Two unix sockets a host daemon could offer: root-only and world-connectable.
python3 - "$RUNDIR" <<'PY' &
import os, socket, sys, time
d = sys.argv[1]
socks = []
for name, mode in (("root-only.sock", 0o600), ("world.sock", 0o666)):
    s = socket.socket(socket.AF_UNIX); s.bind(os.path.join(d, name)); os.chmod(os.path.join(d, name), mode); s.listen(8)
    socks.append(s)
time.sleep(120)
PY
SERVER=$!
for i in $(seq 1 50); do [ -S "$RUNDIR/world.sock" ] && break; sleep 0.05; done

connect() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print("connected")' "$1" 2>&1 | tail -1; }
expect_eq "host: the world-connectable socket connects" "connected" "$(connect "$RUNDIR/world.sock")"
out=$(R -- python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' "$RUNDIR/world.sock" 2>&1)
expect_match "sandbox: /run is fresh, the host's socket is not there" "FileNotFoundError" "$out"
expect_eq "sandbox: /run and /var/run are empty" "" "$(R -- sh -c 'ls -A /run; ls -A /var/run/')"

[ -s /etc/shadow ] && ok || bad "host: /etc/shadow has content"
expect_eq "sandbox: /etc/shadow is hidden" "" "$(R -- cat /etc/shadow 2>/dev/null)"
[ -d /root ] && ok || bad "host: /root exists"
for path in /root /home /var/lib /var/log /mnt /media /srv; do
    R -- test -e "$path" && bad "sandbox: $path is visible" || ok
done
expect_eq "sandbox: programs and libraries are there" "ok" "$(R -- sh -c 'test -x /usr/bin/env && test -d /lib && echo ok')"
R -- touch /usr/x 2>/dev/null && bad "sandbox: the root is writable" || ok

# The launcher's directory: bound read-only and the starting point; not at / or a home.
mkdir -p "$WORK/project" && echo data > "$WORK/project/file"
expect_eq "cwd is bound and is the working directory" "$WORK/project data" \
    "$(cd "$WORK/project" && R -- sh -c 'echo $(pwd) $(cat file)')"
(cd "$WORK/project" && R -- touch newfile 2>/dev/null) && bad "the cwd bind is writable" || ok
expect_eq "from /: the program starts at /" "/" "$(cd / && R -- pwd 2>/dev/null)"
[ "$(cd / && R -- pwd 2>&1 >/dev/null | wc -l)" -eq 1 ] && ok || bad "from /: not exactly one line on stderr"
expect_eq "-w overrides the start directory" "/tmp" "$(cd "$WORK/project" && R -w /tmp -- pwd)"
# -w makes a missing directory (docker's habit) where the sandbox's own root holds it; under a
# host directory bound read-only it cannot, and the start says where one can be made.
expect_eq "-w makes a missing directory" "/new/dir" "$(R -w /new/dir -- pwd 2>/dev/null)"
out=$(R -w /usr/not-there -- pwd 2>&1); status=$?
expect_eq "-w under a read-only host directory: exit 125" 125 "$status"
expect_match "-w under a read-only host directory: the message says where" "under /tmp, or a volume" "$out"
# From /tmp the host's /tmp is not bound over the sandbox's own: the program starts in its
# private, writable /tmp (a read-only bind there broke every program that writes a temp file).
expect_eq "from /tmp: the program starts in its own writable /tmp" "/tmp ok" \
    "$(cd /tmp && R -- sh -c 'touch /tmp/probe && echo $(pwd) ok' 2>/dev/null)"
expect_match "from /tmp: stderr says why it is not bound" "makes its own" "$(cd /tmp && R -- true 2>&1 >/dev/null)"
# A directory closed to others (mode 0700, as mktemp -d makes) is not bound: as root the
# sandbox's ids are an unprivileged range that could not enter it, and the start failed.
mkdir -m 0700 "$WORK/closed"
expect_eq "from a 0700 directory: the program starts in /" "/" "$(cd "$WORK/closed" && R -- pwd 2>/dev/null)"
rmdir "$WORK/closed"

# A writable volume: nosuid, nodev, and no set-id bit from the app.
mkdir "$WORK/vol"
R -v "$WORK/vol:/vol" -- sh -c 'grep " /vol " /proc/self/mountinfo' | grep -q nosuid && ok || bad "the volume is not nosuid"
R -v "$WORK/vol:/vol" -- sh -c 'grep " /vol " /proc/self/mountinfo' | grep -q nodev && ok || bad "the volume is not nodev"
R -v "$WORK/vol:/vol" -- sh -c 'cp /bin/true /vol/t; chmod 4755 /vol/t' 2>/dev/null
[ -e "$WORK/vol/t" ] && [ ! -u "$WORK/vol/t" ] && ok || bad "a set-uid file appeared on the host"
cp /bin/true "$WORK/vol/t2" && chmod 4755 "$WORK/vol/t2" && [ -u "$WORK/vol/t2" ] && ok || bad "host: chmod 4755 is possible"

# A hostile root file system: mount points that are symlinks out of it.
ROOTFS="$WORK/hostile"
mkdir -p "$ROOTFS"/{bin,d} && cp /bin/busybox "$ROOTFS/bin/sh" 2>/dev/null || cp "$(command -v busybox)" "$ROOTFS/bin/sh"
ln -s /oldroot/etc/sbx-hostile-a "$ROOTFS/conf-a"
ln -s ../../oldroot/tmp/sbx-hostile-b "$ROOTFS/conf-b"
ln -s /oldroot/tmp "$ROOTFS/d/up"
echo volume > "$WORK/volfile"
for target in /conf-a /conf-b /d/up/sbx-hostile-c; do
    R --rootfs "$ROOTFS" -v "$WORK/volfile:$target" -- /bin/sh -c true 2>/dev/null
    rc=$?
    [ "$rc" -eq 125 ] && ok || bad "hostile rootfs $target: exit $rc, expected 125"
done
for leak in /etc/sbx-hostile-a /tmp/sbx-hostile-b /tmp/sbx-hostile-c; do
    [ -e "$leak" ] && bad "hostile rootfs created $leak on the host" || ok
done
# --writable-root: the program writes anywhere in its --rootfs (an overlay on a tmpfs), the
# directory is never changed, and the next run starts from it again; --read-only is the default.
ROOT2="$WORK/image"
mkdir -p "$ROOT2"/{bin,etc,usr,dev,proc,sys,tmp} && cp "$(command -v busybox)" "$ROOT2/bin/busybox"
for applet in sh cat ls rm mkdir touch grep; do ln -s busybox "$ROOT2/bin/$applet"; done
echo original >"$ROOT2/etc/motd"
out=$(R --rootfs "$ROOT2" --writable-root -- sh -c 'echo changed >/etc/motd && cat /etc/motd && mkdir /new && touch /usr/made && rm /bin/ls && ls /new /usr && grep " / " /proc/self/mountinfo; ls /lowerroot /upperroot 2>&1' 2>&1)
expect_match "--writable-root: writes anywhere in the root" "^changed" "$out"
expect_match "--writable-root: new files and directories" "made" "$out"
expect_match "--writable-root: the root is an overlay" " / rw,nosuid,nodev.* - overlay overlay " "$out"
expect_match "--writable-root: its layers are out of sight" "lowerroot: No such file" "$out"
expect_eq "--writable-root: the directory is unchanged" "original|no|no|yes" \
    "$(cat "$ROOT2/etc/motd")|$([ -e "$ROOT2/new" ] && echo yes || echo no)|$([ -e "$ROOT2/usr/made" ] && echo yes || echo no)|$([ -e "$ROOT2/bin/ls" ] && echo yes || echo no)"
expect_eq "--writable-root: the next run starts from the directory again" "original" \
    "$(R --rootfs "$ROOT2" --writable-root -- cat /etc/motd)"
expect_match "without it the root is read-only" "Read-only file system" "$(R --rootfs "$ROOT2" -- touch /etc/x 2>&1)"
expect_match "--read-only is accepted (the default)" "Read-only file system" "$(R --rootfs "$ROOT2" --read-only -- touch /etc/x 2>&1)"
expect_eq "--writable-root needs --rootfs" \
    "sandbox: --writable-root needs --rootfs DIR: the default root is the host's own directories (use --tmpfs or -v for writable places there)" \
    "$(R --writable-root -- true 2>&1)"
expect_eq "--read-only with --writable-root" "sandbox: --read-only and --writable-root contradict each other: give one" \
    "$(R --rootfs "$ROOT2" --read-only --writable-root -- true 2>&1)"

# --tmpfs: a fresh writable tmpfs with the options given, in a read-only root.
out=$("$SANDBOX" run --net=none --tmpfs /cache:size=1m,mode=700 -- sh -c 'echo x > /cache/f && stat -c %a /cache && grep " /cache " /proc/mounts' 2>/dev/null)
expect_match "--tmpfs: writable, its mode" "^700" "$out"
expect_match "--tmpfs: a tmpfs of the size given, nosuid, nodev" "tmpfs /cache tmpfs rw,nosuid,nodev.*size=1024k" "$out"
out=$("$SANDBOX" run --net=none --tmpfs /x:mpol=bind -- true 2>&1); rc=$?
expect_eq "--tmpfs with an option outside the list: 125" 125 $rc
expect_match "--tmpfs: the message names the option" "unknown tmpfs option mpol=bind" "$out"
# --mount in docker's syntax: a read-only bind and a tmpfs; unknown fields are refused by name.
mkdir -p "$WORK/mnt" && echo mounted > "$WORK/mnt/f"
out=$("$SANDBOX" run --net=none --mount "type=bind,source=$WORK/mnt,target=/srv/m,readonly" \
    --mount type=tmpfs,target=/scratch,tmpfs-size=2m,tmpfs-mode=1770 -- \
    sh -c 'cat /srv/m/f; touch /srv/m/g 2>/dev/null && echo writable; stat -c %a /scratch; grep " /scratch " /proc/mounts' 2>/dev/null)
expect_match "--mount bind: the host file, read-only" "^mounted" "$out"
[[ "$out" == *writable* ]] && bad "--mount readonly bind was writable" || ok
expect_match "--mount tmpfs: its mode and size" "1770.*size=2048k" "$(tr '\n' ' ' <<<"$out")"
out=$("$SANDBOX" run --net=none --mount type=bind,source=/tmp,target=/x,bind-propagation=shared -- true 2>&1); rc=$?
expect_eq "--mount with an unsupported field: 125" 125 $rc
expect_match "--mount: the message names the field" "bind-propagation is not supported" "$out"
finish
