/// The syscalls the built-in filter allows without looking at their arguments (issue 13): the
/// filter is an allow-list, and every syscall not named here or in `DefaultSeccompPolicy`'s
/// argument rules answers ENOSYS, so a syscall a future kernel adds stays closed until it is
/// reviewed and named here.
///
/// Drawn from Docker's default profile (moby profiles/seccomp/default.json, the calls it allows
/// without a capability) and gVisor's host filter, minus what `DefaultSeccompPolicy` closes
/// (the mount API, ptrace-like calls, modify_ldt, kcmp, pidfd_getfd, process_madvise,
/// move_pages, fanotify_init, openat2) and minus the calls it allows only under argument rules
/// (socket, socketpair, clone, unshare, ioctl, personality, chmod and creation modes). Names
/// libseccomp does not know on this machine are skipped by the compiler, which leaves them
/// closed: the safe direction.
enum SeccompAllowList {
    static let syscalls: [String] = files + descriptors + memory + processes + signals + time + network + ipc + system

    /// Paths, metadata, directories, links, extended attributes, notifications.
    static let files = [
        "access", "faccessat", "faccessat2", "chdir", "fchdir", "getcwd", "chown", "fchown", "fchownat", "lchown",
        "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "readlink", "readlinkat",
        "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2",
        "link", "linkat", "symlink", "symlinkat", "unlink", "unlinkat", "truncate", "ftruncate",
        "utime", "utimes", "utimensat", "futimesat", "umask", "name_to_handle_at",
        "getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
        "listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr", "lremovexattr", "fremovexattr",
        "removexattrat", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
        "sync", "syncfs", "fsync", "fdatasync", "sync_file_range", "fallocate", "fadvise64", "readahead",
        "flock", "cachestat"
    ]

    /// Reading, writing and managing descriptors; polling and event descriptors; AIO.
    static let descriptors = [
        "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
        "lseek", "close", "close_range", "dup", "dup2", "dup3", "fcntl", "pipe", "pipe2",
        "sendfile", "splice", "tee", "vmsplice", "copy_file_range",
        "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
        "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4",
        "timerfd_create", "timerfd_settime", "timerfd_gettime", "memfd_create", "memfd_secret",
        "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents"
    ]

    /// The process's own address space.
    static let memory = [
        "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock", "mlock2",
        "munlock", "mlockall", "munlockall", "remap_file_pages", "membarrier", "mseal", "map_shadow_stack",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "get_mempolicy", "set_mempolicy", "mbind",
        "set_mempolicy_home_node"
    ]

    /// Identity, process lifetime, scheduling, limits, threads. (Identity changes are bounded by
    /// the user namespace's map and the empty capability sets.)
    static let processes = [
        "execve", "execveat", "fork", "vfork", "exit", "exit_group", "wait4", "waitid",
        "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid",
        "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
        "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
        "capget", "capset", "prctl", "arch_prctl", "set_tid_address", "set_robust_list", "get_robust_list",
        "rseq", "futex", "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
        "getrlimit", "setrlimit", "prlimit64", "getrusage", "getpriority", "setpriority",
        "ioprio_get", "ioprio_set", "sched_yield", "sched_getaffinity", "sched_setaffinity",
        "sched_getattr", "sched_setattr", "sched_getparam", "sched_setparam", "sched_getscheduler",
        "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval",
        "getcpu", "pidfd_open", "pidfd_send_signal", "process_mrelease", "seccomp",
        "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
        "get_thread_area", "set_thread_area"
    ]

    static let signals = [
        "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "kill", "tkill", "tgkill", "pause", "restart_syscall"
    ]

    static let time = [
        "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "times",
        "alarm", "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime",
        "timer_getoverrun", "timer_delete"
    ]

    /// Socket calls after creation (creation itself is `DefaultSeccompPolicy`'s family rules).
    static let network = [
        "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "getsockopt", "setsockopt",
        "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown"
    ]

    /// System V and POSIX IPC: namespaced by the sandbox's IPC namespace.
    static let ipc = [
        "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
        "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
        "mq_notify", "mq_getsetattr"
    ]

    /// Views of the machine; the host name calls change only the sandbox's UTS namespace, and
    /// only with CAP_SYS_ADMIN the app lacks (allowed, so tools see EPERM, not a missing call).
    static let system = ["uname", "sysinfo", "getrandom", "sethostname", "setdomainname"]
}
