// The mount steps of the child path (one `sbx_mount_op` each), run in the staging root where
// the host is /oldroot and the sandbox's root is /newroot.
//
// Every path under /newroot is resolved with openat2(RESOLVE_IN_ROOT) relative to an fd of
// /newroot, so a symlink in the root file system (absolute, or "../..") can never lead a mount,
// mkdir or create to /oldroot: the host is unreachable from the resolution (the runc fix for
// CVE-2021-30465). Mounts land on the resolved fd: binds with open_tree + move_mount, new file
// systems on "." after fchdir to it. Missing mount points are made with mkdirat/openat
// (O_EXCL|O_NOFOLLOW) in a parent resolved the same way.
//
// Async-signal-safe like the rest of the child path: raw syscalls and stack buffers only.
#define _GNU_SOURCE
#include "mount_shims.h"
#include "launcher_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// The generic syscall numbers (the same on every architecture since Linux 5.1), for C
// libraries whose headers predate them.
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#define SYS_fsconfig 431
#define SYS_fsmount 432
#endif

#define NEW_ROOT "/newroot"

static size_t copy_path(char *dst, size_t cap, const char *src) {
    size_t i = 0;
    for (; i + 1 < cap && src[i] != '\0'; i++) dst[i] = src[i];
    dst[i] = '\0';
    return src[i] == '\0' ? i : 0;  // 0: too long (callers treat it as ENAMETOOLONG)
}

/// The part of a staging path under /newroot ("/etc/x"; "/" for /newroot), or NULL when
/// the path is not in the new root (a host path under /oldroot: a volume's source).
static const char *inside_root(const char *path) {
    size_t n = sizeof NEW_ROOT - 1;
    for (size_t i = 0; i < n; i++) if (path[i] != NEW_ROOT[i]) return NULL;
    if (path[n] == '\0') return "/";
    return path[n] == '/' ? path + n : NULL;
}

/// Resolves `path` with the new root as "/": absolute symlinks and ".." stop at the root.
static int open_in_root(int root, const char *path, int flags) {
    struct open_how how = { .flags = (unsigned long long)(flags | O_CLOEXEC),
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    for (int tries = 0; tries < 8; tries++) {  // EAGAIN: a concurrent rename; try again
        long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN) return (int)fd;
    }
    return -1;
}

static int open_root(void) { return open(NEW_ROOT, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); }

/// Opens a staging path: inside the new root as above, a host path (a volume's source,
/// chosen by the caller) plainly.
static int open_staging(const char *path, int flags) {
    const char *inner = inside_root(path);
    if (inner == NULL) return open(path, flags | O_CLOEXEC);
    int root = open_root();
    if (root < 0) return -1;
    int fd = open_in_root(root, inner, flags);
    int saved = errno;
    close(root);
    errno = saved;
    return fd;
}

