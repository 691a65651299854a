#!/bin/bash
# Runs every benchmark; each prints its figures beside a peer measured in the same run.
set -euo pipefail
BIN=${1:?usage: bench.sh BIN_DIR}
for b in "$BIN"/bench-*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
echo "== bench-launcher.sh"
"$(dirname "$0")/../Benchmarks/bench-launcher.sh" "$BIN"
echo "== bench-gateway.sh"
"$(dirname "$0")/../Benchmarks/bench-gateway.sh" "$BIN/sandbox"
