// Attempts for the safe defaults of issue 13, included once by escape.c (the suite is one
// static program per source file in rootfs/src, so its parts are headers). Each is denied
// confined and, where the kernel has the feature, possible unconfined as root.
#ifndef ESCAPE_SAFE_DEFAULT_H
#define ESCAPE_SAFE_DEFAULT_H

#ifndef SYS_open_tree_attr
#define SYS_open_tree_attr 467   // Linux 6.15; not in every libc's headers yet
#endif
#define KCMP_FILE_TYPE 0         // linux/kcmp.h KCMP_FILE

// socketpair is held to AF_UNIX: other families are refused by the filter, also when the
// family's high 32 bits are set (the kernel reads an int). Unconfined the kernel itself answers
// EOPNOTSUPP for inet pairs: no hole, but the verdict shows who refused.
static int pair_of(long family) {
    int sv[2];
    if (syscall(SYS_socketpair, family, SOCK_STREAM, 0, sv) < 0) return errno;
    close(sv[0]);
    close(sv[1]);
    return RES_OK;
}
static int a_socketpair_inet(void) { return pair_of(AF_INET); }
static int a_socketpair_netlink(void) { return pair_of(AF_NETLINK); }
static int a_socketpair_high_bits(void) { return pair_of((1L << 32) | AF_INET6); }

// The local descriptor table: read it (a harmless operation that still reaches the code).
static int a_modify_ldt(void) {
    static char table[16];
    return err(syscall(SYS_modify_ldt, 0, table, sizeof table));
}

// Another process's descriptors and kernel objects.
static int a_pidfd_getfd(void) {
    int pidfd = (int)syscall(SYS_pidfd_open, getppid(), 0);
    if (pidfd < 0) return errno;
    int result = close_ok(syscall(SYS_pidfd_getfd, pidfd, 0, 0));
    close(pidfd);
    return result;
}
static int a_kcmp(void) { return err(syscall(SYS_kcmp, getpid(), getppid(), KCMP_FILE_TYPE, 0, 0)); }

// The new mount API's newest call: a detached copy of / (usize 0: no attributes).
static int a_open_tree_attr(void) {
    return close_ok(syscall(SYS_open_tree_attr, AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC, NULL, 0));
}

// PID 1's memory: init is not dumpable, so even its own uid may not open it.
static int a_proc_1_mem(void) { return close_ok(open("/proc/1/mem", O_RDONLY | O_CLOEXEC)); }

// A set-user-ID file: on an idmapped volume the app's root writes as on-disk root, so the
// filter refuses the bit (chmod and creation modes).
static int a_chmod_setuid(void) {
    char path[96];
    snprintf(path, sizeof path, "%s/setuid", scratch_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
    if (fd < 0) return errno;
    close(fd);
    int result = err(chmod(path, 04755));
    unlink(path);
    return result;
}
static int a_create_setgid(void) {
    char path[96];
    snprintf(path, sizeof path, "%s/setgid", scratch_dir);
    int result = close_ok(open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 02755));
    unlink(path);
    return result;
}

#endif
