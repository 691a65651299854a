# Shared by examples/*/run.sh: argument and root checks, a throwaway "host side" network
# namespace with no uplink (nothing an example does leaves this machine), optionally a
# "remote side" one veth away that stands for the Internet, and cleanup of everything made,
# on every path. A run.sh sources this with its own arguments, then calls hostside_up (and
# remote_up). The gateway protects the host side's own addresses like its loopback, so servers
# a sandbox should reach as "the Internet" live on the remote side.
set -uo pipefail
EXAMPLE=$(basename "$(cd "$(dirname "$0")" && pwd)")
SANDBOX=${1:-}
if [ -z "$SANDBOX" ]; then echo "usage: $0 SANDBOX_BIN   (e.g. .build/static/release/sandbox)" >&2; exit 2; fi
[ -x "$SANDBOX" ] || { echo "$EXAMPLE: no sandbox binary at $SANDBOX" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "$EXAMPLE: run as root (it makes a throwaway network namespace for the host side)" >&2; exit 1; }
SANDBOX=$(readlink -f "$SANDBOX")
EXAMPLE_DIR=$(cd "$(dirname "$0")" && pwd)
# The system python: a per-user shim (pyenv) may not exist for the sandboxed program.
PY=/usr/bin/python3

HS="sandbox-ex-$EXAMPLE-$$"
RS="sandbox-rx-$EXAMPLE-$$"
WORK=$(mktemp -d "/tmp/sandbox-example-$EXAMPLE.XXXXXX")
chmod 755 "$WORK"
BG_PIDS=()
cleanup() {
    local pid
    for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
    ip netns del "$HS" 2>/dev/null
    ip netns del "$RS" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() { echo "$EXAMPLE: FAILED: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }
ok() { printf '\n%s: OK\n' "$EXAMPLE"; }

# In the host-side namespace; in the remote one.
HX() { ip netns exec "$HS" "$@"; }
RX() { ip netns exec "$RS" "$@"; }

# hostside_up ADDR...: the namespace with lo up and a veth pair (hs0, hs1), the given
# addresses (the host's own) on hs0; hs1 waits for remote_up. No default route: there is no
# way out of this machine.
hostside_up() {
    local addr
    ip netns add "$HS" || fail "cannot make the network namespace $HS"
    HX ip link set lo up
    HX ip link add hs0 type veth peer name hs1
    for addr in "$@"; do HX ip addr add "$addr/24" dev hs0; done
    HX ip link set hs0 up
    HX ip link set hs1 up
}

# remote_up ADDR...: the remote side, hs1 moved into it with the given addresses (in the /24
# of the host side's, so they are on-link from there).
remote_up() {
    local addr
    ip netns add "$RS" || fail "cannot make the network namespace $RS"
    RX ip link set lo up
    HX ip link set hs1 netns "$RS"
    for addr in "$@"; do RX ip addr add "$addr/24" dev hs1; done
    RX ip link set hs1 up
}

# background CMD...: start CMD in the host-side namespace, stopped by cleanup; LAST_PID is its
# pid. `ip netns exec` execs in place, so $! is CMD itself (a function run with & would be a
# subshell instead, and killing it would leave CMD running).
background() {
    ip netns exec "$HS" "$@" &
    LAST_PID=$!
    BG_PIDS+=("$LAST_PID")
}

# remote_background CMD...: the same on the remote side.
remote_background() {
    ip netns exec "$RS" "$@" &
    LAST_PID=$!
    BG_PIDS+=("$LAST_PID")
}

# wait_for_http URL: until the host side gets an answer from URL (at most ~10 s).
wait_for_http() {
    local _
    for _ in $(seq 100); do HX curl -s -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
    fail "nothing answers at $1"
}
