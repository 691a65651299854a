#!/bin/bash
# The OCI runtime command line (runc's: create, start, state, kill, delete, exec, ps, list, spec,
# features, the global flags) on a busybox bundle, and the lifecycle for people (run -d, ps,
# logs, exec, stop, rm) on the same state. Everything lives in $WORK: the state root is
# $WORK/state, so no container of another run is seen or touched.
source "$(dirname "$0")/lib/launcher-common.bash"
SANDBOX=$(realpath "$SANDBOX")
STATE="$WORK/state"
R() { "$SANDBOX" --root "$STATE" "$@"; }
CLEANUPS+=('for id in $(R list -q 2>/dev/null); do R delete --force "$id"; done')

# A bundle: busybox as the root, a config.json from `sandbox spec`, edited.
make_bundle() { # DIR ARGS-JSON
    mkdir -p "$1/rootfs/bin"
    cp /bin/busybox "$1/rootfs/bin/busybox"
    for tool in sh echo cat id sleep ls grep true; do ln -sf busybox "$1/rootfs/bin/$tool"; done
    (cd "$1" && "$SANDBOX" spec) || bad "spec"
    python3 - "$1/config.json" "$2" <<'PY'
import json, sys
path, args = sys.argv[1], json.loads(sys.argv[2])
c = json.load(open(path))
c["process"]["terminal"] = False
c["process"]["args"] = args
c["root"]["readonly"] = False
json.dump(c, open(path, "w"))
PY
}
# wait_status ID STATUS: up to 5 s.
wait_status() {
    for _ in $(seq 100); do R state "$1" 2>/dev/null | grep -q "\"status\" : \"$2\"" && return 0; sleep 0.05; done
    return 1
}
exit_status() { R ps -a --format json | python3 -c "import json,sys; print([c.get('exitStatus') for c in json.load(sys.stdin) if c['id']=='$1'][0])"; }

# --- create / start / state / delete, the program's output and status ---
make_bundle "$WORK/b1" '["sh","-c","echo hello from $(hostname); grep NoNewPrivs /proc/self/status; exit 7"]'
R create --bundle "$WORK/b1" --pid-file "$WORK/b1.pid" c1 > "$WORK/c1.out" 2>&1
expect_eq "create" 0 $?
expect_match "state after create" '"status" : "created"' "$(R state c1)"
pid=$(cat "$WORK/b1.pid")
expect_match "state's pid is the pid file's" "\"pid\" : $pid" "$(R state c1)"
[ -d "/proc/$pid" ] && ok || bad "the container's pid $pid does not run"
expect_eq "created: the program has not run" "" "$(cat "$WORK/c1.out")"
R create --bundle "$WORK/b1" c1 2>/dev/null
expect_eq "create with an id in use fails" 1 $?
R start c1; expect_eq "start" 0 $?
wait_status c1 stopped && ok || bad "c1 did not stop"
expect_eq "the program's output" "hello from sandbox
NoNewPrivs:	1" "$(cat "$WORK/c1.out")"
expect_eq "the program's status is kept" 7 "$(exit_status c1)"
R start c1 2>/dev/null; expect_eq "start of a stopped container fails" 1 $?
R kill c1 TERM 2>/dev/null; expect_eq "kill of a stopped container fails" 1 $?
R delete c1; expect_eq "delete" 0 $?
expect_match "state of a deleted container" "does not exist" "$(R state c1 2>&1)"
R state c1 >/dev/null 2>&1; expect_eq "state of a missing container exits 1" 1 $?

# --- kill, delete of a running one, --force ---
make_bundle "$WORK/b2" '["sleep","1000"]'
R create --bundle "$WORK/b2" c2 && R start c2 && wait_status c2 running && ok || bad "c2 did not run"
R delete c2 2>/dev/null; expect_eq "delete of a running container fails" 1 $?
R kill c2 TERM; wait_status c2 stopped && ok || bad "TERM did not stop c2"
expect_eq "kill TERM: the program died of it" 143 "$(exit_status c2)"
R delete c2
R create --bundle "$WORK/b2" c3 && R start c3 && wait_status c3 running || bad "c3 did not run"
R delete --force c3; expect_eq "delete --force of a running container" 0 $?
expect_eq "nothing left of c3" "" "$(R list -q)"
expect_eq "no sleep of c3 left" "" "$(pgrep -f '^sleep 1000$')"
R delete --force never-made; expect_eq "delete --force of nothing succeeds (runc)" 0 $?

