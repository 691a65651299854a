#!/bin/bash
# podman drives `sandbox` as its OCI runtime (--runtime), with an image imported from a
# busybox root: run and its output and status, -d/ps/exec/stop/rm, -p from the host to a
# server in the container, the app's network namespace apart from the engine's, and an
# annotation that denies egress. podman runs inside a throwaway network namespace with no
# uplink (its bridge and NAT rules live and die there), on a storage root in $WORK.
# On this machine podman needs --cgroup-manager=cgroupfs (no systemd) and ulimits within the
# hard limits (the machine lacks CAP_SYS_RESOURCE): see README, "As an OCI runtime".
source "$(dirname "$0")/lib/launcher-common.bash"
SANDBOX=$(realpath "$SANDBOX")
command -v podman >/dev/null || { echo "podman is not installed (make deps installs it)"; exit 1; }
NS="sbxpodman$$_$RANDOM"
ip netns add "$NS" || { echo "cannot make the namespace"; exit 1; }
# nsenter joins only the network namespace (`ip netns exec` would also remount /sys, and the
# cgroup mounts podman needs with it).
N() { nsenter --net="/run/netns/$NS" "$@"; }
P() {
    N podman --root "$WORK/storage" --runroot "$WORK/runroot" --tmpdir "$WORK/tmp" \
        --cgroup-manager=cgroupfs --events-backend=file --runtime "$SANDBOX" "$@"
}
N ip link set lo up
U=(--ulimit nproc=1000:1000 --ulimit nofile=1024:1024)
podman_cleanup() {
    P rm -af -t 0 >/dev/null 2>&1
    P unmount -a >/dev/null 2>&1
    N podman --root "$WORK/storage" --runroot "$WORK/runroot" system reset -f >/dev/null 2>&1
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    ip netns del "$NS"
}
CLEANUPS+=("podman_cleanup")

# The image: busybox as /bin, imported.
mkdir -p "$WORK/root/bin" "$WORK/www"
cp /bin/busybox "$WORK/root/bin/"
for tool in sh echo cat id sleep ls grep nc httpd readlink ip printf tail chmod true; do ln -s busybox "$WORK/root/bin/$tool"; done
tar -C "$WORK/root" -cf "$WORK/root.tar" .
P import "$WORK/root.tar" localhost/sbx-busybox:e2e >/dev/null || bad "podman import"
IMG=localhost/sbx-busybox:e2e

# run: the program's output and exit status come back through podman.
out=$(P run --rm "${U[@]}" $IMG sh -c 'echo hello from podman; exit 3'); rc=$?
expect_eq "podman run: output" "hello from podman" "$out"
expect_eq "podman run: exit status" 3 $rc
# The program is confined as every sandbox is: no capabilities, seccomp, an unprivileged uid.
status=$(P run --rm "${U[@]}" $IMG cat /proc/self/status)
expect_match "podman run: no capabilities" "CapEff:	0000000000000000" "$status"
expect_match "podman run: seccomp" "Seccomp:	2" "$status"
expect_match "podman run: eth0 behind the gateway" "inet 10\.0\.2\.100/24" "$(P run --rm "${U[@]}" $IMG ip addr)"

# A volume is idmapped: the container's root writes it as on-disk root. So even under podman's
# own seccomp profile a set-ID bit is refused there; outside, root may set one.
mkdir -p "$WORK/vol"
P run --rm "${U[@]}" -v "$WORK/vol:/vol" $IMG sh -c 'echo x > /vol/f; chmod u+s /vol/f' 2>/dev/null
expect_eq "podman: chmod u+s in a volume is refused" 1 $?
expect_eq "podman: the volume's file is on-disk root's, without the bit" "0 644" "$(stat -c '%u %a' "$WORK/vol/f")"
chmod u+s "$WORK/vol/f"; expect_eq "outside, the same chmod works" 4644 "$(stat -c %a "$WORK/vol/f")"

# -d, ps, exec, stop, rm; the app's netns is not the engine's.
P run -d --name web "${U[@]}" -p 18080:8000 $IMG httpd -f -p 8000 -h /etc >/dev/null
expect_match "podman ps: running" "web" "$(P ps --format '{{.Names}} {{.Status}}')"
expect_eq "podman exec" "in-exec" "$(P exec web echo in-exec)"
P exec web sh -c 'exit 9'; expect_eq "podman exec: status" 9 $?
app_net=$(P exec web readlink /proc/self/ns/net)
engine_net="net:[$(stat -L -c %i "$(P inspect web --format '{{.NetworkSettings.SandboxKey}}')")]"
if [ -n "$app_net" ] && [ "$app_net" != "$engine_net" ]; then ok; else bad "the app's netns $app_net is the engine's $engine_net"; fi
# -p: the engine's DNAT leads to the container's address; the gateway publishes the app's port.
body=""
for _ in $(seq 50); do body=$(N wget -q -T 2 -O - http://127.0.0.1:18080/hostname 2>/dev/null) && break; sleep 0.2; done
expect_eq "podman -p: the host reaches the app's server" "$(P inspect web --format '{{.Config.Hostname}}')" "$body"
# Egress: a server in the engine's namespace is reachable, unless an annotation denies it.
echo reachable > "$WORK/www/index.html"
# The engine's bridge address, which exists while a container (web) runs.
gw=$(P inspect web --format '{{.NetworkSettings.Gateway}}')
nsenter --net="/run/netns/$NS" busybox httpd -f -p "$gw:18091" -h "$WORK/www" &
SERVER2=$!
CLEANUPS=("kill $SERVER2" "${CLEANUPS[@]}")
sleep 0.3
# busybox's nc (its static wget crashes in getpwuid on Debian 12, inside and outside).
fetch='printf "GET / HTTP/1.0\r\n\r\n" | nc -w 3 '"$gw"' 18091'
open=$(P run --rm "${U[@]}" $IMG sh -c "$fetch" 2>&1 | tail -1)
expect_eq "egress without a policy reaches the engine's network" "reachable" "$open"
denied=$(P run --rm "${U[@]}" --annotation sandbox.deny=all $IMG sh -c "$fetch" 2>&1)
expect_match "annotation sandbox.deny=all refuses it" "refused|reset|timed out|error" "$denied"
P stop -t 2 web >/dev/null; expect_eq "podman stop" 0 $?
expect_match "podman ps -a: exited" "Exited" "$(P ps -a --format '{{.Names}} {{.Status}}' | grep web)"
P rm web >/dev/null; expect_eq "podman rm" "" "$(P ps -a -q)"

bad_annotation=$(P run --rm "${U[@]}" --annotation sandbox.bogus=1 $IMG true 2>&1)
expect_match "an unknown sandbox. annotation fails the create" "sandbox.bogus" "$bad_annotation"
finish
