// The gateway's process: the clone-to-exec path (async-signal-safe only: the parent is a
// multi-threaded Swift process) and the isolation steps after the exec, in the order pasta's
// isolation.c takes them: namespaces first (at clone), then the empty root, then identity and
// capabilities, NO_NEW_PRIVS, and seccomp last.
#define _GNU_SOURCE
#include "gateway_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Puts the descriptors at 3, 4, ... without one clobbering another: first each is copied above
/// the target range (F_DUPFD clears close-on-exec), then moved down; everything else above the
/// range is closed.
static int place_descriptors(const struct sbx_gateway_spawn *spec) {
    int first_free = 3 + (int)spec->fd_count;
    if (spec->fd_count > 4096) return -1;
    int copies[spec->fd_count + 1];  // on the stack: no malloc between clone and exec
    for (uint32_t i = 0; i < spec->fd_count; i++) {
        copies[i] = fcntl(spec->fds[i], F_DUPFD, first_free);
        if (copies[i] < 0) return -1;
    }
    for (uint32_t i = 0; i < spec->fd_count; i++) {
        if (dup2(copies[i], 3 + (int)i) < 0) return -1;
    }
    // The copies and every descriptor the launcher had open (close-on-exec or not) go.
    if (syscall(SYS_close_range, (unsigned)first_free, ~0U, 0) < 0) return -1;
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) return -1;
    if (dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0) return -1;
    if (null_fd > 2) close(null_fd);
    return 0;
}

pid_t sbx_spawn_gateway(const struct sbx_gateway_spawn *spec) {
    // Raw clone: fork semantics without glibc's atfork handlers (they take malloc locks).
    long pid = syscall(SYS_clone, (unsigned long)(spec->clone_flags | SIGCHLD), 0, 0, 0, 0);
    if (pid != 0) return (pid_t)pid;
    // The child. Dies with the launcher; if the launcher is already gone, exit now.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) _exit(127);
    char go = 0;
    ssize_t n;
    do { n = read(spec->sync_fd, &go, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127);
    // Become the namespace's root (the mapped id 0), so the exec keeps the capabilities that
    // the isolation steps need inside it. The host's groups go where that is allowed (as root).
    // Raw syscalls: glibc's wrappers would wait for the launcher's other threads, which this
    // clone does not have (see child_path.h).
    if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) _exit(127);
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0) _exit(127);
    // The identity change cleared the parent-death signal: set it again. (Should the launcher
    // die before this line, the gateway still ends: its control socket reads EOF.)
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) _exit(127);
    if (place_descriptors(spec) < 0) _exit(127);
    execve(spec->path, spec->argv, spec->envp);
    _exit(127);
}

int sbx_gateway_isolate(const char *mount_point, const char **step) {
    *step = "make the mount tree private";
    if (mount("", "/", "", MS_REC | MS_PRIVATE, NULL) < 0) return -1;
    // Read-only from birth, no room for a file: nothing can ever be written or executed here.
    *step = "mount the empty root";
    if (mount("sandbox-gateway", mount_point, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "nr_inodes=2,nr_blocks=0,mode=0555") < 0) return -1;
    *step = "enter the empty root";
    if (chdir(mount_point) < 0) return -1;
    *step = "pivot_root";
    if (syscall(SYS_pivot_root, ".", ".") < 0) return -1;
    *step = "detach the old root";
    if (umount2(".", MNT_DETACH | UMOUNT_NOFOLLOW) < 0) return -1;
    *step = "chdir /";
    if (chdir("/") < 0) return -1;
    return 0;
}

int sbx_gateway_drop_privileges(int last_cap, int drop_groups, const char **step) {
    *step = "drop supplementary groups";
    if (drop_groups && setgroups(0, NULL) < 0) return -1;
    *step = "clear ambient capabilities";
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    *step = "drop bounding capabilities";
    for (int cap = 0; cap <= last_cap; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    }
    *step = "drop capabilities";
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {{0}};
    if (syscall(SYS_capset, &header, data) < 0) return -1;
    *step = "set no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    *step = "set not dumpable";
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return -1;
    *step = "set RLIMIT_CORE 0";
    struct rlimit none = { 0, 0 };
    if (setrlimit(RLIMIT_CORE, &none) < 0) return -1;
    return 0;
}

int sbx_gateway_load_filter(const void *filter, uint32_t instructions) {
    struct sock_fprog program = { .len = (unsigned short)instructions, .filter = (struct sock_filter *)filter };
    if (instructions == 0 || instructions > 4096) { errno = EINVAL; return -1; }
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
}

int sbx_set_process_name(const char *name) { return prctl(PR_SET_NAME, name, 0, 0, 0); }

int sbx_pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}