# --- exec: runc's form with --process, and podman's with a command ---
R create --bundle "$WORK/b2" c4 && R start c4 && wait_status c4 running || bad "c4 did not run"
out=$(R exec c4 sh -c 'echo in-exec; exit 4'); rc=$?
expect_eq "exec: output" "in-exec" "$out"; expect_eq "exec: status" 4 $rc
status=$(R exec c4 -- cat /proc/self/status)
expect_match "exec: no capabilities" "CapEff:	0000000000000000" "$status"
expect_match "exec: bounding set empty" "CapBnd:	0000000000000000" "$status"
expect_match "exec: seccomp filter" "Seccomp:	2" "$status"
expect_match "exec: NO_NEW_PRIVS" "NoNewPrivs:	1" "$status"
expect_match "exec: in the sandbox's pid namespace (sees its sleep)" "sleep 1000" "$(R exec c4 -- sh -c 'cat /proc/[0-9]*/cmdline | tr "\0" " "')"
cat > "$WORK/process.json" <<'JSON'
{"user": {"uid": 0, "gid": 0}, "args": ["sleep", "1001"], "env": ["PATH=/bin"], "cwd": "/"}
JSON
R exec --process "$WORK/process.json" --detach --pid-file "$WORK/exec.pid" c4
expect_eq "exec --process --detach" 0 $?
epid=$(cat "$WORK/exec.pid")
expect_match "the exec pid file names the process" "sleep1001" "$(tr -d '\0' < /proc/$epid/cmdline)"
# Proved from outside: the exec'd process is an unprivileged host uid, like the program.
expect_match "exec: its uid 0 maps to an unprivileged host range" "^ *0 +[1-9][0-9]* +65536" "$(head -1 /proc/$epid/uid_map)"
expect_match "ps --format json lists the sandbox's pids" "$epid" "$(R ps --format json c4)"
R delete --force c4

# exec into a sandbox that shares the host's network namespace (it is not joined).
R run -d --name h1 --net=host -- sleep 1003 >/dev/null
expect_eq "exec into a --net=host sandbox" "ok" "$(R exec h1 -- echo ok)"
R rm -f h1 >/dev/null

# --- spec, features, list, the global flags ---
expect_match "spec refuses to overwrite" "already exists" "$(cd "$WORK/b1" && "$SANDBOX" spec 2>&1)"
expect_match "features: runtime-spec JSON" '"ociVersionMax":"1\.[0-9]+\.[0-9]+"' "$("$SANDBOX" features)"
R --log "$WORK/log.json" --log-format json state nope 2>/dev/null
expect_match "--log --log-format json: the error as a JSON line" '^\{"level":"error","msg":"container nope does not exist"' "$(cat "$WORK/log.json")"
"$SANDBOX" --systemd-cgroup --debug --root="$STATE" list >/dev/null; expect_eq "runc's global flags are accepted" 0 $?

