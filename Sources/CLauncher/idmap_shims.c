// Idmapped volumes for the default user namespace (issue 13): the sandbox's ids live in an
// unprivileged host range, so a volume is attached through an idmapped mount that shows its
// files to the app as their own ids. Only the caller (root in the initial user namespace) may
// idmap a mount of an ordinary file system, so this runs in the launcher, before the clone.
#define _GNU_SOURCE
#include "idmap_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_text(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(text);
    ssize_t written;
    do { written = write(fd, text, len); } while (written < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (written != (ssize_t)len) { errno = written < 0 ? saved : EIO; return -1; }
    return 0;
}

int sbx_mapping_user_namespace(const char *uid_map, const char *gid_map) {
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0) return -1;
    // A raw clone: the child runs no libc code beyond read and _exit (safe after fork in a
    // threaded process); it waits for the pipe's EOF so that its namespace outlives the open.
    pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        char byte;
        close(hold[1]);
        while (read(hold[0], &byte, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    int saved = errno;
    close(hold[0]);
    if (pid < 0) { close(hold[1]); errno = saved; return -1; }

    char path[64];
    int fd = -1;
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    if (write_text(path, uid_map) == 0) {
        snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
        if (write_text(path, gid_map) == 0) {
            snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
            fd = open(path, O_RDONLY | O_CLOEXEC);
        }
    }
    saved = errno;
    close(hold[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
    errno = saved;
    return fd;
}

/// A detached copy of the tree at `path` (open_tree OPEN_TREE_CLONE, with `recursive`
/// AT_RECURSIVE) with `attr` set on it (through `userns_fd` for MOUNT_ATTR_IDMAP, else -1).
static int detached_tree(const char *path, unsigned int recursive, unsigned long long attr, int userns_fd) {
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive);
    if (tree < 0) return -1;
    struct mount_attr settings;
    memset(&settings, 0, sizeof settings);
    settings.attr_set = attr;
    if (userns_fd >= 0) settings.userns_fd = (unsigned long long)userns_fd;
    if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | recursive, &settings, sizeof settings) < 0) {
        int saved = errno;
        close(tree);
        errno = saved;
        return -1;
    }
    return tree;
}

int sbx_open_idmapped_tree(const char *path, int userns_fd, int readonly) {
    unsigned long long attr = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (readonly ? MOUNT_ATTR_RDONLY : 0);
    int tree = detached_tree(path, AT_RECURSIVE, attr, userns_fd);
    // A submount whose file system cannot be idmapped (proc, a FUSE mount) fails the recursive
    // form: then the volume is the top mount alone, as a non-recursive bind would be.
    if (tree < 0 && errno == EINVAL) tree = detached_tree(path, 0, attr, userns_fd);
    return tree;
}

int sbx_open_plain_tree(const char *path) {
    int tree = detached_tree(path, AT_RECURSIVE, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, -1);
    if (tree < 0 && errno == EINVAL) tree = detached_tree(path, 0, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, -1);
    return tree;
}

int sbx_open_readonly_tree(const char *path) {
    return detached_tree(path, 0, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, -1);
}
