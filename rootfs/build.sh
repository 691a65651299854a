#!/bin/bash
# Builds a small root file system for `sandbox run --rootfs`: Debian's busybox-static (the only
# thing taken from outside this repository, and only as a Debian package) plus the static test
# programs of rootfs/src/, compiled with gcc -static. Idempotent: a second run changes nothing
# that is up to date; concurrent runs serialise on a lock.
#
#   rootfs/build.sh            builds rootfs/out/rootfs
#   ROOTFS_OUT=DIR rootfs/build.sh   builds DIR/rootfs instead
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${ROOTFS_OUT:-$HERE/out}
ROOT="$OUT/rootfs"
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9

# busybox-static: the installed package's binary, or the package fetched (not installed) with
# apt-get download and unpacked here when it is not installed.
busybox_binary() {
    if dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "install ok installed"; then
        dpkg -L busybox-static | grep -E '/bin/busybox$' | head -n 1
        return
    fi
    local cache="$OUT/deb"
    if [ ! -x "$cache/bin/busybox" ]; then
        mkdir -p "$cache"
        (cd "$cache" && apt-get download busybox-static >/dev/null)
        dpkg-deb -x "$cache"/busybox-static_*.deb "$cache"
    fi
    echo "$cache/bin/busybox"
}
BUSYBOX=$(busybox_binary)
# A dynamic binary would need a libc in the tree: refuse it (readelf comes with gcc's binutils).
if readelf -l "$BUSYBOX" | grep -q "program interpreter"; then
    echo "rootfs: $BUSYBOX is not statically linked" >&2; exit 1
fi

# The skeleton. Mount points stay empty: the launcher mounts /proc, /dev, /sys and /tmp.
for dir in bin sbin usr/bin usr/sbin usr/local/bin etc root home dev proc sys run var/tmp; do
    mkdir -p "$ROOT/$dir"
done
mkdir -p "$ROOT/tmp"
chmod 1777 "$ROOT/tmp" "$ROOT/var/tmp"
chmod 700 "$ROOT/root"

install -m 755 "$BUSYBOX" "$ROOT/bin/busybox.new"
if cmp -s "$ROOT/bin/busybox.new" "$ROOT/bin/busybox" 2>/dev/null; then
    rm "$ROOT/bin/busybox.new"
else
    mv -f "$ROOT/bin/busybox.new" "$ROOT/bin/busybox"
fi
# One link per applet, where busybox says the applet lives (relative, so the tree can move).
"$ROOT/bin/busybox" --list-full | while read -r applet; do
    case "$applet" in bin/busybox | "") continue ;; esac
    depth=$(tr -cd / <<<"$applet" | wc -c)
    up=$(printf '../%.0s' $(seq 1 "$depth"))
    ln -sfn "${up}bin/busybox" "$ROOT/$applet"
done

# Files a program expects in /etc; resolv.conf and hosts point at the gateway's DNS forwarder
# (the launcher may bind its own over them).
write_if_changed() {  # PATH CONTENT
    if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then printf '%s\n' "$2" >"$1"; fi
}
write_if_changed "$ROOT/etc/passwd" "root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false"
write_if_changed "$ROOT/etc/group" "root:x:0:
nogroup:x:65534:"
write_if_changed "$ROOT/etc/hostname" "sandbox"
write_if_changed "$ROOT/etc/hosts" "127.0.0.1 localhost
::1 localhost
10.0.2.2 gateway"
write_if_changed "$ROOT/etc/resolv.conf" "nameserver 10.0.2.3"
write_if_changed "$ROOT/etc/profile" 'export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin'

# Static test programs: rootfs/src/NAME.c -> /usr/local/bin/NAME, rebuilt when the source is newer.
for source in "$HERE"/src/*.c; do
    [ -e "$source" ] || continue
    target="$ROOT/usr/local/bin/$(basename "$source" .c)"
    if [ ! -x "$target" ] || [ "$source" -nt "$target" ]; then
        gcc -static -O2 -Wall -Wextra -o "$target.new" "$source"
        mv -f "$target.new" "$target"
    fi
done

echo "rootfs: $ROOT ($(du -sh "$ROOT" | cut -f1), busybox $("$ROOT/bin/busybox" | head -n 1 | awk '{print $2}'))"
