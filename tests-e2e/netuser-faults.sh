#!/bin/bash
# Link faults (--net-delay, --net-loss, --net-rate, --net-duplicate, --net-reorder), applied by
# the gateway in each direction, measured from outside against what was asked: the round trip
# of ping, the rate of a download, a 20 MB transfer's SHA-256 under loss, duplication and
# reordering, a link cut off by 100% loss; and the gateway's counters of what it did.
source "$(dirname "$0")/lib/netuser-common.bash"

head -c 20000000 /dev/urandom >"$WORK/www/big"
want=$(sha256sum "$WORK/www/big" | cut -d' ' -f1)
for _ in $(seq 50); do HX curl -s -o /dev/null "http://$REMOTE_ADDR:8000/" && break; sleep 0.1; done
# counter NAME TEXT: the value of a gateway counter in a --log-level debug run's last line.
counter() { grep -o "$1=[0-9]*" <<<"$2" | tail -n 1 | cut -d= -f2; }
# within VALUE LOW HIGH: LOW <= VALUE <= HIGH (decimals allowed).
within() { python3 -c 'import sys; v, lo, hi = map(float, sys.argv[1:]); sys.exit(0 if lo <= v <= hi else 1)' "$@"; }

# Delay: 50 ms each way is a 100 ms round trip (netem's meaning). The first ping also waits for
# ARP, so the median of ten is the measure; within 20% of what was asked. With jitter, the
# round trips after the first stay within the delay give or take twice the jitter, plus what a
# loaded machine adds to a timer (all but those that wait for an ARP refresh, which the delay
# holds up too).
out=$(SB --net-delay 50ms -- ping -c 10 -i 0.2 "$REMOTE_ADDR" 2>&1)
median=$(grep -o 'time=[0-9.]*' <<<"$out" | cut -d= -f2 | sort -n | sed -n 5p)
within "${median:-0}" 100 120 && ok || bad "--net-delay 50ms: median round trip ${median:-none} ms, asked 100 (within 20%)"
echo "  measured: --net-delay 50ms -> median round trip $median ms (asked 100)"
out=$(SB --net-delay 50ms,10ms -- ping -c 20 -i 0.1 "$REMOTE_ADDR" 2>&1)
times=$(grep -o 'time=[0-9.]*' <<<"$out" | cut -d= -f2 | sed 1d | sort -n)
inside=$(awk '$1 >= 80 && $1 <= 130' <<<"$times" | wc -l)
[ "$inside" -ge 15 ] && ok || bad "--net-delay 50ms,10ms: only $inside of 19 round trips within 80-130 ms: $(tr '\n' ' ' <<<"$times")"
[ "$(head -n 1 <<<"$times")" != "$(tail -n 1 <<<"$times")" ] && ok || bad "--net-delay with jitter: every round trip the same"

# Rate: 40 mbit is 5 MB/s; a 20 MB download within 20% of it.
speed=$(SB --net-rate 40mbit -- curl -s -o /dev/null -w '%{speed_download}' "http://$REMOTE_ADDR:8000/big" 2>&1)
within "${speed:-0}" 4000000 6000000 && ok || bad "--net-rate 40mbit: ${speed:-no} bytes/s, asked 5000000 (within 20%)"
echo "  measured: --net-rate 40mbit -> $speed bytes/s (asked 5000000)"

# Loss: 3% of frames each way; TCP recovers and the 20 MB arrive intact; the gateway counts it.
out=$(SB --net-loss 3% --log-level debug -- sh -c "curl -s --max-time 120 http://$REMOTE_ADDR:8000/big | sha256sum" 2>&1)
expect_eq "--net-loss 3%: 20 MB SHA-256-intact" 1 "$(grep -c "^$want " <<<"$out")"
lost=$(counter frames-lost "$out")
crossed=$(counter frames-through-faults "$out")
share=$(awk -v l="${lost:-0}" -v c="${crossed:-0}" 'BEGIN { if (c > 0) printf "%.2f", 100 * l / c; else print 0 }')
# The seed is fixed (--net-seed 1), so only the frame count varies between runs.
within "$share" 1.5 4.5 && ok || bad "--net-loss 3%: lost ${lost:-none} of ${crossed:-none} frames ($share%), asked 3%"
echo "  measured: --net-loss 3% -> ${lost:-0} of ${crossed:-0} frames lost ($share%, asked 3%), transfer intact"

