#!/bin/bash
# Every refusal of `sandbox run` a new user meets first, run for real: exit status 125 and the
# exact message, which names the flag, the value and (where there is one) the fix. Nothing
# here starts a sandbox: each is refused before the program would run (the checks of the
# network-side failures, a port in use and the privileged-port hint, are in netuser-ports.sh).
source "$(dirname "$0")/lib/launcher-common.bash"

# One case a line: ARGS => MESSAGE (ARGS as a shell would split them; the program is `true`).
while IFS= read -r line; do
    [ -z "$line" ] && continue
    args=${line%% => *}
    expected=${line#* => }
    eval "out=\$(\"\$SANDBOX\" run $args -- true 2>&1)"; rc=$?
    expect_eq "run $args: exit 125" 125 $rc
    expect_eq "run $args: the message" "sandbox: $expected" "$out"
done <<'CASES'
--frob => unknown option --frob (see `sandbox run --help`; put the program after `--`)
--net bogus => bad --net bogus: use user, none or host
--userns bogus => bad --userns bogus: use auto, on or host
--seccomp /nonexistent.json => --seccomp /nonexistent.json: cannot read the profile: open /nonexistent.json: No such file or directory (errno 2)
--rootfs /nonexistent => --rootfs /nonexistent is not a directory
--rootfs relative => --rootfs must be an absolute path, got relative
--writable-root => --writable-root needs --rootfs DIR: the default root is the host's own directories (use --tmpfs or -v for writable places there)
-v /nonexistent:/x => --volume: /nonexistent does not exist on the host
-v /tmp:relative => bad --volume /tmp:relative: both paths must be absolute
-w relative => --workdir must be an absolute path inside the sandbox, got relative
--user nosuch => bad --user nosuch: no nosuch in the sandbox root's /etc/passwd
--group-add nosuch => bad --group-add nosuch: not a number, nor a group in the sandbox root's /etc/group
--memory lots => bad --memory lots: use a number with an optional unit b, k, m, g or t
--cpus 0 => bad --cpus 0: use a number of CPUs from 0.01 to 1024, e.g. 1.5
--pids-limit -5 => bad --pids-limit -5: use a whole number from 1 to 4194304
--stop-timeout -2 => bad --stop-timeout -2: use 0 to 86400 seconds, or -1 for never
--ulimit bogus=1 => bad --ulimit bogus=1: unknown limit bogus; known: cpu, fsize, data, stack, core, rss, nproc, nofile, memlock, as, locks, sigpending, msgqueue, nice, rtprio, rttime
--mount type=volume,target=/x => bad --mount type=volume,target=/x: type volume is not supported (use bind or tmpfs)
--tmpfs relative => bad --tmpfs relative: the path must be absolute, without '..'
--env-file /nonexistent => bad --env-file /nonexistent: cannot read it (open /nonexistent: No such file or directory (errno 2))
-e =x => bad --env =x: expected NAME=VALUE or NAME
--log-level loud => bad --log-level loud: use trace, debug, info, notice, warning, error or critical
--log-format xml => bad --log-format xml: use text or json
--read-only --writable-root --rootfs / => --read-only and --writable-root contradict each other: give one
-d -t => -t with -d: a detached sandbox has no terminal yet; drop -t
--net=none --dns 192.0.2.53 => --dns configures the user-mode network and needs --net=user (got --net=none)
--dns 999.1.1.1 => --dns 999.1.1.1: expected an IP address, ADDR:PORT or [IPv6]:PORT
--cidr 10.0.2.0/30 => --cidr 10.0.2.0/30: the prefix must be /25 or shorter (the app is host .100)
--mtu 100 => --mtu 100: must be within 1280...65521
--max-flows 0 => --max-flows 0: must be within 1...1048576
--udp-timeout 0 => --udp-timeout 0: must be within 1...86400
--flow-memory 1k => bad --flow-memory 1k: the minimum is 1m
--dispatch fast => bad --dispatch fast: use readv, recvmmsg or packet-mmap
--allow 2001:db8::/32:443 => bad --allow '2001:db8::/32:443': IPv6 with ports goes in brackets: [2001:db8::/32]:443 (expected CIDR[:PORTS], IPv6 as [CIDR]:PORTS)
--deny 10.0.0.0/33 => bad --deny '10.0.0.0/33': prefix length 33 is out of range (expected CIDR[:PORTS], all[:PORTS], IPv6 as [CIDR]:PORTS)
--deny db:5432 => bad --deny db:5432: a member's name means something on a named network only (sandbox network create); expected CIDR[:PORTS] or all[:PORTS]
--allow-domain 'foo.*.example' => bad --allow-domain 'foo.*.example': '*' may only be the whole first label, as in *.example.com (expected NAME[:PORTS] or *.NAME[:PORTS])
-p 1:2:3:4 => -p 1:2:3:4: expected [HOSTIP:][HOSTPORT:]PORT[/tcp|/udp]
-p 8080-8081:80 => -p 8080-8081:80: the host and app port ranges must be the same length
-p 0:80 => -p 0:80: ports must be 1-65535 (a range as LOW-HIGH)
-p '[::1]:80' => -p [::1]:80: expected [HOSTIP:][HOSTPORT:]PORT[/tcp|/udp]
--pcap /nonexistent/x.pcap => start the gateway: --pcap /nonexistent/x.pcap: cannot open it: No such file or directory (errno 2) (its directory must exist)
--log-connections /nonexistent/x => start the gateway: --log-connections /nonexistent/x: cannot open it: No such file or directory (errno 2) (its directory must exist)
CASES

# A hard limit above this process's own: refused up front without CAP_SYS_RESOURCE (which this
# machine's root lacks; see README), and then set where the capability is held.
hard=$(ulimit -Hn)
out=$("$SANDBOX" run --net=none --ulimit nofile=$((hard + 1)) -- true 2>&1); rc=$?
if (( (0x$(awk '$1 == "CapEff:" {print $2}' /proc/self/status) >> 24) & 1 )); then
    expect_eq "--ulimit above the hard limit, with CAP_SYS_RESOURCE: set" 0 $rc
else
    expect_eq "--ulimit above the hard limit: exit 125" 125 $rc
    expect_eq "--ulimit above the hard limit: the message" \
        "sandbox: --ulimit nofile=$((hard + 1)):$((hard + 1)): above this process's hard limit $hard; raising it needs CAP_SYS_RESOURCE (run as root with it, or ask for at most $hard)" "$out"
fi
expect_eq "--ulimit within it runs" "100" "$("$SANDBOX" run --net=none --ulimit nofile=100:$hard -- sh -c 'ulimit -n')"
finish
