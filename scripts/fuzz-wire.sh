#!/bin/bash
# Builds the libFuzzer target for the Wire parsers and runs it for N seconds (default 60),
# seeded with the real Linux frames of Tests/WireTests/Fixtures. Findings (crashing inputs)
# land in fuzz-out/wire/. Usage: scripts/fuzz-wire.sh [SECONDS] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
shift || true
OUT=fuzz-out/wire
mkdir -p "$OUT/corpus" "$OUT/findings" .build
BIN=.build/wire-fuzz
swiftc -O -parse-as-library -sanitize=fuzzer,address -D WIRE_FUZZ -module-name WireFuzz \
    Sources/Wire/*.swift Tests/WireTests/ParseEverything.swift Fuzz/WireFuzz/main.swift -o "$BIN"
# Seed corpus: one file per captured frame.
python3 - "$OUT/corpus" <<'PY'
import re, sys
text = open("Tests/WireTests/Fixtures/LinuxFrames.swift").read()
for i, hex_frame in enumerate(re.findall(r'hex: "([0-9a-f]+)"', text)):
    open(f"{sys.argv[1]}/linux-{i:03d}", "wb").write(bytes.fromhex(hex_frame))
PY
"$BIN" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -artifact_prefix="$OUT/findings/" \
    -print_final_stats=1 "$@"
