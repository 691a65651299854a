#!/bin/bash
# The seccomp filter and capabilities as the app meets them: each attempt by the probe program
# must fail with its errno; allowed calls must still work; --seccomp unconfined and an OCI
# profile change the answers (which shows the probe can see a hole).
source "$(dirname "$0")/lib/launcher-common.bash"
build_probe
mkdir -p "$WORK/bin" && cp "$PROBE" "$WORK/bin/probe"
P() { "$SANDBOX" run --net=none -v "$WORK/bin:/tmp/bin:ro" "$@"; }

declare -A expected=(
    [packet]=EAFNOSUPPORT [packet-highbits]=EAFNOSUPPORT [vsock]=EAFNOSUPPORT [alg]=EAFNOSUPPORT
    [netlink-audit]=EAFNOSUPPORT [inet-raw]=EPERM [inet6-packet]=EPERM
    [inet-stream]=OK [inet6-dgram]=OK [unix]=OK [netlink-route]=OK
    [unshare-user]=EPERM [unshare-net]=EPERM [clone-newnet]=EPERM [setns]=EPERM
    [clone3]=ENOSYS [io_uring]=ENOSYS
    [mount]=EPERM [umount]=EPERM [chroot]=EPERM [ptrace]=EPERM [bpf]=EPERM [keyctl]=EPERM
    [tiocsti]=EPERM [personality]=EPERM
)
for name in "${!expected[@]}"; do
    expect_eq "seccomp: $name" "${expected[$name]}" "$(P -- /tmp/bin/probe "$name" 2>&1)"
done
# A syscall through the x32 ABI is a foreign ABI: the process is killed (SIGSYS, 128+31).
P -- /tmp/bin/probe x32 >/dev/null 2>&1; expect_eq "x32 ABI kills" 159 $?

# The same attempts without the filter get the kernel's own answers, not the filter's.
expect_eq "unconfined: clone3 reaches the kernel (not ENOSYS)" "EINVAL" "$(P --seccomp unconfined -- /tmp/bin/probe clone3)"
expect_eq "unconfined: AF_PACKET reaches the kernel (no CAP_NET_RAW)" "EPERM" "$(P --seccomp unconfined -- /tmp/bin/probe packet)"
expect_eq "unconfined: unshare(CLONE_NEWUSER) is a hole the probe sees" "OK" \
    "$(P --seccomp unconfined -- /tmp/bin/probe unshare-user)"

# An OCI profile: allow everything but socket, which answers EACCES (13).
cat > "$WORK/profile.json" <<'JSON'
{"defaultAction": "SCMP_ACT_ALLOW",
 "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
JSON
expect_eq "OCI profile applies" "EACCES" "$(P --seccomp "$WORK/profile.json" -- /tmp/bin/probe unix)"
expect_eq "OCI profile replaces the default (clone3 reaches the kernel)" "EINVAL" "$(P --seccomp "$WORK/profile.json" -- /tmp/bin/probe clone3)"
echo '{"defaultAction": "SCMP_ACT_SOMETIMES"}' > "$WORK/bad.json"
P --seccomp "$WORK/bad.json" -- true 2>/dev/null; expect_eq "bad OCI profile -> 125" 125 $?
expect_eq "an unsupported action is named" "sandbox: --seccomp $WORK/bad.json: unsupported action SCMP_ACT_SOMETIMES" \
    "$(P --seccomp "$WORK/bad.json" -- true 2>&1)"
# Syntax errors give their line and column; a wrong type, its path in the profile.
printf '{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [{"names": ["chmod"] "action": "SCMP_ACT_ERRNO"}]}\n' >"$WORK/syntax.json"
expect_eq "a syntax error: line and column" \
    "sandbox: --seccomp $WORK/syntax.json: not an OCI seccomp profile: line 2, column 35: expected ',' or '}'" \
    "$(P --seccomp "$WORK/syntax.json" -- true 2>&1)"
echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["chmod"], "action": 5}]}' >"$WORK/type.json"
expect_eq "a wrong type: its path" \
    "sandbox: --seccomp $WORK/type.json: not an OCI seccomp profile: syscalls[0].action: expected a string, found number" \
    "$(P --seccomp "$WORK/type.json" -- true 2>&1)"
# A misspelt call is warned about (and the run goes on); another architecture's call is not.
printf '{"defaultAction": "SCMP_ACT_ALLOW",\n "syscalls": [{"names": ["bdflush", "chmood"],\n  "action": "SCMP_ACT_ERRNO"}]}\n' >"$WORK/names.json"
expect_eq "an unknown call: warned, with its line; the run goes on" \
    "sandbox: --seccomp $WORK/names.json: unknown system call \"chmood\" (line 2); its rule is left out|ran" \
    "$(P --seccomp "$WORK/names.json" -- echo ran 2>&1 | tr '\n' '|' | sed 's/|$//')"
expect_eq "podman's own profile: no warning" "ran" "$(P --seccomp /usr/share/containers/seccomp.json -- echo ran 2>&1)"

# The compiled built-in filter is cached (SeccompCache): one program for every run of this
# binary, the same rule for rule in each process, and a cached program still confines.
if [ "$(id -u)" -eq 0 ]; then
    "$SANDBOX" run --net=none -- true; "$SANDBOX" run --net=none -- true
    before=$(ls /run/sandbox/seccomp | wc -l)
    "$SANDBOX" run --net=none -- true; "$SANDBOX" run --net=none -- true
    expect_eq "two more runs add no cached program" "$before" "$(ls /run/sandbox/seccomp | wc -l)"
    expect_eq "a run from the cache is confined" "EPERM" "$(P -- /tmp/bin/probe mount)"
fi

# A profile that denies what init itself needs to wait (it runs under the program's filter too)
# ends the sandbox, instead of leaving init spinning and the launcher waiting forever.
echo '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}' > "$WORK/starving.json"
timeout 20 "$SANDBOX" run --net=none --seccomp "$WORK/starving.json" -- true >/dev/null 2>&1; rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ]; then ok; else bad "a profile that starves init: exit $rc (124: it hung)"; fi
finish
