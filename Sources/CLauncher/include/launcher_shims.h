// The launcher's own helpers around the child path (Sandbox): signal forwarding, descriptor
// passing, the gateway's outer network namespace, pipes, pidfds, wait statuses, terminals.
// Each is one call, or a few, that Glibc's Swift module does not expose; no policy here.
#ifndef CLAUNCHER_SHIMS_H
#define CLAUNCHER_SHIMS_H

#include <stddef.h>
#include <sys/types.h>

/// Forwards SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGWINCH received by the
/// launcher to `pid` (a sigaction handler that calls kill(2), async-signal-safe). pid 0 restores
/// the default dispositions.
int sbx_forward_signals_to(pid_t pid);

/// mkdir -p of `inner` (an absolute path read inside `directory`, symlinks resolved with
/// `directory` as "/", never out of it), the last component an empty file when `file_last`:
/// the mount points a writable root file system lacks (mount_shims.c). 0, or -1 with errno.
int sbx_create_in_directory(const char *directory, const char *inner, int file_last, mode_t mode);

/// Connects to the unix stream socket at `path` and sends `fd` on it (SCM_RIGHTS), as runc
/// does with --console-socket. 0, or -1 with errno.
int sbx_send_to_console_socket(const char *path, int fd);
/// A listening AF_UNIX SOCK_SEQPACKET socket bound at `path` (close-on-exec), or -1.
int sbx_listen_unix(const char *path);
/// A SOCK_SEQPACKET connection to the socket at `path` (close-on-exec), or -1.
int sbx_connect_unix(const char *path);

/// Sends `length` bytes of `data` with `fd` (SCM_RIGHTS) as one message on a SOCK_SEQPACKET
/// `channel`, without SIGPIPE. 0, or -1 with errno.
int sbx_send_fd_with_data(int channel, int fd, const void *data, size_t length);

/// Receives one message (at most `capacity` bytes) and the descriptor sent with it, if any
/// (`*fd`, close-on-exec; -1 without one). Returns the byte count, 0 at EOF, -1 with errno.
ssize_t sbx_receive_message(int channel, void *data, size_t capacity, int *fd);

/// A close-on-exec unix SOCK_SEQPACKET socketpair (the netlink channel).
int sbx_socketpair_cloexec(int fds[2]);

/// Receives one descriptor sent with SCM_RIGHTS; returns it (close-on-exec), or -1 with errno
/// (ECONNRESET if the peer closed without sending).
int sbx_receive_fd(int channel);

/// The far side of the app's veth: a fresh network namespace reachable only through the three
/// descriptors written to `fds` (close-on-exec): [0] a NETLINK_ROUTE socket in it, [1] the
/// namespace file itself (for IFLA_NET_NS_FD), [2] an AF_PACKET socket in it, not bound yet
/// (protocol 0: it sees nothing until `sbx_bind_packet_socket`). The namespace lives exactly as
/// long as these descriptors, so the kernel removes it (and the veth) when the last one closes,
/// even if the launcher is killed. The calling thread unshares a network namespace and returns
/// to its original one before this returns; it needs CAP_SYS_ADMIN and CAP_NET_RAW in its user
/// namespace. Returns 0, or -1 with errno (nothing left open, the thread where it was).
int sbx_open_outer_network(int fds[3]);

/// Binds an AF_PACKET socket to interface `ifindex` for every protocol (ETH_P_ALL).
int sbx_bind_packet_socket(int fd, int ifindex);

/// pipe2(2) with O_CLOEXEC (pipe2 is not exposed by Glibc's Swift module).
int sbx_pipe_cloexec(int fds[2]);

/// pidfd_open(2) (not exposed by Glibc's Swift module).
int sbx_pidfd_open(pid_t pid);

/// prlimit(pid, resource) read: another process's soft and hard limits. 0, or -1 with errno.
int sbx_get_rlimit(pid_t pid, int resource, unsigned long long *soft, unsigned long long *hard);

/// setns(fd, CLONE_NEWNET) for the calling thread (and the threads and processes it makes).
int sbx_join_network_namespace(int fd);

/// prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are reparented to this process.
int sbx_become_subreaper(void);

/// The exit status word helpers Glibc's Swift module does not import (macros).
int sbx_wifexited(int status);
int sbx_wexitstatus(int status);
int sbx_wifsignaled(int status);
int sbx_wtermsig(int status);

/// Opens a new pseudo-terminal: `*primary` and its replica `*replica` (TIOCGPTPEER), both
/// close-on-exec and neither becoming the caller's controlling terminal; the replica's path goes
/// to `name` (NUL-terminated, at most `name_len` bytes). 0 or -1 with errno.
int sbx_open_pty(int *primary, int *replica, char *name, size_t name_len);

/// ioctl wrappers for the terminal relay (variadic ioctl is not callable from Swift).
int sbx_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int sbx_set_winsize(int fd, unsigned short rows, unsigned short cols);

#endif
