# Shared by tests-e2e/launcher-*.sh: the CLI under test, the probe program, and check helpers.
# Each suite sources this with the bin dir as $1; everything made lives in $WORK, removed on exit.
set -uo pipefail
BIN=${1:?usage: $0 BIN_DIR}
SANDBOX="$BIN/sandbox"
[ -x "$SANDBOX" ] || { echo "no sandbox binary at $SANDBOX"; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d /tmp/sandbox-e2e-launcher.XXXXXX)
chmod 755 "$WORK"
CLEANUPS=()
cleanup() {
    local step
    for step in "${CLEANUPS[@]}"; do eval "$step" || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
PASS=0; FAIL=0

ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "  FAIL: $*"; }

# expect_eq NAME EXPECTED ACTUAL
expect_eq() {
    if [ "$2" == "$3" ]; then ok; else bad "$1: expected [$2], got [$3]"; fi
}

# expect_match NAME REGEX ACTUAL
expect_match() {
    if [[ "$3" =~ $2 ]]; then ok; else bad "$1: [$3] does not match /$2/"; fi
}

# The probe: one named attempt per run, prints OK or the errno's name.
build_probe() {
    PROBE="$WORK/probe"
    gcc -O1 -o "$PROBE" "$HERE/launcher-probe.c" || { echo "cannot build the probe"; exit 1; }
    chmod 755 "$PROBE"
}

finish() {
    echo "$(basename "$0"): $PASS passed, $FAIL failed"
    [ "$FAIL" -eq 0 ]
}
