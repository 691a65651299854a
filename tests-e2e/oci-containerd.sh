#!/bin/bash
# containerd drives `sandbox` through its runc shim (io.containerd.runc.v2 with the runtime
# binary replaced: `ctr run --runc-binary`), as a Kubernetes node's containerd would with
# BinaryName in its runtime options: the program's output and exit status, a container that
# is killed, and the state the shim reads (`sandbox state` under the shim's --root). The test
# starts its own containerd on a temporary root, state and socket, inside a throwaway network
# namespace with no uplink, and stops it on every path.
source "$(dirname "$0")/lib/launcher-common.bash"
SANDBOX=$(realpath "$SANDBOX")
command -v containerd >/dev/null && command -v ctr >/dev/null || { echo "containerd is not installed (make deps)"; exit 1; }
command -v podman >/dev/null || { echo "podman is not installed (make deps): it builds the image archive"; exit 1; }
NS="sbxctrd$$_$RANDOM"
ip netns add "$NS" || { echo "cannot make the namespace"; exit 1; }
N() { nsenter --net="/run/netns/$NS" "$@"; }
N ip link set lo up
C="$WORK/containerd"
mkdir -p "$C/root" "$C/state"
cat > "$C/config.toml" <<TOML
version = 2
root = "$C/root"
state = "$C/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$C/sock"
[ttrpc]
  address = "$C/sock.ttrpc"
TOML
CTR() { N ctr --address "$C/sock" --namespace sbx-e2e "$@"; }
containerd_cleanup() {
    for id in $(CTR tasks ls -q 2>/dev/null); do CTR tasks kill -s SIGKILL "$id" >/dev/null 2>&1; done
    sleep 0.3
    for id in $(CTR containers ls -q 2>/dev/null); do CTR tasks delete -f "$id" >/dev/null 2>&1; CTR containers delete "$id" >/dev/null 2>&1; done
    [ -n "${DAEMON:-}" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
    podman --root "$WORK/storage" --runroot "$WORK/runroot" system reset -f >/dev/null 2>&1
    ip netns del "$NS"
    # The runc shim keeps its runtime root at /run/containerd/runc/NAMESPACE (not configurable).
    rm -rf /run/containerd/runc/sbx-e2e
    rmdir /run/containerd/runc /run/containerd/fifo /run/containerd/s /run/containerd 2>/dev/null
}
CLEANUPS+=("containerd_cleanup")
nsenter --net="/run/netns/$NS" containerd --config "$C/config.toml" > "$C/log" 2>&1 &
DAEMON=$!
for _ in $(seq 100); do CTR version >/dev/null 2>&1 && break; sleep 0.1; done
CTR version >/dev/null 2>&1 && ok || { bad "containerd did not start: $(tail -3 "$C/log")"; finish; exit 1; }

# The image: busybox as /bin, made an OCI archive with podman (its own storage here).
mkdir -p "$WORK/root/bin"
cp /bin/busybox "$WORK/root/bin/"
for tool in sh echo cat id sleep true; do ln -s busybox "$WORK/root/bin/$tool"; done
tar -C "$WORK/root" -cf "$WORK/root.tar" .
PM=(podman --root "$WORK/storage" --runroot "$WORK/runroot" --cgroup-manager=cgroupfs --events-backend=file)
"${PM[@]}" import "$WORK/root.tar" localhost/sbx-busybox:e2e >/dev/null &&
    "${PM[@]}" save --format oci-archive -o "$WORK/image.tar" localhost/sbx-busybox:e2e >/dev/null || bad "image archive"
CTR images import "$WORK/image.tar" >/dev/null || bad "ctr images import"
IMG=localhost/sbx-busybox:e2e

out=$(CTR run --rm --runc-binary "$SANDBOX" "$IMG" c1 sh -c 'echo hello from containerd; exit 5'); rc=$?
expect_eq "ctr run: output" "hello from containerd" "$out"
expect_eq "ctr run: exit status" 5 $rc
status=$(CTR run --rm --runc-binary "$SANDBOX" "$IMG" c2 cat /proc/self/status)
expect_match "ctr run: no capabilities" "CapEff:	0000000000000000" "$status"
expect_match "ctr run: seccomp" "Seccomp:	2" "$status"

# A detached task: the shim's state (sandbox state under its --root), then kill.
CTR run -d --runc-binary "$SANDBOX" "$IMG" c3 sleep 1000 >/dev/null || bad "ctr run -d"
for _ in $(seq 50); do CTR tasks ls | grep -q "c3.*RUNNING" && break; sleep 0.1; done
expect_match "ctr tasks ls: running" "c3 +[0-9]+ +RUNNING" "$(CTR tasks ls)"
expect_match "sandbox state under the shim's root" '"status" : "running"' "$("$SANDBOX" --root /run/containerd/runc/sbx-e2e state c3)"
expect_eq "ctr tasks exec" "in-exec" "$(CTR tasks exec --exec-id e1 c3 echo in-exec)"
CTR tasks kill -s SIGTERM c3
for _ in $(seq 50); do CTR tasks ls | grep -q "c3.*STOPPED" && break; sleep 0.1; done
expect_match "ctr tasks kill: stopped" "c3 +[0-9]+ +STOPPED" "$(CTR tasks ls)"
CTR tasks delete c3 >/dev/null; CTR containers delete c3
expect_eq "the shim deleted the container's state" "" "$("$SANDBOX" --root /run/containerd/runc/sbx-e2e list -q)"
finish
