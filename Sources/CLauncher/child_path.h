// The child path's internals, shared by its files and private to CLauncher: Swift never calls
// them. Everything here runs after the clone, so it is async-signal-safe: raw syscalls and
// stack buffers only, no malloc, no stdio, no locks (the parent is a multi-threaded process).
#ifndef CLAUNCHER_CHILD_PATH_H
#define CLAUNCHER_CHILD_PATH_H

#include <stddef.h>
#include <linux/filter.h>
#include <sys/capability.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include "launcher_spawn.h"

/// What init carries over from sbx_spawn: the plan, the empty capability set (allocated by the
/// parent, since libcap mallocs) and init's ends of the three channels.
struct sbx_child {
    const struct sbx_spawn_config *config;
    cap_t empty_caps;
    int go_fd;
    int ready_fd;
    int error_fd;
};

/// setresuid, setresgid and setgroups as raw syscalls, for this thread only. glibc's wrappers
/// broadcast the change to every thread they know of (SIGSETXID, then a futex wait); after a
/// clone of a multi-threaded launcher that list still names the parent's threads, which do not
/// exist here, and the wrapper would wait for them forever.
static inline int sbx_setresuid(uid_t id) { return (int)syscall(SYS_setresuid, id, id, id); }
static inline int sbx_setresgid(gid_t id) { return (int)syscall(SYS_setresgid, id, id, id); }
static inline int sbx_setgroups(size_t count, const gid_t *groups) { return (int)syscall(SYS_setgroups, count, groups); }

/// Copies `src` (NULL: nothing) into `dst` as far as `cap` allows, NUL-terminated; returns the
/// length copied.
size_t sbx_bounded_copy(char *dst, size_t cap, const char *src);

/// Writes one error record on `error_fd` and exits: 127 (ENOENT) or 126 when the program's
/// execve failed, 125 when a setup step did (child_report.c).
__attribute__((noreturn))
void sbx_fail(int error_fd, int err, int exec_failed, const char *step, const char *path);

/// PID 1 of the sandbox, from the clone to the program's exit status (init.c).
__attribute__((noreturn))
void sbx_run_init(const struct sbx_child *child);

/// Builds the new root under a tmpfs on the staging directory and pivots into it (root.c).
void sbx_setup_root(const struct sbx_spawn_config *c, int error_fd);

/// Starts the program as init's only child, under `filter` (program.c). Returns its pid, or -1
/// with errno.
pid_t sbx_start_program(const struct sbx_child *child, struct sock_fprog *filter);

/// execvp without malloc: tries each PATH entry of `c->search_path`, and reports EACCES if
/// some candidate existed but could not be executed (as execvp does). Returns only on failure.
int sbx_exec_program(const struct sbx_spawn_config *c);

/// The terminal (`c->tty_fd`) as controlling terminal and stdio, or a new session; then the
/// chosen descriptors (`c->stdio_fds`) at 0, 1, 2 (program.c).
void sbx_attach_stdio(const struct sbx_spawn_config *c, int error_fd);

/// The program's groups and ids (when `c->set_app_ids`) and its working directory (program.c).
void sbx_take_app_identity(const struct sbx_spawn_config *c, int error_fd);

/// Sends `fd` on `channel` with SCM_RIGHTS (fd_passing.c). 0, or -1 with errno.
int sbx_send_fd(int channel, int fd);

/// The signals init passes on to the program, as the launcher passes them on to init
/// (signals.c).
enum { SBX_FORWARDED_COUNT = 7 };
extern const int sbx_forwarded_signals[SBX_FORWARDED_COUNT];

#endif
