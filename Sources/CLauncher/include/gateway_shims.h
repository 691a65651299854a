// Shims for the gateway's own process (Sandbox: GatewayProcess, GatewayMain).
//
// Why C: the launcher is a multi-threaded Swift process, so between clone() and execve() the
// new process may only run async-signal-safe code; and the isolation steps after the exec are
// raw syscalls Glibc's Swift module does not export (pivot_root, capset, PR_CAP_AMBIENT). The
// order and the choices (which namespaces, which ids, which filter) are Swift's.
#ifndef CSHIMS_GATEWAY_H
#define CSHIMS_GATEWAY_H

#include <stdint.h>
#include <sys/types.h>

struct sbx_gateway_spawn {
    const char *path;        ///< the executable (the launcher's own binary)
    char *const *argv;
    char *const *envp;
    const int *fds;          ///< handed on as descriptors 3, 4, ... in this order (close-on-exec cleared)
    uint32_t fd_count;
    int sync_fd;             ///< read end: the new process execs once one byte arrives (its id maps are written); EOF: it exits
    uint64_t clone_flags;    ///< CLONE_NEW* flags (SIGCHLD is added)
};

/// Clones the gateway's process into new namespaces and, once `sync_fd` says go, execs
/// `path` with the descriptors in place (stdin and stdout on /dev/null, stderr kept). The new
/// process dies with its parent (PR_SET_PDEATHSIG, SIGKILL). Returns its pid, or -1 (errno).
pid_t sbx_spawn_gateway(const struct sbx_gateway_spawn *spec);

/// Gives the calling process (root of a user and mount namespace of its own) an empty
/// read-only root: / made private, a read-only tmpfs with no room mounted on `mount_point`,
/// pivot_root into it, the old root detached. On failure returns -1 with errno and the name
/// of the failing step in *step.
int sbx_gateway_isolate(const char *mount_point, const char **step);

/// Drops every privilege of the calling (single-threaded) process: supplementary groups when
/// `drop_groups`, the ambient and bounding sets (capabilities 0..last_cap), then the
/// permitted, effective and inheritable sets; NO_NEW_PRIVS; not dumpable; no core files.
/// Returns 0, or -1 with errno and *step.
int sbx_gateway_drop_privileges(int last_cap, int drop_groups, const char **step);

/// Loads a seccomp BPF program (`instructions` struct sock_filter entries) on the calling
/// process. NO_NEW_PRIVS must be set. Returns 0 or -1 (errno).
int sbx_gateway_load_filter(const void *filter, uint32_t instructions);

/// prctl(PR_SET_NAME): the name `ps` and /proc/PID/comm show for the calling thread.
int sbx_set_process_name(const char *name);

/// pidfd_send_signal(2): signals the process `pidfd` refers to, never a recycled pid.
int sbx_pidfd_send_signal(int pidfd, int sig);

#endif
