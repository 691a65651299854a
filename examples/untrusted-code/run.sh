#!/bin/bash
# Untrusted code tries to break out and is refused: untrusted.sh (next to this script) runs in
# the sandbox and tries raw sockets, new namespaces, mounts, chroot, ptrace, writes to the root
# file system, device nodes, host name and network changes. Each must be refused.
# Usage (as root): examples/untrusted-code/run.sh SANDBOX_BIN
source "$(dirname "$0")/../lib/hostside.bash"
ATTEMPTS=$(grep -c '^attempt "' "$EXAMPLE_DIR/untrusted.sh")

step "host side: network namespace $HS (no uplink)"
hostside_up 198.51.100.1

# The root file system is the host's /, read-only; the script comes in through a read-only volume.
step "sandbox run --net=user -v $EXAMPLE_DIR:/tmp/untrusted:ro -- sh /tmp/untrusted/untrusted.sh"
out=$(HX "$SANDBOX" run --net=user -v "$EXAMPLE_DIR:/tmp/untrusted:ro" -- sh /tmp/untrusted/untrusted.sh 2>&1)
rc=$?
echo "$out"
refused=$(grep -c '^  refused  ' <<<"$out")
echo "   $refused of $ATTEMPTS attempts refused; the program exited with $rc"
[ "$refused" = "$ATTEMPTS" ] || fail "only $refused of $ATTEMPTS attempts were refused"
[ "$rc" = 0 ] || fail "the program exited with $rc"

step "for contrast: the same script outside the sandbox, as root, in throwaway namespaces"
# unshare gives it namespaces of its own (mount, network, UTS, pid), so what it does there
# vanishes with it, and scratch file systems over /etc, /tmp and /mnt (in that private mount
# namespace only) take its writes: nothing reaches the machine. As root, every attempt succeeds.
# The script's text is read first: the scratch /tmp would hide a checkout that lives there.
out=$(unshare -m -n -u -p --fork --mount-proc sh -c \
      'for dir in /etc /tmp /mnt; do mount -t tmpfs scratch "$dir" || exit 99; done; sh -c "$1"' \
      untrusted "$(cat "$EXAMPLE_DIR/untrusted.sh")" 2>&1)
[ $? != 99 ] || fail "cannot make the scratch file systems for the unconfined run"
echo "$out"
open=$(grep -c '^  ALLOWED  ' <<<"$out")
echo "   $open of $ATTEMPTS attempts succeed outside the sandbox: the refusals above are the sandbox's doing"
[ "$open" = "$ATTEMPTS" ] || fail "only $open of $ATTEMPTS attempts succeed outside the sandbox: the others prove nothing"
ok
