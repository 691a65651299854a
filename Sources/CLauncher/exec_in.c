// `sandbox exec`: a new process in a running sandbox. It joins the namespaces of the sandbox's
// init (user first: the others belong to it), waits until the launcher has put it in the
// sandbox's cgroups, then takes the program's path: its identity, working directory, no
// capabilities, NO_NEW_PRIVS, the sandbox's seccomp filter, and exec. Two forks, as nsenter
// does: joining a pid namespace only takes effect for children.
#define _GNU_SOURCE
#include "child_path.h"
#include "launcher_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static const char *const namespace_names[] = { "user", "cgroup", "ipc", "uts", "net", "pid", "mnt" };
enum { NAMESPACE_COUNT = sizeof namespace_names / sizeof namespace_names[0] };

__attribute__((noreturn))
static void run_exec(const struct sbx_spawn_config *c, struct sock_fprog *filter, cap_t empty_caps,
                     int go_fd, int error_fd) {
    char byte;
    ssize_t n;
    do { n = read(go_fd, &byte, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(125); // the launcher gave up: it reports why
    close(go_fd);
    // A clean signal state: the caller's mask and handlers must not reach the program.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    // The sandbox's limits; one above this process's hard limit stays at that (raising it needs
    // CAP_SYS_RESOURCE in the host's user namespace).
    for (uint32_t i = 0; i < c->rlimit_count; i++) {
        struct rlimit rl = { .rlim_cur = c->rlimits[i].soft, .rlim_max = c->rlimits[i].hard };
        if (setrlimit(c->rlimits[i].resource, &rl) < 0 && errno != EPERM) sbx_fail(error_fd, errno, 0, "setrlimit", "");
    }
    sbx_attach_stdio(c, error_fd);
    sbx_take_app_identity(c, error_fd);
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) sbx_fail(error_fd, errno, 0, "close_range", "");
    for (int cap = 0; cap <= c->last_cap; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) sbx_fail(error_fd, errno, 0, "drop bounding capability", "");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        sbx_fail(error_fd, errno, 0, "clear ambient capabilities", "");
    if (cap_set_proc(empty_caps) < 0) sbx_fail(error_fd, errno, 0, "drop capabilities", "");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set no_new_privs", "");
    if (filter->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0)
        sbx_fail(error_fd, errno, 0, "load seccomp filter", "");
    sbx_exec_program(c);
    sbx_fail(error_fd, errno, 1, "execute", c->path);
}

/// A terminal from the sandbox's own devpts (so ttyname finds it there): the primary goes back
/// to the launcher on `tty_channel`; the replica is returned.
static int open_sandbox_terminal(int tty_channel, int error_fd) {
    int primary = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (primary < 0) sbx_fail(error_fd, errno, 0, "open the sandbox's terminal", "/dev/ptmx");
    int unlock = 0;
    if (ioctl(primary, TIOCSPTLCK, &unlock) < 0) sbx_fail(error_fd, errno, 0, "unlock the terminal", "/dev/ptmx");
    int replica = ioctl(primary, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (replica < 0) sbx_fail(error_fd, errno, 0, "open the terminal's replica", "/dev/ptmx");
    if (sbx_send_fd(tty_channel, primary) < 0) sbx_fail(error_fd, errno, 0, "pass the terminal", "");
    close(primary);
    return replica;
}

/// The first child: joins every namespace, forks the process that runs there, reports its
/// pid on `pid_fd` and exits, so that process is reparented to the caller's subreaper.
__attribute__((noreturn))
static void join_and_fork(const struct sbx_spawn_config *config, struct sock_fprog *filter, cap_t empty_caps,
                          const int *namespaces, int go_fd, int pid_fd, int tty_channel, int error_fd) {
    // Not dumpable until the exec: a process of the sandbox may not ptrace or read this one
    // while it holds the launcher's descriptors and the namespace root's capabilities.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set not dumpable", "");
    for (int i = 0; i < NAMESPACE_COUNT; i++) {
        if (namespaces[i] < 0) continue; // the caller's own (--net=host, --userns host)
        if (setns(namespaces[i], 0) < 0) sbx_fail(error_fd, errno, 0, "join namespace", namespace_names[i]);
        close(namespaces[i]);
    }
    struct sbx_spawn_config c = *config;
    if (c.tty_fd == SBX_EXEC_SANDBOX_TERMINAL) c.tty_fd = open_sandbox_terminal(tty_channel, error_fd);
    pid_t pid = fork();
    if (pid < 0) sbx_fail(error_fd, errno, 0, "fork", "");
    if (pid == 0) run_exec(&c, filter, empty_caps, go_fd, error_fd);
    ssize_t n;
    do { n = write(pid_fd, &pid, sizeof pid); } while (n < 0 && errno == EINTR);
    _exit(n == sizeof pid ? 0 : 125);
}

static void close_all(int *fds, int count) {
    for (int i = 0; i < count; i++) if (fds[i] >= 0) { close(fds[i]); fds[i] = -1; }
}

pid_t sbx_exec_in(const struct sbx_spawn_config *config, pid_t target, const void *filter_code,
                  uint32_t instructions, struct sbx_exec_result *result) {
    int namespaces[NAMESPACE_COUNT];
    for (int i = 0; i < NAMESPACE_COUNT; i++) namespaces[i] = -1;
    int go[2] = { -1, -1 }, pids[2] = { -1, -1 }, errors[2] = { -1, -1 }, tty[2] = { -1, -1 };
    cap_t empty_caps = cap_init();
    if (empty_caps == NULL) return -1;
    int saved = 0;
    for (int i = 0; i < NAMESPACE_COUNT; i++) {
        char path[64], own[64];
        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)target, namespace_names[i]);
        snprintf(own, sizeof own, "/proc/self/ns/%s", namespace_names[i]);
        namespaces[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (namespaces[i] < 0) goto fail;
        // One the sandbox shares with this process is not joined (setns into one's own user
        // namespace fails; a host network namespace is not owned by the sandbox's).
        struct stat theirs, ours;
        if (fstat(namespaces[i], &theirs) == 0 && stat(own, &ours) == 0 && theirs.st_ino == ours.st_ino &&
            theirs.st_dev == ours.st_dev) {
            close(namespaces[i]);
            namespaces[i] = -1;
        }
    }
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(pids, O_CLOEXEC) < 0 || pipe2(errors, O_CLOEXEC) < 0) goto fail;
    if (config->tty_fd == SBX_EXEC_SANDBOX_TERMINAL && sbx_socketpair_cloexec(tty) < 0) goto fail;
    struct sock_fprog filter = { .len = (unsigned short)instructions, .filter = (struct sock_filter *)filter_code };
    pid_t first = fork();
    if (first < 0) goto fail;
    if (first == 0) {
        close(go[1]); close(pids[0]); close(errors[0]);
        if (tty[0] >= 0) close(tty[0]);
        join_and_fork(config, &filter, empty_caps, namespaces, go[0], pids[1], tty[1], errors[1]);
    }
    close_all(namespaces, NAMESPACE_COUNT);
    close(go[0]); close(pids[1]); close(errors[1]);
    if (tty[1] >= 0) { close(tty[1]); tty[1] = -1; }
    int status = 0;
    while (waitpid(first, &status, 0) < 0 && errno == EINTR) {}
    pid_t pid = -1;
    ssize_t n;
    do { n = read(pids[0], &pid, sizeof pid); } while (n < 0 && errno == EINTR);
    close(pids[0]);
    cap_free(empty_caps);
    result->terminal_fd = -1;
    if (tty[0] >= 0) {
        // Sent before the fork that reported the pid: already queued, or never (a failure).
        if (n == sizeof pid) result->terminal_fd = sbx_receive_fd(tty[0]);
        close(tty[0]);
    }
    result->pid = n == sizeof pid ? pid : -1;
    result->go_fd = go[1];
    result->error_fd = errors[0];
    return 0;
fail:
    saved = errno;
    close_all(namespaces, NAMESPACE_COUNT);
    close_all(go, 2); close_all(pids, 2); close_all(errors, 2); close_all(tty, 2);
    cap_free(empty_caps);
    errno = saved;
    return -1;
}
