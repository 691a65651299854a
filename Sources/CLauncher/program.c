// The program's start, from init's clone to execve: a clean signal state, its terminal or
// stdio, its identity and working directory, then no capabilities, NO_NEW_PRIVS and the
// seccomp filter, and the exec.
#define _GNU_SOURCE
#include "child_path.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void drop_caps_and_confine(const struct sbx_child *child, struct sock_fprog *filter) {
    int error_fd = child->error_fd;
    if (cap_set_proc(child->empty_caps) < 0) sbx_fail(error_fd, errno, 0, "drop capabilities", "");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set no_new_privs", "");
    if (filter->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0)
        sbx_fail(error_fd, errno, 0, "load seccomp filter", "");
}

int sbx_exec_program(const struct sbx_spawn_config *c) {
    const char *name = c->path;
    if (strchr(name, '/') != NULL) return execve(name, c->argv, c->envp);
    char candidate[PATH_MAX];
    int saw_eacces = 0;
    const char *p = c->search_path != NULL ? c->search_path : "/usr/local/bin:/usr/bin:/bin";
    while (1) {
        const char *end = strchr(p, ':');
        size_t dirlen = end != NULL ? (size_t)(end - p) : strlen(p);
        size_t namelen = strlen(name);
        if (dirlen + namelen + 2 <= sizeof candidate) {
            size_t n = 0;
            if (dirlen == 0) candidate[n++] = '.';
            else { memcpy(candidate, p, dirlen); n = dirlen; }
            candidate[n++] = '/';
            memcpy(candidate + n, name, namelen + 1);
            execve(candidate, c->argv, c->envp);
            if (errno == EACCES) saw_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE && errno != ENODEV && errno != ETIMEDOUT)
                return -1;
        }
        if (end == NULL) break;
        p = end + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return -1;
}

void sbx_attach_stdio(const struct sbx_spawn_config *c, int error_fd) {
    if (c->tty_fd >= 0) {
        if (setsid() < 0) sbx_fail(error_fd, errno, 0, "setsid", "");
        if (ioctl(c->tty_fd, TIOCSCTTY, 0) < 0) sbx_fail(error_fd, errno, 0, "set controlling terminal", "");
        for (int fd = 0; fd <= 2; fd++)
            if (dup2(c->tty_fd, fd) < 0) sbx_fail(error_fd, errno, 0, "dup2 terminal", "");
        if (c->tty_fd > 2) close(c->tty_fd);
    } else if (c->new_session) {
        if (setsid() < 0) sbx_fail(error_fd, errno, 0, "setsid", "");
    }
    for (int fd = 0; fd <= 2; fd++)
        if (c->stdio_fds[fd] >= 0 && dup2(c->stdio_fds[fd], fd) < 0) sbx_fail(error_fd, errno, 0, "dup2 standard descriptor", "");
}

void sbx_take_app_identity(const struct sbx_spawn_config *c, int error_fd) {
    if (c->set_app_ids) {
        if (c->set_groups && sbx_setgroups(c->groups_count, (const gid_t *)c->groups) < 0) sbx_fail(error_fd, errno, 0, "setgroups", "");
        if (sbx_setresgid(c->app_gid) < 0) sbx_fail(error_fd, errno, 0, "setresgid", "");
        if (sbx_setresuid(c->app_uid) < 0) sbx_fail(error_fd, errno, 0, "setresuid", "");
    }
    const char *workdir = c->workdir != NULL ? c->workdir : "/";
    if (chdir(workdir) < 0) sbx_fail(error_fd, errno, 0, "chdir to working directory", workdir);
}

struct app_start {
    const struct sbx_child *child;
    struct sock_fprog *filter;
};

__attribute__((noreturn))
static void run_app(const struct sbx_child *child, struct sock_fprog *filter) {
    const struct sbx_spawn_config *c = child->config;
    int error_fd = child->error_fd;
    // Back to a clean signal state: init's handlers and mask must not reach the program.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0; i < SBX_FORWARDED_COUNT; i++) sigaction(sbx_forwarded_signals[i], &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set parent-death signal", "");
    sbx_attach_stdio(c, error_fd);
    sbx_take_app_identity(c, error_fd);
    // No descriptor of the launcher beyond stdio may reach the program.
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) sbx_fail(error_fd, errno, 0, "close_range", "");
    drop_caps_and_confine(child, filter);
    sbx_exec_program(c);
    sbx_fail(error_fd, errno, 1, "execute", c->path);
}

static int app_entry(void *argument) {
    struct app_start *start = argument;
    run_app(start->child, start->filter);
}

pid_t sbx_start_program(const struct sbx_child *child, struct sock_fprog *filter) {
    // Started as posix_spawn does: in init's memory until its execve (CLONE_VM|CLONE_VFORK;
    // init sleeps meanwhile), so no page tables are copied for a process about to replace
    // them. The program's path only writes its own stack, errno and the error pipe.
    static char app_stack[64 * 1024] __attribute__((aligned(16)));
    struct app_start start = { .child = child, .filter = filter };
    return clone(app_entry, app_stack + sizeof app_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
}
