// The child path's mount steps (mount_shims.c), private to CLauncher: Swift never calls them.
#ifndef SBX_MOUNT_SHIMS_H
#define SBX_MOUNT_SHIMS_H

#include "launcher_spawn.h"

/// Runs one step of the mount plan; -1 with errno on failure.
int sbx_run_mount_op(const struct sbx_mount_op *op);

/// What a failing step was doing, for the error record ("bind mount", "mkdir", ...).
const char *sbx_mount_step_name(int kind);

#endif
