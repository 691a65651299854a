#!/bin/bash
# The escape suite (issue 7): rootfs/src/escape.c tries every denied thing.
#  1. Unconfined, as root, inside a throwaway `unshare -m -n -u -i -p --fork` (so its mounts and
#     link changes vanish with it): the possible attempts must succeed, proving the program can
#     see a hole.
#  2. Confined, inside `sandbox run --net=none` (host / and the rootfs/ tree as root file
#     systems): every attempt must fail with the errno the policy promises.
# Half 2 runs only once `sandbox run` exists; until then the script says so and passes on half 1.
set -uo pipefail
BIN=${1:?usage: escape.sh BIN_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SANDBOX="$BIN/sandbox"
WORK=$(mktemp -d /tmp/sandbox-e2e-escape.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
FAILED=0
fail() { FAILED=$((FAILED + 1)); echo "  FAIL: $*"; }

gcc -static -O2 -Wall -o "$WORK/escape" "$HERE/rootfs/src/escape.c" || { echo "escape suite: cannot build escape.c"; exit 1; }

# check_run LABEL RC OUTPUT: exit status 0, a summary, one PASS line per asserted attempt.
check_run() {
    local label=$1 rc=$2 output=$3
    grep -E ' (FAIL)$' <<<"$output" | sed "s|^|  $label: |"
    [ "$rc" -eq 0 ] || fail "$label: escape exited $rc"
    grep -q '^summary ' <<<"$output" || fail "$label: no summary line (crashed?)"
    grep '^summary ' <<<"$output" | sed "s|^|  $label: |"
}

# --- 1. unconfined ---------------------------------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "escape suite: needs root for the unconfined half"; exit 1
fi
open_out=$(unshare -m -n -u -i -p --fork --mount-proc sh -c '"$0" --expect-open; exit $?' "$WORK/escape" 2>&1)
check_run open $? "$open_out"
ATTEMPTS=$(sed -n 's/^summary .* attempts=\([0-9]*\).*/\1/p' <<<"$open_out")
[ "${ATTEMPTS:-0}" -ge 40 ] || fail "only ${ATTEMPTS:-0} attempts (issue 7 asks for at least 40)"
holes=$(sed -n 's/^summary .* succeeded=\([0-9]*\).*/\1/p' <<<"$open_out")
# Most attempts are plain successes for unconfined root; if they are not, the program is blind.
[ "${holes:-0}" -ge 40 ] || fail "open: only ${holes:-0} attempts succeeded unconfined; the suite cannot see holes"

# --- 2. confined -----------------------------------------------------------------------------
help=$([ -x "$SANDBOX" ] && "$SANDBOX" run --help 2>/dev/null)
if ! { grep -q -- '--net' <<<"$help" && grep -q 'none' <<<"$help"; }; then
    echo "escape suite: FAIL: '$SANDBOX run' with --net=none is missing; the confined half cannot run"
    exit 1
fi

# check_confined LABEL RC OUTPUT: every attempt PASS, none missing.
check_confined() {
    check_run "$1" "$2" "$3"
    local passes
    passes=$(grep -c ' PASS$' <<<"$3")
    [ "$passes" -eq "$ATTEMPTS" ] || fail "$1: $passes of $ATTEMPTS attempts denied as expected"
}

out=$("$SANDBOX" run --net=none -v "$WORK:/tmp/escape-bin:ro" -- /tmp/escape-bin/escape 2>&1)
check_confined "confined (host / read-only)" $? "$out"

# The same inside the busybox rootfs (rootfs/build.sh builds escape into /usr/local/bin).
if ROOTFS_OUT="$WORK/rootfs-out" "$HERE/rootfs/build.sh" >/dev/null; then
    out=$("$SANDBOX" run --net=none --rootfs "$WORK/rootfs-out/rootfs" -- /usr/local/bin/escape 2>&1)
    check_confined "confined (busybox rootfs)" $? "$out"
else
    fail "rootfs/build.sh failed"
fi

# As a non-root user inside: capability checks answer for a plain user too.
out=$("$SANDBOX" run --net=none --user 1000:1000 -v "$WORK:/tmp/escape-bin:ro" -- /tmp/escape-bin/escape 2>&1)
check_confined "confined (--user 1000:1000)" $? "$out"

# With a user namespace (as root: --userns=on; rootless: always), where the app is root of its
# own namespace and holds capabilities there unless the launcher drops them.
out=$("$SANDBOX" run --net=none --userns=on -v "$WORK:/tmp/escape-bin:ro" -- /tmp/escape-bin/escape 2>&1)
check_confined "confined (--userns=on)" $? "$out"
uid=54400
while getent passwd $uid >/dev/null || pgrep -u $uid >/dev/null; do uid=$((uid + 1)); done
cp "$SANDBOX" "$WORK/sandbox" && chmod 755 "$WORK/sandbox"
out=$(setpriv --reuid $uid --regid $uid --clear-groups "$WORK/sandbox" run --net=none \
        -v "$WORK:/tmp/escape-bin:ro" -- /tmp/escape-bin/escape 2>&1)
check_confined "confined (rootless, uid $uid)" $? "$out"

# With --net=user the app has an eth0, and the rtnetlink attempts aim at it (with --net=none they
# fall back to lo). Run that too once the gateway exists.
if "$SANDBOX" run --net=user -- true >/dev/null 2>&1; then
    out=$("$SANDBOX" run --net=user -v "$WORK:/tmp/escape-bin:ro" -- /tmp/escape-bin/escape 2>&1)
    check_confined "confined (--net=user, eth0)" $? "$out"
else
    echo "  escape suite: --net=user not available yet; the eth0 attempts ran against lo"
fi

# Control: the same sandbox without its filter must let the filter-only attempts through (they
# then fail the suite), so the PASSes above are the filter's work, not an accident of setup.
out=$("$SANDBOX" run --net=none --seccomp unconfined -v "$WORK:/tmp/escape-bin:ro" -- /tmp/escape-bin/escape 2>&1)
rc=$?
[ "$rc" -eq 1 ] || fail "control (--seccomp unconfined): escape exited $rc, expected 1 (holes seen)"
for attempt in clone3 io_uring_setup socket_netlink_generic unshare_user personality_read_implies_exec; do
    grep -q "^$attempt result=ok .* FAIL$" <<<"$out" || fail "control (--seccomp unconfined): $attempt did not get through"
done
grep '^summary ' <<<"$out" | sed "s|^|  control (--seccomp unconfined, holes expected): |"

echo "escape suite: $FAILED failed"
[ "$FAILED" -eq 0 ]
