// Process plumbing the launcher calls from Swift: pipes, pidfds, wait statuses (macros and
// _GNU_SOURCE calls that Glibc's Swift module does not expose).
#define _GNU_SOURCE
#include "launcher_shims.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int sbx_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sbx_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int sbx_wifexited(int status) { return WIFEXITED(status); }
int sbx_wexitstatus(int status) { return WEXITSTATUS(status); }
int sbx_wifsignaled(int status) { return WIFSIGNALED(status); }
int sbx_wtermsig(int status) { return WTERMSIG(status); }

int sbx_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int sbx_get_rlimit(pid_t pid, int resource, unsigned long long *soft, unsigned long long *hard) {
    struct rlimit limit;
    if (prlimit(pid, resource, NULL, &limit) < 0) return -1;
    *soft = limit.rlim_cur;
    *hard = limit.rlim_max;
    return 0;
}

int sbx_join_network_namespace(int fd) { return setns(fd, CLONE_NEWNET); }
