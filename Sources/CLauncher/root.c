// The sandbox's root, built by init: a staging tmpfs holding /newroot and /oldroot (the host),
// the mount plan's steps (mount_shims.c), then the final pivot_root that drops the host tree.
#define _GNU_SOURCE
#include "child_path.h"
#include "mount_shims.h"

#include <errno.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/// The host tree stays reachable as /oldroot until the final pivot_root, then is detached.
void sbx_setup_root(const struct sbx_spawn_config *c, int error_fd) {
    char newroot[PATH_MAX], oldroot[PATH_MAX];
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) sbx_fail(error_fd, errno, 0, "make / private", "/");
    if (mount("tmpfs", c->stage_dir, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") < 0)
        sbx_fail(error_fd, errno, 0, "mount staging tmpfs", c->stage_dir);
    size_t n = sbx_bounded_copy(newroot, sizeof newroot, c->stage_dir);
    sbx_bounded_copy(newroot + n, sizeof newroot - n, "/newroot");
    n = sbx_bounded_copy(oldroot, sizeof oldroot, c->stage_dir);
    sbx_bounded_copy(oldroot + n, sizeof oldroot - n, "/oldroot");
    if (mkdir(newroot, 0755) < 0) sbx_fail(error_fd, errno, 0, "mkdir", newroot);
    if (mkdir(oldroot, 0755) < 0) sbx_fail(error_fd, errno, 0, "mkdir", oldroot);
    if (syscall(SYS_pivot_root, c->stage_dir, oldroot) < 0) sbx_fail(error_fd, errno, 0, "pivot_root to staging", c->stage_dir);
    if (chdir("/") < 0) sbx_fail(error_fd, errno, 0, "chdir", "/");

    for (uint32_t i = 0; i < c->mount_count; i++) {
        const struct sbx_mount_op *op = &c->mounts[i];
        if (sbx_run_mount_op(op) < 0) {
            if (op->optional && errno == ENOENT) continue;
            sbx_fail(error_fd, errno, 0, sbx_mount_step_name(op->kind), op->target);
        }
    }

    // pivot_root(".", ".") stacks the old root on top of the new one; detaching "." then
    // drops the whole host tree from this mount namespace.
    if (chdir("/newroot") < 0) sbx_fail(error_fd, errno, 0, "chdir", "/newroot");
    if (syscall(SYS_pivot_root, ".", ".") < 0) sbx_fail(error_fd, errno, 0, "pivot_root", "/newroot");
    if (umount2(".", MNT_DETACH) < 0) sbx_fail(error_fd, errno, 0, "detach old root", "/");
    if (chdir("/") < 0) sbx_fail(error_fd, errno, 0, "chdir", "/");
}
