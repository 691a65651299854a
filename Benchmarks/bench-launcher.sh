#!/bin/bash
# Start-up cost of a sandbox: median wall time of `sandbox run --net=none -- /bin/true` beside
# bubblewrap and unshare, measured in the same run. Usage: bench-launcher.sh BIN_DIR [RUNS]
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

printf '%-52s %10s\n' "command ($RUNS runs, median)" "wall ms"
printf '%-52s %10s\n' "sandbox run --net=none -- /bin/true" "$(median_ms "$SANDBOX" run --net=none -- /bin/true)"
printf '%-52s %10s\n' "sandbox run --net=none --seccomp unconfined" "$(median_ms "$SANDBOX" run --net=none --seccomp unconfined -- /bin/true)"
if command -v bwrap >/dev/null; then
    printf '%-52s %10s\n' "bwrap --unshare-all --ro-bind / / /bin/true" "$(median_ms bwrap --unshare-all --ro-bind / / /bin/true)"
else
    printf '%-52s %10s\n' "bwrap (not installed)" "-"
fi
printf '%-52s %10s\n' "unshare -n true" "$(median_ms unshare -n true)"
printf '%-52s %10s\n' "/bin/true (process start alone)" "$(median_ms /bin/true)"
echo "sandbox run --net=user: not available yet (UserNet not wired in)"
