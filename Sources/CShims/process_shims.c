// The launcher's child path: clone -> wait for the parent -> mounts -> pivot_root -> init, which
// forks the program -> drop capabilities -> NO_NEW_PRIVS -> seccomp -> execve.
//
// Everything after the clone is async-signal-safe: raw syscalls and stack buffers only, no
// malloc, no stdio, no locks (the parent is a multi-threaded Swift process). glibc's fork() is
// avoided on purpose (it runs atfork handlers that take malloc locks); the raw clone syscall
// gives plain fork semantics.
#define _GNU_SOURCE
#include "process_shims.h"
#include "mount_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/mount.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// MARK: whole reads and writes

static void write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        len -= (size_t)n;
    }
}

/// Reads exactly `len` bytes; -1 on EOF or error.
static int read_exact(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/// Sends all of `buf` on a stream socket without raising SIGPIPE; -1 with errno on failure.
static int send_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

// MARK: error reporting (one fixed-size record on the error pipe, then _exit)

static size_t bounded_copy(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    if (src != NULL) {
        for (; i + 1 < cap && src[i] != '\0'; i++) dst[i] = src[i];
    }
    dst[i] = '\0';
    return i;
}

__attribute__((noreturn))
static void fail(int error_fd, int err, int exec_failed, const char *step, const char *path) {
    struct sbx_child_error record;
    memset(&record, 0, sizeof record);
    record.error = err;
    record.exec_failed = exec_failed;
    bounded_copy(record.step, sizeof record.step, step);
    bounded_copy(record.path, sizeof record.path, path);
    write_all(error_fd, &record, sizeof record);
    if (exec_failed) _exit(err == ENOENT ? 127 : 126);
    _exit(125);
}

/// Builds the new root under a tmpfs on `stage_dir` and pivots into it. The host tree stays
/// reachable as /oldroot until the final pivot_root, then is detached.
static void setup_root(const struct sbx_spawn_config *c, int error_fd) {
    char newroot[PATH_MAX], oldroot[PATH_MAX];
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(error_fd, errno, 0, "make / private", "/");
    if (mount("tmpfs", c->stage_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        fail(error_fd, errno, 0, "mount staging tmpfs", c->stage_dir);
    size_t n = bounded_copy(newroot, sizeof newroot, c->stage_dir);
    bounded_copy(newroot + n, sizeof newroot - n, "/newroot");
    n = bounded_copy(oldroot, sizeof oldroot, c->stage_dir);
    bounded_copy(oldroot + n, sizeof oldroot - n, "/oldroot");
    if (mkdir(newroot, 0755) < 0) fail(error_fd, errno, 0, "mkdir", newroot);
    if (mkdir(oldroot, 0755) < 0) fail(error_fd, errno, 0, "mkdir", oldroot);
    if (syscall(SYS_pivot_root, c->stage_dir, oldroot) < 0) fail(error_fd, errno, 0, "pivot_root to staging", c->stage_dir);
    if (chdir("/") < 0) fail(error_fd, errno, 0, "chdir", "/");

    for (uint32_t i = 0; i < c->mount_count; i++) {
        const struct sbx_mount_op *op = &c->mounts[i];
        if (sbx_run_mount_op(op) < 0) {
            if (op->optional && errno == ENOENT) continue;
            fail(error_fd, errno, 0, sbx_mount_step_name(op->kind), op->target);
        }
    }

    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
    // drops the whole host tree from this mount namespace.
    if (chdir("/newroot") < 0) fail(error_fd, errno, 0, "chdir", "/newroot");
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail(error_fd, errno, 0, "pivot_root", "/newroot");
    if (umount2(".", MNT_DETACH) < 0) fail(error_fd, errno, 0, "detach old root", "/");
    if (chdir("/") < 0) fail(error_fd, errno, 0, "chdir", "/");
}

// MARK: process helpers

static pid_t raw_fork(unsigned long flags) {
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
}

/// Writes a sysctl of the calling thread's network namespace (/proc/sys/net is per opener).
static int write_net_sysctl(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t length = (ssize_t)strlen(text);
    ssize_t written;
    do { written = write(fd, text, (size_t)length); } while (written < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    errno = saved;
    return written == length ? 0 : -1;
}

static int loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    bounded_copy(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/// Empties the bounding and ambient sets (needs CAP_SETPCAP, so before any uid change), then
/// switches identity. The permitted/effective/inheritable sets are emptied by `drop_caps_and_confine`.
static void drop_bounding_and_ambient(const struct sbx_spawn_config *c, int error_fd) {
    for (int cap = 0; cap <= c->last_cap; cap++) {
        if (c->cap_drop_bound(cap) < 0 && errno != EINVAL) fail(error_fd, errno, 0, "drop bounding capability", "");
    }
    if (c->cap_reset_ambient() < 0 && errno != EINVAL) fail(error_fd, errno, 0, "clear ambient capabilities", "");
}

static void drop_caps_and_confine(const struct sbx_spawn_config *c, struct sock_fprog *filter, int error_fd) {
    if (c->cap_set_proc(c->empty_caps) < 0) fail(error_fd, errno, 0, "drop capabilities", "");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(error_fd, errno, 0, "set no_new_privs", "");
    if (filter->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0)
        fail(error_fd, errno, 0, "load seccomp filter", "");
}

/// execvp without malloc: tries each PATH entry, and reports EACCES if some candidate existed
/// but could not be executed (as execvp does).
static int exec_program(const struct sbx_spawn_config *c) {
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

static int send_fd(int channel, int fd) {
    char byte = 'N';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(channel, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == 1 ? 0 : -1;
}

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };
#define FORWARDED_COUNT (sizeof forwarded_signals / sizeof forwarded_signals[0])

static void ignore_signal(int sig) { (void)sig; }

/// CLOCK_MONOTONIC now plus `ms` milliseconds.
static struct timespec time_after(int32_t ms) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) { t.tv_sec += 1; t.tv_nsec -= 1000000000L; }
    return t;
}

/// What is left until `deadline` (tv_sec < 0 once it has passed).
static struct timespec time_until(struct timespec deadline) {
    struct timespec now, left;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left.tv_sec = deadline.tv_sec - now.tv_sec;
    left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
    if (left.tv_nsec < 0) { left.tv_sec -= 1; left.tv_nsec += 1000000000L; }
    return left;
}

__attribute__((noreturn))
static void run_app(const struct sbx_spawn_config *c, struct sock_fprog *filter, int error_fd) {
    // Back to a clean signal state: init's handlers and mask must not reach the program.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (size_t i = 0; i < FORWARDED_COUNT; i++) sigaction(forwarded_signals[i], &dfl, NULL);
    sigaction(SIGCHLD, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(error_fd, errno, 0, "set parent-death signal", "");
    if (c->tty_fd >= 0) {
        if (setsid() < 0) fail(error_fd, errno, 0, "setsid", "");
        if (ioctl(c->tty_fd, TIOCSCTTY, 0) < 0) fail(error_fd, errno, 0, "set controlling terminal", "");
        for (int fd = 0; fd <= 2; fd++)
            if (dup2(c->tty_fd, fd) < 0) fail(error_fd, errno, 0, "dup2 terminal", "");
        if (c->tty_fd > 2) close(c->tty_fd);
    } else if (c->new_session) {
        if (setsid() < 0) fail(error_fd, errno, 0, "setsid", "");
    }
    for (int fd = 0; fd <= 2; fd++)
        if (c->stdio_fds[fd] >= 0 && dup2(c->stdio_fds[fd], fd) < 0) fail(error_fd, errno, 0, "dup2 standard descriptor", "");

    if (c->set_app_ids) {
        if (c->set_groups && setgroups(c->groups_count, (const gid_t *)c->groups) < 0) fail(error_fd, errno, 0, "setgroups", "");
        if (setresgid(c->app_gid, c->app_gid, c->app_gid) < 0) fail(error_fd, errno, 0, "setresgid", "");
        if (setresuid(c->app_uid, c->app_uid, c->app_uid) < 0) fail(error_fd, errno, 0, "setresuid", "");
    }
    const char *workdir = c->workdir != NULL ? c->workdir : "/";
    if (chdir(workdir) < 0) fail(error_fd, errno, 0, "chdir to working directory", workdir);
    // No descriptor of the launcher beyond stdio may reach the program.
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) fail(error_fd, errno, 0, "close_range", "");
    drop_caps_and_confine(c, filter, error_fd);
    exec_program(c);
    fail(error_fd, errno, 1, "execute", c->path);
}

struct app_start {
    const struct sbx_spawn_config *config;
    struct sock_fprog *filter;
    int error_fd;
};

static int app_entry(void *argument) {
    struct app_start *start = argument;
    run_app(start->config, start->filter, start->error_fd);
}

/// Init keeps only the error pipe: the launcher's descriptors and stdio belong to the program.
static void release_descriptors(const struct sbx_spawn_config *c, int error_fd) {
    if (c->tty_fd >= 0 && c->tty_fd != error_fd) close(c->tty_fd);
    if (error_fd > 3) syscall(SYS_close_range, 3U, (unsigned)error_fd - 1, 0U);
    syscall(SYS_close_range, (unsigned)error_fd + 1, ~0U, 0U);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        for (int fd = 0; fd <= 2; fd++) dup2(devnull, fd);
        close(devnull);
    }
}

/// Init needs no privilege once the program runs: the program's confinement (dumpable 0 and
/// NO_NEW_PRIVS were set when init started). Every step is checked: if one fails, the program
/// is killed before the launcher hears it started, and the run fails closed (exit 125).
static void confine_init(const struct sbx_spawn_config *c, struct sock_fprog *filter, pid_t app, int error_fd) {
    const char *step = NULL;
    if (c->cap_set_proc(c->empty_caps) < 0) step = "drop init's capabilities";
    else if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) { errno = EPERM; step = "check init is non-dumpable"; }
    else if (filter->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0) step = "load init's seccomp filter";
    if (step == NULL) return;
    int saved = errno;
    kill(app, SIGKILL);
    fail(error_fd, saved, 0, step, "");
}

/// PID 1 of the sandbox: starts the program, forwards signals to it, reaps every zombie, and
/// exits with the program's status (128+N for a signal) as soon as the program is gone; the
/// kernel then kills whatever is left in the pid namespace.
__attribute__((noreturn))
static void run_init(const struct sbx_spawn_config *c, int go_fd, int ready_fd, int error_fd) {
    // If the launcher dies from here on, so does the sandbox (and with it the pid namespace).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(error_fd, errno, 0, "set parent-death signal", "");
    if (c->netlink_channel_fd >= 0) {
        int netlink = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (netlink < 0) fail(error_fd, errno, 0, "open rtnetlink socket in the sandbox's netns", "");
        if (send_fd(c->netlink_channel_fd, netlink) < 0) fail(error_fd, errno, 0, "send rtnetlink socket to the launcher", "");
        close(netlink);
        if (c->outer_network_namespace) {
            int outer[3];
            if (sbx_open_outer_network(outer) < 0) fail(error_fd, errno, 0, "make the gateway's network namespace", "");
            for (int i = 0; i < 3; i++) {
                if (send_fd(c->netlink_channel_fd, outer[i]) < 0) fail(error_fd, errno, 0, "send the gateway's network namespace", "");
                close(outer[i]);
            }
        }
        close(c->netlink_channel_fd);
    }
    char go = 0;
    ssize_t got;
    do { got = read(go_fd, &go, 1); } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(125);  // the launcher aborted or died before saying go
    close(go_fd);
    // The maps are written now. In a user namespace whose ids are a host range, init still
    // holds the launcher's host ids, which are unmapped there: become the namespace's root
    // (its capabilities stay, see capabilities(7) on setuid to 0 in a user namespace).
    if (c->become_namespace_root) {
        if (setresgid(0, 0, 0) < 0) fail(error_fd, errno, 0, "setresgid", "");
        if (setresuid(0, 0, 0) < 0) fail(error_fd, errno, 0, "setresuid", "");
        // A change of credentials clears the parent-death signal: arm it again. Should the
        // launcher die before this, the ready pipe's EOF still ends init before the program.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(error_fd, errno, 0, "set parent-death signal", "");
    }
    // Once the id maps are written (a non-dumpable child's /proc/<pid>/uid_map is root's, so a
    // rootless launcher could not write it before) and after the last change of credentials
    // (which resets the flag to fs.suid_dumpable): no ptrace attach, /proc/<pid> root's. The
    // flag is inherited by the program's clone (its execve then resets it, as for any exec).
    // NO_NEW_PRIVS goes before any seccomp filter, here or in the program.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail(error_fd, errno, 0, "make init non-dumpable", "");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(error_fd, errno, 0, "set no_new_privs on init", "");

    if (c->unshare_cgroup && unshare(CLONE_NEWCGROUP) < 0) fail(error_fd, errno, 0, "unshare cgroup namespace", "");
    if (c->hostname != NULL && sethostname(c->hostname, strlen(c->hostname)) < 0)
        fail(error_fd, errno, 0, "sethostname", c->hostname);
    // Before setup_root: /proc/sys is read-only in the sandbox's own /proc.
    if (c->user_network_sysctls) {
        // As docker does for a container's own namespace: the app's group may open ICMP echo
        // sockets (unprivileged ping; a new namespace allows nobody), and any port may be
        // bound (the namespace is the app's alone; a published port then needs no capability).
        char range[32];
        snprintf(range, sizeof range, "%u %u\n", c->app_gid, c->app_gid);
        if (write_net_sysctl("/proc/sys/net/ipv4/ping_group_range", range) < 0)
            fail(error_fd, errno, 0, "allow ping sockets", "/proc/sys/net/ipv4/ping_group_range");
        if (write_net_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n") < 0)
            fail(error_fd, errno, 0, "open low ports", "/proc/sys/net/ipv4/ip_unprivileged_port_start");
    }
    if (c->stage_dir != NULL) setup_root(c, error_fd);
    if (c->loopback_up && loopback_up() < 0) fail(error_fd, errno, 0, "bring lo up", "lo");
    for (uint32_t i = 0; i < c->rlimit_count; i++) {
        struct rlimit rl = { .rlim_cur = c->rlimits[i].soft, .rlim_max = c->rlimits[i].hard };
        if (setrlimit(c->rlimits[i].resource, &rl) < 0) fail(error_fd, errno, 0, "setrlimit", "");
    }
    // Emptied once, here, while the launcher may still be compiling the filter: the program
    // inherits both sets empty. Neither limits what init and the program still do before
    // exec with their effective capabilities (setresuid, TIOCSCTTY); those go with
    // cap_set_proc right before the filter.
    drop_bounding_and_ambient(c, error_fd);

    // pid 1 only receives signals it has a handler for: install no-op handlers, block them,
    // and take them synchronously with sigwaitinfo.
    sigset_t waited;
    sigemptyset(&waited);
    struct sigaction noop;
    memset(&noop, 0, sizeof noop);
    noop.sa_handler = ignore_signal;
    for (size_t i = 0; i < FORWARDED_COUNT; i++) {
        sigaddset(&waited, forwarded_signals[i]);
        sigaction(forwarded_signals[i], &noop, NULL);
    }
    sigaddset(&waited, SIGCHLD);
    sigaction(SIGCHLD, &noop, NULL);
    sigprocmask(SIG_BLOCK, &waited, NULL);

    // The launcher configured the network and compiled the seccomp filter meanwhile (the
    // gateway's packet ring takes a few ms of RCU grace periods to set up, libseccomp most of
    // a millisecond: both overlap the mounts above). EOF: the launcher aborted or died.
    static struct sock_filter instructions[BPF_MAXINSNS];
    uint32_t count = 0;
    if (read_exact(ready_fd, &count, sizeof count) < 0 || count > BPF_MAXINSNS
        || read_exact(ready_fd, instructions, count * sizeof instructions[0]) < 0) _exit(125);
    close(ready_fd);
    struct sock_fprog filter = { .len = (unsigned short)count, .filter = instructions };

    // Started as posix_spawn does: in init's memory until its execve (CLONE_VM|CLONE_VFORK;
    // init sleeps meanwhile), so no page tables are copied for a process about to replace
    // them. The program's path only writes its own stack, errno and the error pipe.
    static char app_stack[64 * 1024] __attribute__((aligned(16)));
    struct app_start start = { .config = c, .filter = &filter, .error_fd = error_fd };
    pid_t app = clone(app_entry, app_stack + sizeof app_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &start);
    if (app < 0) fail(error_fd, errno, 0, "start program", "");

    release_descriptors(c, error_fd);
    confine_init(c, &filter, app, error_fd);
    // The program holds the error pipe until execve (close-on-exec), init until it is confined:
    // the launcher sees EOF once both hold, or the record of the step that failed.
    close(error_fd);

    // --stop-timeout: armed by the first SIGTERM or SIGINT passed on, as docker stop does.
    struct timespec stop_deadline = { 0, 0 };
    int stopping = 0;
    while (1) {
        siginfo_t info;
        int sig;
        if (stopping == 1) {
            struct timespec left = time_until(stop_deadline);
            sig = left.tv_sec < 0 ? -1 : sigtimedwait(&waited, &info, &left);
            if (sig < 0 && (left.tv_sec < 0 || errno == EAGAIN)) {
                // As pid 1 of the sandbox's pid namespace: every other process in it.
                kill(-1, SIGKILL);
                stopping = 2;
                continue;
            }
        } else {
            sig = sigwaitinfo(&waited, &info);
        }
        if (sig < 0) continue;  // EINTR
        if (sig != SIGCHLD) {
            kill(app, sig);
            if ((sig == SIGTERM || sig == SIGINT) && stopping == 0 && c->stop_timeout_ms >= 0) {
                stop_deadline = time_after(c->stop_timeout_ms);
                stopping = 1;
            }
            continue;
        }
        int status;
        pid_t reaped;
        while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
            if (reaped != app) continue;
            if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
            if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
        }
    }
}

int sbx_spawn(const struct sbx_spawn_config *config, struct sbx_spawn_result *result) {
    int go[2] = { -1, -1 }, ready[2] = { -1, -1 }, err[2] = { -1, -1 };
    // `ready` is a socket pair so the launcher can say ready with MSG_NOSIGNAL: init may have
    // died of a setup error meanwhile, and that must not raise SIGPIPE in the launcher.
    if (pipe2(go, O_CLOEXEC) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ready) < 0
        || pipe2(err, O_CLOEXEC) < 0) goto failed;
    if (config->go_at_once) {
        // Waiting in the pipe before init reads: no wake-up to wait for (a tenth of a ms or
        // more when the other CPU sleeps).
        static const char go_byte = 1;
        if (write(go[1], &go_byte, 1) != 1) goto failed;
        close(go[1]);
        go[1] = -1;
    }
    pid_t pid = raw_fork((unsigned long)config->clone_flags);
    if (pid < 0) goto failed;
    if (pid == 0) {
        if (go[1] >= 0) close(go[1]);
        close(ready[1]);
        close(err[0]);
        run_init(config, go[0], ready[0], err[1]);
    }
    close(go[0]);
    close(ready[0]);
    close(err[1]);
    result->pid = pid;
    result->go_fd = go[1];
    result->ready_fd = ready[1];
    result->error_fd = err[0];
    return 0;
failed:;
    int saved = errno;
    int *ends[] = { go, ready, err };
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            if (ends[i][j] >= 0) close(ends[i][j]);
    errno = saved;
    return -1;
}

// MARK: launcher-side helpers

int sbx_close_in_background(int fd) {
    int release[2];
    if (pipe2(release, O_CLOEXEC) < 0) return -1;
    pid_t middle = raw_fork(0);
    if (middle < 0) {
        int saved = errno;
        close(release[0]); close(release[1]);
        errno = saved;
        return -1;
    }
    if (middle == 0) {
        // The grandchild is adopted by init (or the nearest subreaper), so nobody here waits
        // for its exit; the middle process is reaped at once below.
        if (raw_fork(0) != 0) _exit(0);
        // Keep only `fd` and the read end; wait until the caller has closed its copy of `fd`
        // (EOF on the pipe), so that this process drops the last reference.
        unsigned low = (unsigned)(fd < release[0] ? fd : release[0]);
        unsigned high = (unsigned)(fd < release[0] ? release[0] : fd);
        if (low > 0) syscall(SYS_close_range, 0U, low - 1, 0U);
        if (high > low + 1) syscall(SYS_close_range, low + 1, high - 1, 0U);
        syscall(SYS_close_range, high + 1, ~0U, 0U);
        char byte;
        while (read(release[0], &byte, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    close(release[0]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    close(fd);
    close(release[1]);
    return 0;
}

int sbx_send_ready(int ready_fd, const void *filter, uint32_t instructions) {
    if (instructions > BPF_MAXINSNS) {
        errno = E2BIG;
        return -1;
    }
    if (send_all(ready_fd, &instructions, sizeof instructions) < 0) return -1;
    return send_all(ready_fd, filter, instructions * sizeof(struct sock_filter));
}

static volatile sig_atomic_t forward_target = 0;

static void forward_signal(int sig) {
    int saved = errno;
    pid_t target = (pid_t)forward_target;
    if (target > 0) kill(target, sig);
    errno = saved;
}

int sbx_forward_signals_to(pid_t pid) {
    forward_target = pid;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = pid > 0 ? forward_signal : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < FORWARDED_COUNT; i++)
        if (sigaction(forwarded_signals[i], &sa, NULL) < 0) return -1;
    return 0;
}

int sbx_open_outer_network(int fds[3]) {
    int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original < 0) return -1;
    if (unshare(CLONE_NEWNET) < 0) {
        int saved = errno;
        close(original);
        errno = saved;
        return -1;
    }
    fds[0] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    fds[1] = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    fds[2] = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int saved = errno;
    // Back home first: the thread must never stay in the new namespace.
    int returned = setns(original, CLONE_NEWNET);
    if (returned < 0) saved = errno;
    close(original);
    if (returned < 0 || fds[0] < 0 || fds[1] < 0 || fds[2] < 0) {
        for (int i = 0; i < 3; i++) if (fds[i] >= 0) close(fds[i]);
        errno = saved;
        return -1;
    }
    return 0;
}

int sbx_bind_packet_socket(int fd, int ifindex) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = ifindex;
    return bind(fd, (struct sockaddr *)&address, sizeof address);
}

int sbx_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sbx_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

int sbx_receive_fd(int channel) {
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int))]; } control;
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n;
    do { n = recvmsg(channel, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    if (n == 0 || cmsg == NULL || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
        errno = ECONNRESET;
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    return fd;
}

int sbx_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int sbx_wifexited(int status) { return WIFEXITED(status); }
int sbx_wexitstatus(int status) { return WEXITSTATUS(status); }
int sbx_wifsignaled(int status) { return WIFSIGNALED(status); }
int sbx_wtermsig(int status) { return WTERMSIG(status); }

int sbx_open_pty(int *primary, int *replica, char *name, size_t name_len) {
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    if (grantpt(fd) < 0 || unlockpt(fd) < 0) goto fail;
    if (ptsname_r(fd, name, name_len) != 0) goto fail;
    int peer = ioctl(fd, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (peer < 0) goto fail;
    *primary = fd;
    *replica = peer;
    return 0;
fail: {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
}

int sbx_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int sbx_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws);
}
