// The netlink channel: init sends descriptors opened in the sandbox's namespaces (SCM_RIGHTS),
// the launcher receives them. And an OCI console socket: the terminal's primary end goes to the
// engine's listener.
#define _GNU_SOURCE
#include "child_path.h"
#include "launcher_shims.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/// One byte of data and room for one descriptor: the message either end uses.
struct fd_message {
    char byte;
    struct iovec iov;
    struct msghdr msg;
    char control[CMSG_SPACE(sizeof(int))] __attribute__((aligned(__alignof__(struct cmsghdr))));
};

static void fd_message_init(struct fd_message *m) {
    memset(m, 0, sizeof *m);
    m->byte = 'N';
    m->iov.iov_base = &m->byte;
    m->iov.iov_len = 1;
    m->msg.msg_iov = &m->iov;
    m->msg.msg_iovlen = 1;
    m->msg.msg_control = m->control;
    m->msg.msg_controllen = sizeof m->control;
}

int sbx_send_fd(int channel, int fd) { return sbx_send_fd_with_data(channel, fd, "N", 1); }

int sbx_send_fd_with_data(int channel, int fd, const void *data, size_t length) {
    struct fd_message m;
    fd_message_init(&m);
    m.iov.iov_base = (void *)data;
    m.iov.iov_len = length;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&m.msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    ssize_t n;
    do { n = sendmsg(channel, &m.msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n == (ssize_t)length ? 0 : -1;
}

ssize_t sbx_receive_message(int channel, void *data, size_t capacity, int *fd) {
    struct fd_message m;
    fd_message_init(&m);
    m.iov.iov_base = data;
    m.iov.iov_len = capacity;
    *fd = -1;
    ssize_t n;
    do { n = recvmsg(channel, &m.msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n <= 0) return n;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&m.msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&m.msg, cmsg)) {
        if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS && cmsg->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(fd, CMSG_DATA(cmsg), sizeof(int));
    }
    return n;
}

int sbx_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds); }

int sbx_receive_fd(int channel) {
    struct fd_message m;
    fd_message_init(&m);
    ssize_t n;
    do { n = recvmsg(channel, &m.msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&m.msg);
    if (n == 0 || cmsg == NULL || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
        errno = ECONNRESET;
        return -1;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
    return fd;
}

static int unix_address(const char *path, struct sockaddr_un *address) {
    memset(address, 0, sizeof *address);
    address->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address->sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address->sun_path, path);
    return 0;
}

int sbx_listen_unix(const char *path) {
    struct sockaddr_un address;
    if (unix_address(path, &address) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) < 0 || listen(fd, 8) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int sbx_connect_unix(const char *path) {
    struct sockaddr_un address;
    if (unix_address(path, &address) < 0) return -1;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int sbx_send_to_console_socket(const char *path, int fd) {
    struct sockaddr_un address;
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof address.sun_path) { errno = ENAMETOOLONG; return -1; }
    strcpy(address.sun_path, path);
    int socket_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (socket_fd < 0) return -1;
    int result = connect(socket_fd, (struct sockaddr *)&address, sizeof address);
    if (result == 0) result = sbx_send_fd(socket_fd, fd);
    int saved = errno;
    close(socket_fd);
    errno = saved;
    return result;
}
