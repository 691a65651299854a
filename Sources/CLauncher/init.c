// PID 1 of the sandbox, in phases: hand the launcher its network descriptors, wait for go, take
// the namespace's identity, harden itself, set up the sandbox (cgroup namespace, hostname,
// sysctls, root, loopback, limits, bounding set), take the filter with ready, start the program
// (program.c), confine itself, and supervise: forward signals, reap, exit with the program.
#define _GNU_SOURCE
#include "child_path.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "launcher_shims.h"

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
    sbx_bounded_copy(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
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

/// The network seam: the app's rtnetlink socket, then (--net=user) the gateway's outer
/// namespace, sent to the launcher before init waits for go.
static void send_network_descriptors(const struct sbx_spawn_config *c, int error_fd) {
    int netlink = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (netlink < 0) sbx_fail(error_fd, errno, 0, "open rtnetlink socket in the sandbox's netns", "");
    if (sbx_send_fd(c->netlink_channel_fd, netlink) < 0) sbx_fail(error_fd, errno, 0, "send rtnetlink socket to the launcher", "");
    close(netlink);
    if (c->outer_network_namespace) {
        int outer[3];
        if (sbx_open_outer_network(outer) < 0) sbx_fail(error_fd, errno, 0, "make the gateway's network namespace", "");
        for (int i = 0; i < 3; i++) {
            if (sbx_send_fd(c->netlink_channel_fd, outer[i]) < 0) sbx_fail(error_fd, errno, 0, "send the gateway's network namespace", "");
            close(outer[i]);
        }
    }
    close(c->netlink_channel_fd);
}

/// Waits until the launcher has written the id maps and moved init into its cgroups, then
/// takes the identity the sandbox runs under and hardens init for the rest of its life.
static void await_go(const struct sbx_spawn_config *c, int go_fd, int error_fd) {
    char go = 0;
    ssize_t got;
    do { got = read(go_fd, &go, 1); } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(125);  // the launcher aborted or died before saying go
    close(go_fd);
    // The maps are written now. In a user namespace whose ids are a host range, init still
    // holds the launcher's host ids, which are unmapped there: become the namespace's root
    // (its capabilities stay, see capabilities(7) on setuid to 0 in a user namespace).
    if (c->become_namespace_root) {
        if (sbx_setresgid(0) < 0) sbx_fail(error_fd, errno, 0, "setresgid", "");
        if (sbx_setresuid(0) < 0) sbx_fail(error_fd, errno, 0, "setresuid", "");
        // A change of credentials clears the parent-death signal: arm it again. Should the
        // launcher die before this, the ready pipe's EOF still ends init before the program.
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set parent-death signal", "");
    }
    // Once the id maps are written (a non-dumpable child's /proc/<pid>/uid_map is root's, so a
    // rootless launcher could not write it before) and after the last change of credentials
    // (which resets the flag to fs.suid_dumpable): no ptrace attach, /proc/<pid> root's. The
    // flag is inherited by the program's clone (its execve then resets it, as for any exec).
    // NO_NEW_PRIVS goes before any seccomp filter, here or in the program.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "make init non-dumpable", "");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set no_new_privs on init", "");
}

/// As docker does for a container's own namespace: the app's group may open ICMP echo sockets
/// (unprivileged ping; a new namespace allows nobody), and any port may be bound (the namespace
/// is the app's alone; a published port then needs no capability).
static void open_user_network(const struct sbx_spawn_config *c, int error_fd) {
    char range[32];
    snprintf(range, sizeof range, "%u %u\n", c->app_gid, c->app_gid);
    if (write_net_sysctl("/proc/sys/net/ipv4/ping_group_range", range) < 0)
        sbx_fail(error_fd, errno, 0, "allow ping sockets", "/proc/sys/net/ipv4/ping_group_range");
    if (write_net_sysctl("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0\n") < 0)
        sbx_fail(error_fd, errno, 0, "open low ports", "/proc/sys/net/ipv4/ip_unprivileged_port_start");
}

/// The sandbox's own namespaces as the plan says: cgroup namespace, hostname, network sysctls,
/// root, loopback, resource limits; then the bounding and ambient sets emptied.
static void set_up_sandbox(const struct sbx_spawn_config *c, int error_fd) {
    if (c->unshare_cgroup && unshare(CLONE_NEWCGROUP) < 0) sbx_fail(error_fd, errno, 0, "unshare cgroup namespace", "");
    if (c->hostname != NULL && sethostname(c->hostname, strlen(c->hostname)) < 0)
        sbx_fail(error_fd, errno, 0, "sethostname", c->hostname);
    // Before setup_root: /proc/sys is read-only in the sandbox's own /proc.
    if (c->user_network_sysctls) open_user_network(c, error_fd);
    if (c->stage_dir != NULL) sbx_setup_root(c, error_fd);
    if (c->loopback_up && loopback_up() < 0) sbx_fail(error_fd, errno, 0, "bring lo up", "lo");
    for (uint32_t i = 0; i < c->rlimit_count; i++) {
        struct rlimit rl = { .rlim_cur = c->rlimits[i].soft, .rlim_max = c->rlimits[i].hard };
        if (setrlimit(c->rlimits[i].resource, &rl) < 0) sbx_fail(error_fd, errno, 0, "setrlimit", "");
    }
    // Emptied once, here, while the launcher may still be compiling the filter: the program
    // inherits both sets empty. Neither limits what init and the program still do before
    // exec with their effective capabilities (setresuid, TIOCSCTTY); those go with
    // cap_set_proc right before the filter. Needs CAP_SETPCAP, which the app's uid change drops.
    for (int cap = 0; cap <= c->last_cap; cap++) {
        if (cap_drop_bound(cap) < 0 && errno != EINVAL) sbx_fail(error_fd, errno, 0, "drop bounding capability", "");
    }
    if (cap_reset_ambient() < 0 && errno != EINVAL) sbx_fail(error_fd, errno, 0, "clear ambient capabilities", "");
}

static void ignore_signal(int sig) { (void)sig; }

/// pid 1 only receives signals it has a handler for: install no-op handlers, block them, and
/// take them synchronously with sigwaitinfo (`waited`).
static void block_forwarded_signals(sigset_t *waited) {
    sigemptyset(waited);
    struct sigaction noop;
    memset(&noop, 0, sizeof noop);
    noop.sa_handler = ignore_signal;
    for (size_t i = 0; i < SBX_FORWARDED_COUNT; i++) {
        sigaddset(waited, sbx_forwarded_signals[i]);
        sigaction(sbx_forwarded_signals[i], &noop, NULL);
    }
    sigaddset(waited, SIGCHLD);
    sigaction(SIGCHLD, &noop, NULL);
    sigprocmask(SIG_BLOCK, waited, NULL);
}

/// The launcher configured the network and compiled the seccomp filter meanwhile (the
/// gateway's packet ring takes a few ms of RCU grace periods to set up, libseccomp most of a
/// millisecond: both overlap the mounts). EOF: the launcher aborted or died.
static struct sock_fprog await_ready(int ready_fd) {
    static struct sock_filter instructions[BPF_MAXINSNS];
    uint32_t count = 0;
    if (read_exact(ready_fd, &count, sizeof count) < 0 || count > BPF_MAXINSNS
        || read_exact(ready_fd, instructions, count * sizeof instructions[0]) < 0) _exit(125);
    close(ready_fd);
    struct sock_fprog filter = { .len = (unsigned short)count, .filter = instructions };
    return filter;
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
static void confine_init(const struct sbx_child *child, struct sock_fprog *filter, pid_t app) {
    const char *step = NULL;
    if (cap_set_proc(child->empty_caps) < 0) step = "drop init's capabilities";
    else if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) { errno = EPERM; step = "check init is non-dumpable"; }
    else if (filter->len > 0 && prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, filter, 0, 0) < 0) step = "load init's seccomp filter";
    if (step == NULL) return;
    int saved = errno;
    kill(app, SIGKILL);
    sbx_fail(child->error_fd, saved, 0, step, "");
}

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

