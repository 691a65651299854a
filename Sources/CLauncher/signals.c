// The signals a sandbox passes on: the launcher forwards them to init (a sigaction handler),
// init forwards them to the program (sigwaitinfo, init.c).
#define _GNU_SOURCE
#include "child_path.h"
#include "launcher_shims.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

const int sbx_forwarded_signals[SBX_FORWARDED_COUNT] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

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
    for (size_t i = 0; i < SBX_FORWARDED_COUNT; i++)
        if (sigaction(sbx_forwarded_signals[i], &sa, NULL) < 0) return -1;
    return 0;
}