# Duplication and reordering (which needs a delay: the reordered frames are the ones not held).
out=$(SB --net-delay 5ms --net-reorder 25% --net-duplicate 5% --log-level debug -- \
    sh -c "curl -s --max-time 120 http://$REMOTE_ADDR:8000/big | sha256sum" 2>&1)
expect_eq "--net-reorder 25% --net-duplicate 5%: 20 MB SHA-256-intact" 1 "$(grep -c "^$want " <<<"$out")"
[ "$(counter frames-reordered "$out")" -gt 0 ] && [ "$(counter frames-duplicated "$out")" -gt 0 ] && ok \
    || bad "reorder/duplicate counters: $(grep -o 'frames-[a-z-]*=[0-9]*' <<<"$out" | tr '\n' ' ')"

# 100% loss cuts the sandbox off: nothing gets through, quickly refused by curl's own timeout.
out=$(SB --net-loss 100% -- sh -c "curl -s --max-time 3 -o /dev/null http://$REMOTE_ADDR:8000/; echo rc=\$?" 2>&1)
expect_match "--net-loss 100%: cut off" "rc=28" "$out"

# Changed while it runs: a detached sandbox polls the remote server; `sandbox update --net-loss
# 100%` cuts it off, `--net-loss 0%` heals it, and its log shows up, down, up again.
CLEANUPS+=('R rm -f flaky1 >/dev/null 2>&1')
R run -d --name flaky1 --net-delay 5ms -- sh -c "while :; do
    if curl -s --max-time 1 -o /dev/null http://$REMOTE_ADDR:8000/; then echo up; else echo down; fi; sleep 0.2; done" >/dev/null
# wait_for_log WORD: until the last line of the sandbox's log is WORD (10 s at most).
wait_for_log() { for _ in $(seq 100); do [ "$(R logs flaky1 | tail -n 1)" = "$1" ] && return 0; sleep 0.1; done; return 1; }
wait_for_log up && ok || bad "the detached sandbox never reached the server"
expect_eq "update --net-loss 100%: says what is in force" "flaky1: --net-delay 5ms --net-loss 100%" \
    "$(R update --net-loss 100% flaky1 2>&1)"
wait_for_log down && ok || bad "update --net-loss 100% did not cut the sandbox off"
expect_eq "update --net-loss 0%: the delay stays" "flaky1: --net-delay 5ms" "$(R update --net-loss 0% flaky1 2>&1)"
wait_for_log up && ok || bad "update --net-loss 0% did not heal the link"
expect_match "the log shows up, down, up" "^up down up$" "$(R logs flaky1 | uniq | tr '\n' ' ' | sed 's/ $//')"
expect_eq "update with nothing to change" "sandbox: nothing to update: name a link fault, e.g. --net-loss 100%" \
    "$(R update flaky1 2>&1)"
R rm -f flaky1 >/dev/null
expect_eq "update of a sandbox that is gone" "sandbox: container flaky1 does not exist" "$(R update --net-loss 1% flaky1 2>&1)"

# Refusals name the flag, the value and the form.
expect_eq "--net-reorder needs --net-delay" \
    "sandbox: bad --net-reorder 10%: needs --net-delay: reordered frames are the ones not delayed" \
    "$(SB --net-reorder 10% -- true 2>&1)"
expect_eq "a share above 100%" "sandbox: bad --net-loss 150%: expected a percentage from 0% to 100%" \
    "$(SB --net-loss 150% -- true 2>&1)"
expect_match "a rate without a unit" "^sandbox: bad --net-rate fast: expected a rate such as 10mbit" "$(SB --net-rate fast -- true 2>&1)"
expect_eq "jitter above the delay" "sandbox: bad --net-delay 10ms,20ms: the jitter may be at most the delay" \
    "$(SB --net-delay 10ms,20ms -- true 2>&1)"
expect_eq "link faults need --net=user" \
    "sandbox: --net-delay configures the user-mode network and needs --net=user (got --net=none)" \
    "$(SB --net=none --net-delay 10ms -- true 2>&1)"
check_no_leftovers "link fault runs"
finish
