#!/bin/bash
# Runs every examples/*/run.sh against BIN_DIR/sandbox; each must exit 0 and leave no network
# namespace behind. A failing example's output is shown; a passing one's is not.
set -uo pipefail
BIN=${1:?usage: examples.sh BIN_DIR}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SANDBOX="$BIN/sandbox"
[ -x "$SANDBOX" ] || { echo "examples: no sandbox binary at $SANDBOX"; exit 1; }
OUT=$(mktemp /tmp/sandbox-e2e-examples.XXXXXX)
trap 'rm -f "$OUT"' EXIT
PASS=0; FAIL=0
for script in "$HERE"/examples/*/run.sh; do
    name=$(basename "$(dirname "$script")")
    # In the background only to learn its pid: the script names its namespace after it.
    bash "$script" "$SANDBOX" >"$OUT" 2>&1 &
    pid=$!
    wait "$pid"; rc=$?
    out=$(cat "$OUT")
    if [ "$rc" = 0 ] && [ "$(tail -n 1 <<<"$out")" = "$name: OK" ]; then
        PASS=$((PASS + 1))
    else
        FAIL=$((FAIL + 1))
        echo "  FAIL: example $name (exit status $rc):"
        sed 's/^/    | /' <<<"$out"
    fi
    left=$(ip netns list | awk '{print $1}' | grep -cx "sandbox-ex-$name-$pid")
    if [ "$left" = 0 ]; then PASS=$((PASS + 1)); else FAIL=$((FAIL + 1)); echo "  FAIL: example $name left $left network namespace(s)"; fi
done
[ "$PASS" -gt 0 ] || { echo "examples: no examples found"; exit 1; }
echo "$(basename "$0"): $PASS passed, $FAIL failed"
[ "$FAIL" -eq 0 ]