/// Forwards the `waited` signals to the program, reaps every zombie, and exits with the
/// program's status (128+N for a signal) as soon as the program is gone.
__attribute__((noreturn))
static void supervise(const struct sbx_spawn_config *c, pid_t app, const sigset_t *waited) {
    // --stop-timeout: armed by the first SIGTERM or SIGINT passed on, as docker stop does.
    struct timespec stop_deadline = { 0, 0 };
    int stopping = 0;
    while (1) {
        siginfo_t info;
        int sig;
        if (stopping == 1) {
            struct timespec left = time_until(stop_deadline);
            sig = left.tv_sec < 0 ? -1 : sigtimedwait(waited, &info, &left);
            if (sig < 0 && (left.tv_sec < 0 || errno == EAGAIN)) {
                // As pid 1 of the sandbox's pid namespace: every other process in it.
                kill(-1, SIGKILL);
                stopping = 2;
                continue;
            }
        } else {
            sig = sigwaitinfo(waited, &info);
        }
        if (sig < 0) {
            if (errno == EINTR) continue;
            // Init runs under the program's filter too: a profile that denies its waiting
            // (rt_sigtimedwait) leaves it no way to supervise, and it would spin. End the
            // sandbox and say why; the launcher reports 125.
            static const char why[] = "sandbox: the seccomp profile denies init's rt_sigtimedwait; stopping the sandbox\n";
            ssize_t ignored = write(2, why, sizeof why - 1);
            (void)ignored;
            kill(-1, SIGKILL);
            _exit(125);
        }
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

/// Sets the sandbox up, starts the program, and lives as long as it does; the kernel then kills
/// whatever is left in the pid namespace.
void sbx_run_init(const struct sbx_child *child) {
    const struct sbx_spawn_config *c = child->config;
    int error_fd = child->error_fd;
    // If the launcher dies from here on, so does the sandbox (and with it the pid namespace).
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) sbx_fail(error_fd, errno, 0, "set parent-death signal", "");
    if (c->netlink_channel_fd >= 0) send_network_descriptors(c, error_fd);
    await_go(c, child->go_fd, error_fd);
    set_up_sandbox(c, error_fd);
    sigset_t waited;
    block_forwarded_signals(&waited);
    struct sock_fprog filter = await_ready(child->ready_fd);

    pid_t app = sbx_start_program(child, &filter);
    if (app < 0) sbx_fail(error_fd, errno, 0, "start program", "");
    release_descriptors(c, error_fd);
    confine_init(child, &filter, app);
    // The program holds the error pipe until execve (close-on-exec), init until it is confined:
    // the launcher sees EOF once both hold, or the record of the step that failed.
    close(error_fd);
    supervise(c, app, &waited);
}