/// Creates `name` in the directory `parent`: a directory, or an empty file (a bind mount
/// point). O_EXCL|O_NOFOLLOW: an existing name, even a dangling symlink, is never followed.
static int create_entry(int parent, const char *name, int as_dir, mode_t mode) {
    if (as_dir) return mkdirat(parent, name, mode);
    int fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

/// mkdir -p (or a file as the last component) of `path` inside the new root. Each missing
/// component is created in its parent as resolved in the root. A name that exists but does not
/// resolve in the root is a dangling symlink (maybe aimed at the host): ELOOP, nothing made.
static int create_below(int root, const char *inner, int file_last, mode_t mode);

static int create_in_root(const char *path, int file_last, mode_t mode) {
    const char *inner = inside_root(path);
    if (inner == NULL) { errno = EXDEV; return -1; }
    return sbx_create_in_directory(NEW_ROOT, inner, file_last, mode);
}

int sbx_create_in_directory(const char *directory, const char *inner, int file_last, mode_t mode) {
    int root = open(directory, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0) return -1;
    int result = create_below(root, inner, file_last, mode);
    int saved_errno = errno;
    close(root);
    errno = saved_errno;
    return result;
}

/// The walk of `create_in_root` from the directory `root`.
static int create_below(int root, const char *inner, int file_last, mode_t mode) {
    int result = 0;
    char buf[PATH_MAX];
    size_t len = copy_path(buf, sizeof buf, inner);
    if (len == 0) { errno = ENAMETOOLONG; return -1; }
    size_t start = 1;  // the component after the last '/'
    for (size_t i = 1; i <= len && result == 0; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        if (i == start) { start = i + 1; continue; }  // "//"
        char saved = buf[i];
        buf[i] = '\0';
        int fd = open_in_root(root, buf, O_PATH);
        if (fd >= 0) {
            close(fd);
        } else if (errno != ENOENT) {
            result = -1;
        } else {
            char name[NAME_MAX + 1];
            if (i - start > NAME_MAX) { errno = ENAMETOOLONG; result = -1; break; }
            copy_path(name, sizeof name, buf + start);
            buf[start - 1] = '\0';
            int parent = open_in_root(root, start == 1 ? "/" : buf, O_PATH | O_DIRECTORY);
            buf[start - 1] = '/';
            if (parent < 0) { result = -1; break; }
            int is_last = saved == '\0';
            if (create_entry(parent, name, !(is_last && file_last), mode) < 0) {
                if (errno == EEXIST) errno = ELOOP;
                result = -1;
            }
            close(parent);
        }
        buf[i] = saved;
        start = i + 1;
    }
    return result;
}

static unsigned long long mount_attributes(unsigned long ms_flags, int readonly) {
    unsigned long long attr = 0;
    if (ms_flags & MS_NOSUID) attr |= MOUNT_ATTR_NOSUID;
    if (ms_flags & MS_NODEV) attr |= MOUNT_ATTR_NODEV;
    if (ms_flags & MS_NOEXEC) attr |= MOUNT_ATTR_NOEXEC;
    if (readonly) attr |= MOUNT_ATTR_RDONLY;
    return attr;
}

static int set_attributes(int fd, unsigned long long attr, int recursive) {
    if (attr == 0) return 0;
    struct mount_attr a = { .attr_set = attr };
    return (int)syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a);
}

