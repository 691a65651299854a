// The launcher's half of the child path: the three channels, the clone of the sandbox's init
// (init.c), and the ready message that carries the seccomp filter.
//
// glibc's fork() is avoided on purpose (it runs atfork handlers that take malloc locks); the
// raw clone syscall gives plain fork semantics.
#define _GNU_SOURCE
#include "child_path.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

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

static void close_channels(int *ends[3]) {
    int saved = errno;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            if (ends[i][j] >= 0) close(ends[i][j]);
    errno = saved;
}

int sbx_spawn(const struct sbx_spawn_config *config, struct sbx_spawn_result *result) {
    int go[2] = { -1, -1 }, ready[2] = { -1, -1 }, err[2] = { -1, -1 };
    int *ends[] = { go, ready, err };
    // Allocated here, before the clone: init and the program may not malloc.
    cap_t empty_caps = cap_init();
    if (empty_caps == NULL) return -1;
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
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)config->clone_flags | SIGCHLD, 0, 0, 0, 0);
    if (pid < 0) goto failed;
    if (pid == 0) {
        if (go[1] >= 0) close(go[1]);
        close(ready[1]);
        close(err[0]);
        struct sbx_child child = { .config = config, .empty_caps = empty_caps,
                                   .go_fd = go[0], .ready_fd = ready[0], .error_fd = err[1] };
        sbx_run_init(&child);
    }
    cap_free(empty_caps);  // init has its own copy
    close(go[0]);
    close(ready[0]);
    close(err[1]);
    result->pid = pid;
    result->go_fd = go[1];
    result->ready_fd = ready[1];
    result->error_fd = err[0];
    return 0;
failed:
    close_channels(ends);
    int saved = errno;
    cap_free(empty_caps);
    errno = saved;
    return -1;
}

int sbx_send_ready(int ready_fd, const void *filter, uint32_t instructions) {
    if (instructions > BPF_MAXINSNS) {
        errno = E2BIG;
        return -1;
    }
    if (send_all(ready_fd, &instructions, sizeof instructions) < 0) return -1;
    return send_all(ready_fd, filter, instructions * sizeof(struct sock_filter));
}
