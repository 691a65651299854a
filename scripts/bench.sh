#!/bin/bash
# Runs every benchmark; each prints its figures beside a peer measured in the same run.
set -euo pipefail
# BIN_DIR holds the bench-* executables; SANDBOX is the `sandbox` binary users run.
BIN=${1:?usage: bench.sh BIN_DIR SANDBOX}
SANDBOX=${2:?usage: bench.sh BIN_DIR SANDBOX}
for b in "$BIN"/bench-*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
echo "== bench-launcher.sh"
"$(dirname "$0")/../Benchmarks/bench-launcher.sh" "$(dirname "$SANDBOX")"
echo "== bench-gateway.sh"
"$(dirname "$0")/../Benchmarks/bench-gateway.sh" "$SANDBOX"
echo "== bench-short-transfer.sh"
"$(dirname "$0")/../Benchmarks/bench-short-transfer.sh" "$SANDBOX"
