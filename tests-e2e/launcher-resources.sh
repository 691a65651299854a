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

# The app sees its own cgroups, read-only, at /sys/fs/cgroup: its limits, and nothing above or
# beside it (the root of the view is the sandbox's cgroup: its procs are the sandbox's only).
# This machine mounts cgroup v1; with a delegated v2 hierarchy the view is that one file system.
# A sibling with a cgroup of its own: a view of the parent would show its directory.
"$SANDBOX" run --net=none --pids-limit 100 -- sleep 30 & other=$!
view=$(S --memory 256m --cpus 1.5 --pids-limit 50 -- sh -c '
    if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
        echo "limits: $(cat /sys/fs/cgroup/memory.max) $(cat /sys/fs/cgroup/cpu.max) $(cat /sys/fs/cgroup/pids.max)"
    else
        echo "limits: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us) $(cat /sys/fs/cgroup/pids/pids.max)"
    fi
    echo "procs: $(cat /sys/fs/cgroup/pids/cgroup.procs /sys/fs/cgroup/cgroup.procs 2>/dev/null | sort -n | head -2 | tr "\n" " ")"
    echo "dirs: $(find /sys/fs/cgroup -mindepth 2 -type d | wc -l)"
    touch /sys/fs/cgroup/x 2>&1; echo 1 > /sys/fs/cgroup/pids/pids.max 2>&1 || echo 1 > /sys/fs/cgroup/pids.max 2>&1' 2>&1)
kill $other; wait $other 2>/dev/null
expect_match "cgroup view: the limits" "limits: 268435456 (150000 100000 |150000 100000 )50" "$view"
expect_match "cgroup view: its procs are the sandbox's (init, then the shell)" "procs: 1 2 " "$view"
expect_match "cgroup view: nothing beside or below the sandbox's own cgroup" "dirs: 0" "$view"
expect_match "cgroup view: read-only" "Read-only file system.*Read-only file system" "$(tr '\n' ' ' <<<"$view")"
expect_eq "cgroup view: none without limits" "" "$(S -- ls /sys/fs/cgroup)"
if command -v java >/dev/null; then
    expect_match "the JVM sizes itself from the view" "Memory Limit: 256.00M" \
        "$(S --memory 256m -- java -XshowSettings:system -version 2>&1)"
else
    echo "  note: no java here: the JVM check did not run"
fi

expect_eq "no cgroup left behind" "$before" "$(count_cgroups)"
finish
