#!/bin/sh
# The "untrusted" program: it tries, one at a time, things that would let code out of a
# sandbox or into the machine, and reports each outcome. Every attempt is harmless if it were
# to succeed (it would only touch the sandbox's own namespaces), and every one should be
# refused. Exit status: the number of attempts that were NOT refused.
allowed=0

# attempt WHAT CMD...: run CMD; it must fail. Prints the line of its errors that says why.
attempt() {
    what=$1; shift
    out=$("$@" 2>&1)
    status=$?
    if [ "$status" = 0 ]; then
        echo "  ALLOWED  $what"
        allowed=$((allowed + 1))
    elif [ "$status" = 126 ] || [ "$status" = 127 ]; then
        # The tool itself is missing: that proves nothing either way.
        echo "  MISSING  $what: $1 cannot run here"
        allowed=$((allowed + 1))
    else
        why=$(printf '%s\n' "$out" | grep -m 1 -iE 'not permitted|denied|read-only|not implemented' || printf '%s\n' "$out" | tail -n 1)
        printf '  refused  %-44s %s\n' "$what" "$why"
    fi
}
py() { /usr/bin/python3 -c "$1"; }

echo "untrusted code running as uid $(id -u), pid $$, on $(hostname); it sees $(ls /proc | grep -c '^[0-9]') processes"
attempt "open a raw socket (forge packets)"          py 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)'
attempt "open a packet socket (sniff the link)"      py 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'
attempt "make a user namespace (unshare -U)"         unshare -U true
attempt "make a network namespace (unshare -n)"      unshare -n true
attempt "mount a file system"                        mount -t tmpfs none /mnt
attempt "chroot"                                     chroot / true
attempt "ptrace a process (strace true)"            strace -o /dev/null true
attempt "write to the root file system"              touch /etc/evil
attempt "make a device node (mknod)"                 mknod /tmp/disk b 8 0
attempt "change the host name"                       hostname evil
attempt "reconfigure the network (ip addr add)"      ip addr add 10.9.9.9/32 dev lo
echo "attempts not refused: $allowed"
exit "$allowed"
