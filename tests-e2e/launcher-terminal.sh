#!/bin/bash
# Issue 13, terminal: without -t the program never holds the user's terminal. The launcher runs
# under script(1), so its stdin, stdout and stderr are a pty; inside, none of the three is a
# terminal (terminal ioctls answer ENOTTY), while bytes, EOF and the exit status still pass.
# With -t the program gets a pty of its own, never the user's.
source "$(dirname "$0")/lib/launcher-common.bash"
command -v script >/dev/null || { echo "launcher-terminal: script(1) is missing (util-linux)"; exit 1; }

# under_tty COMMAND: runs COMMAND with a pty as stdio; prints what it printed, without CRs.
under_tty() { script -qec "$1" /dev/null </dev/null | tr -d '\r\000'; return "${PIPESTATUS[0]}"; }

[ "$(under_tty '[ -t 1 ] && echo tty')" == "tty" ] && ok || bad "the harness gives the launcher no terminal"
out=$(under_tty "'$SANDBOX' run --net=none -- sh -c '[ -t 0 ] || echo no0; [ -t 1 ] || echo no1; [ -t 2 ] || echo no2'")
expect_eq "without -t no standard descriptor is a terminal" "no0 no1 no2" "$(echo $out)"
out=$(under_tty "'$SANDBOX' run --net=none -- stty size 2>&1")
expect_match "a terminal ioctl on the program's stdin: ENOTTY" "Inappropriate ioctl" "$out"
out=$(under_tty "'$SANDBOX' run --userns host --seccomp unconfined --net=none -- sh -c 'ls -l /proc/self/fd/0'")
expect_match "stdin is a pipe to the launcher" "pipe:" "$out"
under_tty "'$SANDBOX' run --net=none -- sh -c 'echo out; echo err >&2; exit 7'" >"$WORK/out"
expect_eq "exit status through the relay" 7 $?
expect_eq "stdout and stderr through the relay" "out err" "$(echo $(cat "$WORK/out"))"
out=$(printf 'line\n' | script -qec "'$SANDBOX' run --net=none -- sh -c 'read x; echo got:\$x; read y || echo eof'" /dev/null | tr -d '\r')
expect_match "input reaches the program, then EOF" "got:line" "$out"
out=$(under_tty "'$SANDBOX' run --net=none -t -- sh -c 'tty'")
expect_match "with -t: a pty of the sandbox's own" "/dev/(console|pts/[0-9]+)$" "$out"
finish
