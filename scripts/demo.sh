#!/bin/bash
# The main job: a demo sandbox with networking.
set -euo pipefail
SANDBOX=${1:?usage: demo.sh SANDBOX_BIN}
if ! "$SANDBOX" run --help >/dev/null 2>&1; then
    echo "demo: 'sandbox run' is not built yet (the launcher is still in progress)" >&2
    exit 1
fi
