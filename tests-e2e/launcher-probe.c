// A small probe run inside the sandbox by launcher-*.sh: performs one named attempt and prints
// "OK" or the errno's name (EPERM, EAFNOSUPPORT, ...). A seccomp kill shows as the exit status.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/netlink.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: probe NAME\n"); return 2; }
    const char *t = argv[1];
    long r;
    errno = 0;
    if (!strcmp(t, "packet")) r = socket(AF_PACKET, SOCK_RAW, 0);
    else if (!strcmp(t, "packet-highbits")) r = syscall(SYS_socket, (1UL << 32) | AF_PACKET, SOCK_RAW, 0);
    else if (!strcmp(t, "inet-raw")) r = socket(AF_INET, SOCK_RAW, 1);
    else if (!strcmp(t, "inet6-packet")) r = socket(AF_INET6, SOCK_PACKET, 0);
    else if (!strcmp(t, "inet-stream")) r = socket(AF_INET, SOCK_STREAM, 0);
    else if (!strcmp(t, "inet6-dgram")) r = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    else if (!strcmp(t, "unix")) r = socket(AF_UNIX, SOCK_STREAM, 0);
    else if (!strcmp(t, "netlink-route")) r = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    else if (!strcmp(t, "netlink-audit")) r = socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
    else if (!strcmp(t, "vsock")) r = socket(40, SOCK_STREAM, 0);
    else if (!strcmp(t, "alg")) r = socket(38, SOCK_SEQPACKET, 0);
    else if (!strcmp(t, "unshare-user")) r = unshare(CLONE_NEWUSER);
    else if (!strcmp(t, "unshare-net")) r = unshare(CLONE_NEWNET);
    else if (!strcmp(t, "clone-newnet")) {
        r = syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0);
        if (r == 0) _exit(0);
        if (r > 0) waitpid((pid_t)r, NULL, 0);
    }
    else if (!strcmp(t, "clone3")) r = syscall(SYS_clone3, NULL, 0);
    else if (!strcmp(t, "io_uring")) { struct io_uring_params p; memset(&p, 0, sizeof p); r = syscall(SYS_io_uring_setup, 1, &p); }
    else if (!strcmp(t, "mount")) r = mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
    else if (!strcmp(t, "umount")) r = umount2("/proc", MNT_DETACH);
    else if (!strcmp(t, "chroot")) r = chroot("/");
    else if (!strcmp(t, "ptrace")) r = ptrace(PTRACE_ATTACH, 1, 0, 0);
    else if (!strcmp(t, "bpf")) r = syscall(SYS_bpf, 0, NULL, 0);
    else if (!strcmp(t, "keyctl")) r = syscall(SYS_keyctl, 0, 0, 0, 0, 0);
    else if (!strcmp(t, "tiocsti")) { char c = 'x'; r = ioctl(0, TIOCSTI, &c); }
    else if (!strcmp(t, "personality")) r = personality(ADDR_NO_RANDOMIZE);
    else if (!strcmp(t, "setns")) { int fd = open("/proc/self/ns/net", O_RDONLY); r = fd < 0 ? fd : setns(fd, 0); }
    else if (!strcmp(t, "x32")) r = syscall(0x40000000 | 39);  // getpid through the x32 ABI
    else { fprintf(stderr, "unknown probe %s\n", t); return 2; }
    if (r < 0) printf("%s\n", strerrorname_np(errno));
    else printf("OK\n");
    return 0;
}
