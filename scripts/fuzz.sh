#!/bin/bash
# libFuzzer + AddressSanitizer targets for every parser the gateway runs on the app's bytes.
#   scripts/fuzz.sh --list                     the targets, one line each
#   scripts/fuzz.sh TARGET [SECONDS] [FLAGS]   build TARGET, seed it, run it (default 60 s)
# Each target is built straight with swiftc (module by module, every one instrumented), so the
# release build and `swift test` never see libFuzzer. Findings (crashing inputs) land in
# fuzz-out/TARGET/findings/, the growing corpus in fuzz-out/TARGET/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."

list() {
    cat <<'EOF'
wire            every Wire parser, re-emitted and re-parsed (seeds: real Linux frames)
dns             DNS queries and answers both ways: parse, policy decision, written answers, learning, TCP framing (seeds: dig against a DNS server, captured)
stack           the whole stack fed frames: NIC, ARP/NDP, IPv4/6, fragments, ICMP, UDP, TCP in gateway mode with a fake clock (seeds: real Linux frames)
seccomp-profile the OCI seccomp profile parser (seeds: hand-written allow- and deny-list profiles, and podman's default when installed)
EOF
}
[ "${1:-}" = "--list" ] && { list; exit 0; }
TARGET=${1:?usage: scripts/fuzz.sh --list | TARGET [SECONDS] [libFuzzer flags]}
SECONDS_TO_RUN=${2:-60}
shift; [ $# -gt 0 ] && shift
list | grep -q "^$TARGET " || { echo "fuzz.sh: no target $TARGET (see --list)" >&2; exit 2; }
OUT=fuzz-out/$TARGET
LIB=.build/fuzz
mkdir -p "$OUT/corpus" "$OUT/findings" "$LIB"
FLAGS=(-O -parse-as-library -sanitize=fuzzer,address -swift-version 6 -I "$LIB" -L "$LIB")

# module NAME FILES...: an instrumented static library and its module, for the targets to link.
module() {
    local name=$1; shift
    swiftc "${FLAGS[@]}" -emit-library -static -emit-module -module-name "$name" "$@" -o "$LIB/lib$name.a"
}
# executable MAIN LIBS...: the fuzzer itself.
executable() {
    local main=$1; shift
    swiftc "${FLAGS[@]}" -module-name "Fuzz${TARGET//-/}" "$main" "${@/#/-l}" -o "$LIB/$TARGET"
}
seed_linux_frames() {
    python3 - "$OUT/corpus" "$1" <<'PY'
import re, struct, sys
text = open("Tests/WireTests/Fixtures/LinuxFrames.swift").read()
for i, hex_frame in enumerate(re.findall(r'hex: "([0-9a-f]+)"', text)):
    frame = bytes.fromhex(hex_frame)
    # "records" seeds: a 2-byte length and a clock step before each frame (the stack target's framing).
    data = struct.pack("!HB", len(frame), 1) + frame if sys.argv[2] == "records" else frame
    open(f"{sys.argv[1]}/linux-{i:03d}", "wb").write(data)
PY
}

case "$TARGET" in
wire)
    swiftc "${FLAGS[@]}" -D WIRE_FUZZ -module-name WireFuzz Sources/Wire/*.swift Tests/WireTests/ParseEverything.swift \
        Fuzz/WireFuzz/main.swift -o "$LIB/$TARGET"
    seed_linux_frames plain
    MAXLEN=4096 ;;
dns)
    module Wire Sources/Wire/*.swift
    module UserNetDNS $(sed 's|^|Sources/UserNet/|' Fuzz/DNSFuzz/sources)
    executable Fuzz/DNSFuzz/main.swift UserNetDNS Wire
    scripts/fuzz-dns-seeds.sh "$OUT/corpus"
    MAXLEN=4096 ;;
stack)
    module Wire Sources/Wire/*.swift
    module Link Sources/Link/*.swift
    module Netstack Sources/Netstack/*.swift Sources/Netstack/TCP/*.swift
    module NetstackTesting Sources/NetstackTesting/MemoryLink.swift Sources/NetstackTesting/FakeClock.swift
    executable Fuzz/StackFuzz/main.swift NetstackTesting Netstack Link Wire
    seed_linux_frames records
    MAXLEN=65536 ;;
seccomp-profile)
    module SandboxSeccompProfile Sources/Sandbox/OCISeccompProfile.swift Sources/Sandbox/SeccompPolicy.swift \
        Sources/Sandbox/IntArgumentMasking.swift Sources/Sandbox/MaskedCover.swift Fuzz/SeccompProfileFuzz/Stubs.swift
    executable Fuzz/SeccompProfileFuzz/main.swift SandboxSeccompProfile
    cp Fuzz/SeccompProfileFuzz/seeds/*.json "$OUT/corpus/"
    if [ -f /usr/share/containers/seccomp.json ]; then cp /usr/share/containers/seccomp.json "$OUT/corpus/podman-default.json"; fi
    MAXLEN=262144 ;;
esac
"$LIB/$TARGET" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -max_len="$MAXLEN" -artifact_prefix="$OUT/findings/" \
    -print_final_stats=1 "$@"