# --- hooks in the runtime's namespaces: state on stdin, args, env; a failing one fails create ---
make_bundle "$WORK/b5" '["true"]'
python3 - "$WORK/b5/config.json" "$WORK" <<'PY'
import json, sys
path, work = sys.argv[1], sys.argv[2]
c = json.load(open(path))
hook = lambda name: {"path": "/bin/sh", "args": ["sh", "-c", "cat > " + work + "/" + name + ".json; echo $HOOK_ENV >> " + work + "/" + name + ".json"], "env": ["HOOK_ENV=" + name]}
c["hooks"] = {"createRuntime": [hook("createRuntime")], "poststart": [hook("poststart")], "poststop": [hook("poststop")]}
json.dump(c, open(path, "w"))
PY
R create --bundle "$WORK/b5" h5 && R start h5 && wait_status h5 stopped || bad "h5 did not run"
expect_match "createRuntime hook: the state on stdin" '"id" : "h5".*"status" : "created"' "$(tr -d '\n' < "$WORK/createRuntime.json")"
expect_match "createRuntime hook: its env" "createRuntime$" "$(cat "$WORK/createRuntime.json")"
expect_match "poststart hook ran with the running state" '"status" : "running"' "$(cat "$WORK/poststart.json")"
[ -e "$WORK/poststop.json" ] && bad "poststop ran before delete" || ok
R delete h5
expect_match "poststop hook ran at delete" '"status" : "stopped"' "$(cat "$WORK/poststop.json" 2>/dev/null)"
# With an engine's network namespace, hooks still run in the runtime's (here, this shell's).
ENGINE_NS="sbxociengine$$_$RANDOM"
ip netns add "$ENGINE_NS" && CLEANUPS+=("ip netns del $ENGINE_NS")
python3 - "$WORK/b5/config.json" "$WORK" "$ENGINE_NS" <<'PY'
import json, sys
path, work, ns = sys.argv[1:4]
c = json.load(open(path))
c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "network"] + [{"type": "network", "path": "/run/netns/" + ns}]
c["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "readlink /proc/self/ns/net > " + work + "/hook-net"]}]}
json.dump(c, open(path, "w"))
PY
R create --bundle "$WORK/b5" h7 && R start h7 && wait_status h7 stopped || bad "h7 did not run"
expect_eq "hooks run in the runtime's network namespace, not the engine's" "$(readlink /proc/self/ns/net)" "$(cat "$WORK/hook-net" 2>/dev/null)"
R delete h7
python3 -c "
import json; p='$WORK/b5/config.json'; c=json.load(open(p))
c['hooks']={'prestart':[{'path':'/bin/false'}]}; json.dump(c,open(p,'w'))"
expect_match "a failing prestart hook fails create, named" "hook prestart\[0\] /bin/false failed" "$(R create --bundle "$WORK/b5" h6 2>&1)"
expect_eq "nothing left of the failed create" "" "$(R list -q)"

# --- a refused config.json leaves nothing behind ---
make_bundle "$WORK/b3" '["true"]'
python3 -c "
import json; p='$WORK/b3/config.json'; c=json.load(open(p))
c['linux']['devices']=[{'type':'c','path':'/dev/kvm','major':10,'minor':232}]; json.dump(c,open(p,'w'))"
expect_match "a device beyond the set is refused by name" "/dev/kvm" "$(R create --bundle "$WORK/b3" c5 2>&1)"
expect_eq "nothing left of a refused create" "" "$(R list -q)"

# --- run -d, ps, logs, exec, stop, rm ---
cd /
R run -d --name d1 --net=none -- sh -c 'echo out-line; echo err-line >&2; trap "exit 0" TERM; while :; do sleep 0.1; done' >"$WORK/d1.id"
expect_eq "run -d prints the name" d1 "$(cat "$WORK/d1.id")"
expect_match "ps shows it running" "^d1 +running" "$(R ps | tail -n +2)"
for _ in $(seq 50); do R logs d1 | grep -q err-line && break; sleep 0.1; done
logs=$(R logs d1)
expect_match "logs: stdout kept" "out-line" "$logs"; expect_match "logs: stderr kept" "err-line" "$logs"
expect_eq "exec by name" "hi" "$(R exec d1 -- echo hi)"
R stop -t 5 d1 >/dev/null; expect_eq "stop" 0 $?
expect_match "ps -a: exited with the program's status" "^d1 +exited \(0\)" "$(R ps -a | tail -n +2)"
R rm d1 >/dev/null; expect_eq "rm" "" "$(R ps -a | tail -n +2)"
R run -d --name d2 --net=none -- sh -c 'trap "" TERM; while :; do sleep 0.1; done' >/dev/null
R stop -t 1 d2 >/dev/null
expect_match "stop: a program that ignores TERM is killed" "^d2 +exited" "$(R ps -a | tail -n +2)"
R rm d2 >/dev/null
# A crashed supervisor: ps shows the sandbox stopped, rm cleans up, nothing of it runs.
R run -d --name d3 --net=none -- sleep 1002 >/dev/null
spid=$(python3 -c "import json; print(json.load(open('$STATE/d3/state.json'))['pid'])")
kill -KILL "$spid"
for _ in $(seq 50); do pgrep -f '^sleep 1002$' >/dev/null || break; sleep 0.1; done
expect_eq "a killed supervisor takes its sandbox along" "" "$(pgrep -f '^sleep 1002$')"
expect_match "ps -a: a crashed sandbox reads stopped" "^d3 +exited" "$(R ps -a | tail -n +2)"
R rm d3 >/dev/null; expect_eq "rm of a crashed sandbox" 0 $?
# The log is bounded: 3 MiB written, at most 2 MiB kept, the end of it present.
R run -d --name d4 --net=none -- sh -c 'i=0; while [ $i -lt 3072 ]; do head -c 1023 /dev/zero | tr "\0" x; echo; i=$((i+1)); done; echo last-line' >/dev/null
for _ in $(seq 100); do R ps -a | grep -q '^d4 .*exited' && break; sleep 0.1; done
kept=$(cat "$STATE/d4/log" "$STATE/d4/log.1" 2>/dev/null | wc -c)
if [ "$kept" -le $((2 << 20)) ] && [ "$kept" -gt $((1 << 20)) ]; then ok; else bad "log kept $kept bytes"; fi
expect_match "the log ends with the last line" "last-line$" "$(R logs d4 | tail -1)"
R rm d4 >/dev/null
finish