/// Clones the tree at `source_fd`, sets its flags while it is still detached (so it is never
/// visible writable or suid), and attaches it on `target_fd`.
static int attach_bind(int source_fd, int target_fd, unsigned long long attr, int recursive) {
    int tree = (int)syscall(SYS_open_tree, source_fd, "",
                            AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (tree < 0) return -1;
    int result = set_attributes(tree, attr, recursive);
    if (result == 0)
        result = (int)syscall(SYS_move_mount, tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    int saved = errno;
    close(tree);
    errno = saved;
    return result;
}

/// Binds `source` on `target` (created first with `create`); or, when the launcher prepared the
/// tree already (`prepared_fd` >= 0: an idmapped volume, the host's /sys alone), attaches that
/// detached mount as it is, flags and all.
static int bind_paths(const char *source, const char *target, unsigned long long attr, int recursive, int create,
                      int prepared_fd) {
    // A prepared tree (opened by the launcher) stands for the source: its host path may be one
    // the sandbox's ids cannot walk (a 0700 directory above it).
    int src = prepared_fd >= 0 ? -1 : open_staging(source, O_PATH);
    if (prepared_fd < 0 && src < 0) return -1;
    int result = 0;
    if (create) {
        struct stat st;
        int probe = open_staging(target, O_PATH);
        if (probe >= 0) close(probe);
        else if (errno != ENOENT || fstat(src >= 0 ? src : prepared_fd, &st) < 0 ||
                 create_in_root(target, !S_ISDIR(st.st_mode), 0755) < 0)
            result = -1;
    }
    int dst = result == 0 ? open_staging(target, O_PATH) : -1;
    if (dst >= 0) {
        result = prepared_fd >= 0
            ? (int)syscall(SYS_move_mount, prepared_fd, "", dst, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
            : attach_bind(src, dst, attr, recursive);
        int saved = errno;
        close(dst);
        errno = saved;
    } else {
        result = -1;
    }
    int saved = errno;
    if (src >= 0) close(src);
    errno = saved;
    return result;
}

/// A new file system (tmpfs, proc, sysfs, devpts) on the directory `target` resolves to:
/// mount(2) on "." after fchdir to the resolved fd, so the path is never walked again.
static int mount_fs_at(const char *source, const char *target, const char *type, unsigned long flags, const char *data) {
    int dir = open_staging(target, O_PATH | O_DIRECTORY);
    if (dir < 0) return -1;
    int result = fchdir(dir);
    if (result == 0) result = mount(source, ".", type, flags, data);
    int saved = errno;
    close(dir);
    if (chdir("/") < 0 && result == 0) return -1;
    errno = saved;
    return result;
}

static int readonly_at(const char *target, int recursive) {
    int fd = open_staging(target, O_PATH);
    if (fd < 0) return -1;
    int result = set_attributes(fd, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, recursive);
    int saved = errno;
    close(fd);
    errno = saved;
    return result;
}

/// An empty read-only tmpfs attached on `target_fd` with the new mount API: no fchdir into the
/// target, which the sandbox's root may not search (a 0700 directory of the host's root, which
/// is exactly what gets masked).
static int empty_tmpfs_on(int target_fd) {
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int result = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "0", 0);
    if (result == 0) result = (int)syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0555", 0);
    if (result == 0) result = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int mnt = result == 0 ? (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                                         MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC) : -1;
    int saved = errno;
    close(fs);
    if (mnt < 0) { errno = saved; return -1; }
    result = (int)syscall(SYS_move_mount, mnt, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
    saved = errno;
    close(mnt);
    errno = saved;
    return result;
}

/// Hides `target`: an empty read-only tmpfs over a directory, `source` (/dev/null) over a file.
static int mask_at(const struct sbx_mount_op *op) {
    int fd = open_staging(op->target, O_PATH);
    if (fd < 0) return -1;
    struct stat st;
    int result = fstat(fd, &st);
    if (result == 0 && S_ISDIR(st.st_mode)) result = empty_tmpfs_on(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    if (result < 0 || S_ISDIR(st.st_mode)) return result;
    // No nodev: the mask is the device /dev/null, read as empty.
    return bind_paths(op->source, op->target, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, 0, 0, -1);
}

static int make_symlink(const char *link_text, const char *path) {
    const char *inner = inside_root(path);
    if (inner == NULL) { errno = EXDEV; return -1; }
    char parent[PATH_MAX];
    size_t len = copy_path(parent, sizeof parent, inner);
    if (len == 0) { errno = ENAMETOOLONG; return -1; }
    while (len > 1 && parent[len - 1] != '/') len--;
    const char *name = inner + len;
    parent[len > 1 ? len - 1 : 1] = '\0';
    int dir = open_staging(NEW_ROOT, O_PATH | O_DIRECTORY);
    if (dir < 0) return -1;
    int pfd = open_in_root(dir, parent, O_PATH | O_DIRECTORY);
    close(dir);
    if (pfd < 0) return -1;
    int result = symlinkat(link_text, pfd, name);
    close(pfd);
    return (result < 0 && errno != EEXIST) ? -1 : 0;
}

static int sysfs_at(const struct sbx_mount_op *op) {
    if (mount_fs_at("sysfs", op->target, "sysfs", op->flags | MS_RDONLY, NULL) == 0) return 0;
    // sysfs may only be mounted by the owner of the network namespace (--net=host in a
    // user namespace): show the host's, read-only.
    // EBUSY: the host's netns (--net=host) already has a read-write sysfs superblock.
    if (errno != EPERM && errno != EACCES && errno != EBUSY) return -1;
    // As root the launcher prepared the host's /sys alone, without the mounts below it
    // (cgroup, debugfs, securityfs, bpf, ...), read-only (sbx_open_readonly_tree). Rootless,
    // only a recursive bind is allowed: the submounts are locked to it.
    return bind_paths(op->source, op->target, mount_attributes(op->flags, 1), 1, 0, op->source_fd);
}

/// A writable root whose writes are discarded: `source` (or the prepared, idmapped tree) bound
/// read-only at /lowerroot of the staging tmpfs, a tmpfs (options `data`, its size bound) at
/// /upperroot for the writes, and an overlay of the two on `target` (the new root). Both stay
/// out of the app's sight: the final pivot_root drops the staging tmpfs with the host tree.
static int overlay_root(const struct sbx_mount_op *op) {
    if (mkdir("/lowerroot", 0755) < 0 || mkdir("/upperroot", 0755) < 0) return -1;
    if (bind_paths(op->source, "/lowerroot", mount_attributes(op->flags, 1), 1, 0, op->source_fd) < 0) return -1;
    if (mount("tmpfs", "/upperroot", "tmpfs", MS_NOSUID | MS_NODEV, op->data) < 0) return -1;
    if (mkdir("/upperroot/data", 0755) < 0 || mkdir("/upperroot/work", 0755) < 0) return -1;
    // userxattr: in a user namespace overlayfs may not use trusted.* xattrs (Linux 5.11).
    const char *layers = "lowerdir=/lowerroot,upperdir=/upperroot/data,workdir=/upperroot/work,userxattr";
    if (mount_fs_at("overlay", op->target, "overlay", op->flags, layers) == 0) return 0;
    if (errno != EINVAL) return -1;
    // Not in a user namespace (--userns host): the option is refused, and not needed.
    return mount_fs_at("overlay", op->target, "overlay", op->flags,
                       "lowerdir=/lowerroot,upperdir=/upperroot/data,workdir=/upperroot/work");
}

int sbx_run_mount_op(const struct sbx_mount_op *op) {
    switch (op->kind) {
    case SBX_MOUNT_BIND:
        return bind_paths(op->source, op->target, mount_attributes(op->flags, op->readonly), op->recursive,
                          op->create_target, op->source_fd);
    case SBX_MOUNT_TMPFS: return mount_fs_at("tmpfs", op->target, "tmpfs", op->flags, op->data);
    case SBX_MOUNT_PROC: return mount_fs_at("proc", op->target, "proc", op->flags, NULL);
    case SBX_MOUNT_SYSFS: return sysfs_at(op);
    case SBX_MOUNT_DEVPTS: return mount_fs_at("devpts", op->target, "devpts", op->flags, op->data);
    case SBX_MOUNT_MKDIR: return create_in_root(op->target, 0, op->mode);
    case SBX_MOUNT_MKFILE: return create_in_root(op->target, 1, 0644);
    case SBX_MOUNT_SYMLINK: return make_symlink(op->source, op->target);
    case SBX_MOUNT_READONLY: return readonly_at(op->target, op->recursive);
    case SBX_MOUNT_MASK: return mask_at(op);
    case SBX_MOUNT_CGROUP: return mount_fs_at(op->source, op->target, op->source, op->flags | MS_RDONLY, op->data);
    case SBX_MOUNT_OVERLAY_ROOT: return overlay_root(op);
    default: errno = EINVAL; return -1;
    }
}

const char *sbx_mount_step_name(int kind) {
    switch (kind) {
    case SBX_MOUNT_BIND: return "bind mount";
    case SBX_MOUNT_TMPFS: return "mount tmpfs";
    case SBX_MOUNT_PROC: return "mount proc";
    case SBX_MOUNT_SYSFS: return "mount sysfs";
    case SBX_MOUNT_DEVPTS: return "mount devpts";
    case SBX_MOUNT_MKDIR: return "mkdir";
    case SBX_MOUNT_MKFILE: return "create mount point";
    case SBX_MOUNT_SYMLINK: return "symlink";
    case SBX_MOUNT_READONLY: return "remount read-only";
    case SBX_MOUNT_MASK: return "mask path";
    case SBX_MOUNT_CGROUP: return "mount the cgroup view";
    case SBX_MOUNT_OVERLAY_ROOT: return "mount the writable root (overlay)";
    default: return "mount step";
    }
}
