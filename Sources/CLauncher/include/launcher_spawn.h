// The launcher's child path (Sandbox: Launcher): clone the sandbox's init, which sets up its
// root and starts the program.
//
// Why C: the launcher is a multi-threaded Swift process. Between clone() and execve() the child
// may only run async-signal-safe code (another thread may have held the malloc lock at the
// moment of the clone), so the whole child path lives here. It is driven by a plain-data
// `sbx_spawn_config` that Swift builds beforehand (strings, the mount plan, the compiled seccomp
// BPF program). The C code holds no policy: it executes the plan it is handed, step by step,
// and reports the first failing step through a pipe.
#ifndef CLAUNCHER_SPAWN_H
#define CLAUNCHER_SPAWN_H

#include <stdint.h>
#include <sys/types.h>

/// One step of the mount plan, executed in order by the sandbox's init before pivot_root.
/// Paths are absolute in the staging root: the host tree is under /oldroot, the new root
/// under /newroot. Paths under /newroot are resolved inside it (openat2 RESOLVE_IN_ROOT):
/// no symlink leads a step out of the new root (mount_shims.c).
enum sbx_mount_kind {
    SBX_MOUNT_BIND = 1,     ///< bind `source` on `target` (`recursive`), then read-only if `readonly`
    SBX_MOUNT_TMPFS = 2,    ///< tmpfs on `target` with `data` (e.g. "mode=1777")
    SBX_MOUNT_PROC = 3,     ///< a proc for the sandbox's pid namespace on `target`
    SBX_MOUNT_SYSFS = 4,    ///< read-only sysfs on `target`; if the kernel refuses, bind `source` read-only
    SBX_MOUNT_DEVPTS = 5,   ///< a new devpts instance on `target` with `data`
    SBX_MOUNT_MKDIR = 6,    ///< mkdir -p `target` (mode `mode`)
    SBX_MOUNT_MKFILE = 7,   ///< create an empty regular file `target` (a bind mount point)
    SBX_MOUNT_SYMLINK = 8,  ///< symlink `target` -> `source`
    SBX_MOUNT_READONLY = 9, ///< make the mount at `target` (and below, if `recursive`) read-only
    SBX_MOUNT_MASK = 10,    ///< hide `target`: /dev/null (`source`) over a file, empty read-only tmpfs over a directory
    SBX_MOUNT_CGROUP = 11,  ///< a read-only `source` file system (cgroup, cgroup2) on `target`, options `data`
    SBX_MOUNT_OVERLAY_ROOT = 12, ///< `target` becomes an overlay: `source` (or `source_fd`) below, a tmpfs (`data`) above
};

struct sbx_mount_op {
    int32_t kind;           ///< enum sbx_mount_kind
    int32_t optional;       ///< a missing source or target (ENOENT) skips the step instead of failing
    int32_t recursive;      ///< MS_REC / AT_RECURSIVE
    int32_t readonly;       ///< for BIND: make the new mount read-only (recursively if `recursive`)
    int32_t create_target;  ///< for BIND: create `target` (dir or file, as `source` is) when missing
    uint32_t mode;          ///< for MKDIR
    unsigned long flags;    ///< extra MS_* flags (MS_NOSUID, MS_NODEV, MS_NOEXEC): for new file systems, and for BIND set on the clone before it is attached
    const char *source;
    const char *target;
    const char *data;
    int32_t source_fd;      ///< for BIND: a detached mount (open_tree) to attach instead of `source`; -1: none
};

struct sbx_rlimit {
    int32_t resource;       ///< RLIMIT_*
    uint64_t soft;
    uint64_t hard;
};

/// Everything the child path needs, built by Swift before the clone. Plain data only.
struct sbx_spawn_config {
    /// CLONE_NEW* flags for the sandbox's init (CLONE_NEWCGROUP is unshared by init after the
    /// parent has moved it into its cgroup, so the cgroup namespace is rooted there).
    uint64_t clone_flags;
    int32_t unshare_cgroup;

    /// Identity of the app. If `set_app_ids`, the app switches to app_uid/app_gid (in a user
    /// namespace: after the parent wrote the id maps) and, if `set_groups`, to `groups`.
    int32_t set_app_ids;
    int32_t become_namespace_root; ///< after go: setresuid/setresgid(0) in the new user namespace
    uint32_t app_uid;
    uint32_t app_gid;
    int32_t set_groups;      ///< setgroups is allowed (false in a rootless user namespace)
    uint32_t groups_count;
    const uint32_t *groups;

    const char *hostname;    ///< NULL: keep
    int32_t loopback_up;     ///< bring `lo` up (a new network namespace)
    /// --net=user: in the new netns, let app_gid open ICMP echo sockets (ping_group_range) and
    /// let the app bind any port (ip_unprivileged_port_start 0), as docker does.
    int32_t user_network_sysctls;

    /// Mount plan. `stage_dir` (an existing host directory, e.g. "/tmp") gets a tmpfs that holds
    /// /newroot and /oldroot; NULL disables the mount namespace setup (no pivot_root).
    const char *stage_dir;
    uint32_t mount_count;
    const struct sbx_mount_op *mounts;

