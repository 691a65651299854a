#!/bin/bash
# Start-up cost of a sandbox: median wall time of `sandbox run --net=none -- /bin/true` beside
# bubblewrap, gVisor's runsc and unshare, measured in the same run. Usage: bench-launcher.sh BIN_DIR [RUNS]
set -euo pipefail
BIN=${1:?usage: bench-launcher.sh BIN_DIR [RUNS]}
RUNS=${2:-50}
SANDBOX="$BIN/sandbox"

# median_ms CMD...: runs CMD $RUNS times (after 3 warm-up runs), prints the median in ms.
median_ms() {
    local i start end samples=()
    for i in 1 2 3; do "$@" >/dev/null 2>&1; done
    for ((i = 0; i < RUNS; i++)); do
        start=$EPOCHREALTIME
        "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
        end=$EPOCHREALTIME
        samples+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) * 1000 }')")
    done
    printf '%s\n' "${samples[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'
}

row() { printf '%-52s %10s\n' "$1" "$2"; }
none=$(median_ms "$SANDBOX" run --net=none -- /bin/true)
user=$(median_ms "$SANDBOX" run --net=user -- /bin/true)
row "command ($RUNS runs, median)" "wall ms"
row "sandbox run --net=none -- /bin/true" "$none"
row "sandbox run --net=user -- /bin/true" "$user"
row "sandbox run --net=none --seccomp unconfined" "$(median_ms "$SANDBOX" run --net=none --seccomp unconfined -- /bin/true)"
if command -v bwrap >/dev/null; then
    bwrap=$(median_ms bwrap --unshare-all --ro-bind / / /bin/true)
    row "bwrap --unshare-all --ro-bind / / /bin/true" "$bwrap"
else
    bwrap=""
    row "bwrap (not installed)" "-"
fi
if command -v runsc >/dev/null; then
    row "runsc --network=none do /bin/true (gVisor)" "$(median_ms runsc --network=none do /bin/true)"
else
    row "runsc (not installed)" "-"
fi
row "unshare -n true" "$(median_ms unshare -n true)"
row "/bin/true (process start alone)" "$(median_ms /bin/true)"
# The launcher's goals: --net=none at most 2x bwrap, --net=user at most 25 ms.
[ -n "$bwrap" ] && awk -v n="$none" -v b="$bwrap" 'BEGIN { printf "--net=none / bwrap: %.2fx (goal <= 2x)\n", n / b }'
awk -v u="$user" 'BEGIN { printf "--net=user: %.2f ms (goal <= 25 ms)\n", u }'
