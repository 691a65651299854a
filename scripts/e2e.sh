#!/bin/bash
# End-to-end suites that drive the built binaries through the real CLI. Each suite makes its
# own throwaway namespaces and removes them on every path. Prints "N passed, M failed".
set -uo pipefail
BIN=${1:?usage: e2e.sh BIN_DIR}
cd "$(dirname "$0")/.."
passed=0; failed=0
for suite in tests-e2e/*.sh; do
    [ -e "$suite" ] || continue
    if bash "$suite" "$BIN"; then passed=$((passed + 1)); echo "e2e PASS $suite"
    else failed=$((failed + 1)); echo "e2e FAIL $suite"; fi
done
echo "e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
