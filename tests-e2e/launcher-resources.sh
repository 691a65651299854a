#!/bin/bash
# --memory, --pids-limit and --cpus take effect (through cgroups), and leave no cgroup behind.
source "$(dirname "$0")/lib/launcher-common.bash"
S() { "$SANDBOX" run --net=none "$@"; }
count_cgroups() { find /sys/fs/cgroup -maxdepth 6 -type d -name "sandbox-*" 2>/dev/null | wc -l; }
before=$(count_cgroups)

# 200 MiB in a 32 MiB sandbox: the OOM killer ends it (SIGKILL, 137); 8 MiB is fine.
S --memory 32m -- python3 -c 'b = bytearray(200 << 20); print("survived")' >/dev/null 2>&1
expect_eq "--memory: over the limit is killed" 137 $?
expect_eq "--memory: under the limit runs" "ok" "$(S --memory 64m -- python3 -c 'b = bytearray(8 << 20); print("ok")')"

# 8 processes: sh + 7 sleeps would exceed 5; fork fails inside, the shell reports it.
out=$(S --pids-limit 5 -- sh -c 'for i in 1 2 3 4 5 6 7; do sleep 0.2 & done; wait; echo done' 2>&1)
expect_match "--pids-limit: fork fails past the limit" "fork|Resource temporarily unavailable" "$out"
expect_eq "--pids-limit: within the limit" "done" "$(S --pids-limit 10 -- sh -c 'sleep 0.1 & sleep 0.1 & wait; echo done')"

# --cpus: the quota is visible in the sandbox's cpu cgroup while it runs.
quota=$(S --cpus 0.5 -- sh -c 'cat /proc/self/cgroup' >/dev/null; echo ok)
expect_eq "--cpus runs" "ok" "$quota"
"$SANDBOX" run --net=none --cpus 0.5 -- sleep 2 & launcher=$!
found=""
for _ in $(seq 50); do
    found=$(grep -l "^50000$" /sys/fs/cgroup/cpu/sandbox-$launcher-*/cpu.cfs_quota_us /sys/fs/cgroup/cpu/*/sandbox-$launcher-*/cpu.cfs_quota_us 2>/dev/null | head -1)
    [ -n "$found" ] && break
    sleep 0.05
done
wait $launcher
[ -n "$found" ] && ok || bad "--cpus 0.5: no cgroup with cpu.cfs_quota_us 50000 for launcher $launcher"

expect_eq "no cgroup left behind" "$before" "$(count_cgroups)"
finish
