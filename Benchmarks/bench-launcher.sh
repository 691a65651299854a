#!/bin/bash
# Start-up cost of a sandbox: median wall time of `sandbox run --net=none -- /bin/true` beside
# bubblewrap, gVisor's runsc and unshare, measured in the same run. Usage: bench-launcher.sh BIN_DIR [RUNS]
#
# The commands take turns, one run each per round, so that whatever else the machine is doing
# (a kernel still tearing down an earlier test's namespaces, say) weighs on every column alike
# and the ratios hold even when the absolute figures move.
#
# BASELINE=PATH (another build's sandbox binary) adds its --net=none and --net=user runs to the
# same turns, for a before/after figure of one change.
set -euo pipefail
BIN=${1:?usage: bench-launcher.sh BIN_DIR [RUNS]}
RUNS=${2:-50}
SANDBOX="$BIN/sandbox"

labels=() commands=()
add() { labels+=("$1"); commands+=("$2"); }
add "sandbox run --net=none -- /bin/true" "'$SANDBOX' run --net=none -- /bin/true"
add "sandbox run --net=user -- /bin/true" "'$SANDBOX' run --net=user -- /bin/true"
if [ -n "${BASELINE:-}" ]; then
    add "baseline run --net=none -- /bin/true" "'$BASELINE' run --net=none -- /bin/true"
    add "baseline run --net=user -- /bin/true" "'$BASELINE' run --net=user -- /bin/true"
fi
add "sandbox run --net=none --seccomp unconfined" "'$SANDBOX' run --net=none --seccomp unconfined -- /bin/true"
if command -v bwrap >/dev/null; then
    add "bwrap --unshare-all --ro-bind / / /bin/true" "bwrap --unshare-all --ro-bind / / /bin/true"
fi
if command -v runsc >/dev/null; then
    add "runsc --network=none do /bin/true (gVisor)" "runsc --network=none do /bin/true"
fi
add "unshare -n true" "unshare -n true"
add "/bin/true (process start alone)" "/bin/true"

# Three warm-up rounds, then $RUNS measured ones; samples[i] collects command i's times in ms.
declare -A samples
for ((round = -3; round < RUNS; round++)); do
    for i in "${!commands[@]}"; do
        start=$EPOCHREALTIME
        eval "${commands[$i]}" >/dev/null 2>&1 || { echo "failed: ${commands[$i]}" >&2; exit 1; }
        end=$EPOCHREALTIME
        ((round < 0)) && continue
        samples[$i]+="$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) * 1000 }') "
    done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m }'; }

row() { printf '%-52s %10s\n' "$1" "$2"; }
row "command ($RUNS runs each, in turns, median)" "wall ms"
declare -A result
for i in "${!commands[@]}"; do
    result[${labels[$i]}]=$(median <<<"${samples[$i]}")
    row "${labels[$i]}" "${result[${labels[$i]}]}"
done
command -v bwrap >/dev/null || row "bwrap (not installed)" "-"
command -v runsc >/dev/null || row "runsc (not installed)" "-"
# The launcher's goals: --net=none at most 2x bwrap, --net=user at most 25 ms.
none=${result["sandbox run --net=none -- /bin/true"]}
user=${result["sandbox run --net=user -- /bin/true"]}
bwrap=${result["bwrap --unshare-all --ro-bind / / /bin/true"]:-}
[ -n "$bwrap" ] && awk -v n="$none" -v b="$bwrap" 'BEGIN { printf "--net=none / bwrap: %.2fx (goal <= 2x)\n", n / b }'
awk -v u="$user" 'BEGIN { printf "--net=user: %.2f ms (goal <= 25 ms)\n", u }'