    uint32_t rlimit_count;
    const struct sbx_rlimit *rlimits;

    /// The program: `path` is resolved against PATH inside the sandbox when it has no '/'.
    const char *path;
    char *const *argv;       ///< NULL-terminated
    char *const *envp;       ///< NULL-terminated
    const char *search_path; ///< PATH used for the lookup (inside the sandbox)
    const char *workdir;     ///< NULL: "/"

    /// The network seam: if >= 0, one end of a unix socketpair on which init sends (SCM_RIGHTS)
    /// a NETLINK_ROUTE socket opened inside the new network namespace, before it waits for go.
    /// The parent owns the sandbox's user namespace, so rtnetlink requests it sends on that
    /// socket are allowed even rootless (eth0 address, routes, moving a veth end in).
    int32_t netlink_channel_fd;
    /// With the netlink channel: init also makes the gateway's outer network namespace (see
    /// `sbx_open_outer_network`), inside the sandbox's user namespace so it works rootless, and
    /// sends its three descriptors after the app's rtnetlink socket.
    int32_t outer_network_namespace;

    /// The parent has nothing to do before init's setup (no id maps to write, no cgroups to
    /// join): init gets its go at once, without a round trip through the parent.
    int32_t go_at_once;

    /// Terminal: if `tty_fd` >= 0 the app gets it as controlling terminal and stdio.
    int32_t tty_fd;
    /// Without a terminal: descriptors to put at the program's 0, 1, 2 (-1: keep the launcher's).
    int32_t stdio_fds[3];
    /// Without a tty the app runs in a new session (no TIOCSTI into the caller's terminal).
    int32_t new_session;
    /// After init forwards SIGTERM or SIGINT, what is left in the sandbox is killed (SIGKILL)
    /// this many milliseconds later (`--stop-timeout`); negative: never.
    int32_t stop_timeout_ms;

    /// Capabilities: init empties the bounding and ambient sets (0..last_cap) before the
    /// program starts, and the permitted/effective/inheritable sets (libcap) right before each
    /// seccomp filter.
    int32_t last_cap;        ///< highest capability number the kernel knows (CAP_LAST_CAP)
    // The seccomp filter is not here: the parent compiles it while init sets up its root, and
    // sends it with the ready message (sbx_send_ready).
};

/// What the child reports when a step fails (written once to the error pipe).
struct sbx_child_error {
    int32_t error;          ///< errno
    int32_t exec_failed;    ///< 1: execve of the program failed (exit 126/127), 0: setup failed
    char step[48];
    char path[208];
};

struct sbx_spawn_result {
    pid_t pid;              ///< the sandbox's init, in the caller's pid namespace
    int go_fd;              ///< write one byte to start the sandbox's setup; close without writing to abort (-1 with go_at_once)
    int ready_fd;           ///< sbx_send_ready starts the program; close without sending to abort
    int error_fd;           ///< read a struct sbx_child_error, or EOF once the program was executed
};

/// Clones the sandbox's init. It waits on `go_fd` until the parent has written id maps and moved
/// it into cgroups, then sets up its root, hostname and limits while the parent configures its
/// network; it waits on `ready_fd` before it forks and execs the program as its only child.
/// The empty capability set init and the program take is allocated here, before the clone
/// (libcap mallocs). Returns 0, or -1 with errno.
int sbx_spawn(const struct sbx_spawn_config *config, struct sbx_spawn_result *result);

/// Tells init to start the program under `filter` (`instructions` struct sock_filter entries,
/// at most 4096; 0: no filter), sent on `ready_fd` without SIGPIPE. Init loads the filter on
/// itself and on the program. Returns 0, or -1 with errno (EPIPE: init already exited, its
/// error record says why; E2BIG: the filter is longer than the kernel accepts).
int sbx_send_ready(int ready_fd, const void *filter, uint32_t instructions);

struct sbx_exec_result {
    pid_t pid;        ///< the new process, in the caller's pid namespace; -1 if it was not forked
    int go_fd;        ///< write one byte once it is in the sandbox's cgroups; close to abort
    int error_fd;     ///< read a struct sbx_child_error, or EOF once the program was executed
    int terminal_fd;  ///< with SBX_EXEC_SANDBOX_TERMINAL: the terminal's primary end, else -1
};

/// `tty_fd` for sbx_exec_in: a new terminal from the sandbox's own devpts (its /dev/ptmx).
#define SBX_EXEC_SANDBOX_TERMINAL (-2)

/// `sandbox exec`: forks a process that joins every namespace of `target` (the sandbox's
/// init) and, after the go byte, runs `config`'s program (path, argv, envp, search_path,
/// workdir, ids, groups, tty_fd (or SBX_EXEC_SANDBOX_TERMINAL), stdio_fds, new_session,
/// last_cap) under `filter` with no
/// capabilities and NO_NEW_PRIVS. The process is a grandchild: the fork between exits, so it
/// is reparented to the caller's subreaper (prctl PR_SET_CHILD_SUBREAPER). Returns 0, or -1
/// with errno (exec_in.c).
pid_t sbx_exec_in(const struct sbx_spawn_config *config, pid_t target, const void *filter,
                  uint32_t instructions, struct sbx_exec_result *result);

#endif
