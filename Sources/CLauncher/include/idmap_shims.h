#ifndef SBX_IDMAP_SHIMS_H
#define SBX_IDMAP_SHIMS_H

/// A user namespace that exists only to carry an id mapping: a throwaway child is cloned into
/// a new user namespace, the maps are written, its namespace is opened, and the child is
/// reaped. Returns the namespace's fd (O_CLOEXEC), or -1 with errno. Needs the privilege to
/// write arbitrary maps (root in the caller's user namespace).
int sbx_mapping_user_namespace(const char *uid_map, const char *gid_map);

/// A detached copy of the mount tree at `path` (open_tree OPEN_TREE_CLONE, recursive where the
/// kernel allows it) whose ids are mapped through `userns_fd` (MOUNT_ATTR_IDMAP), nosuid,
/// nodev, and read-only when `readonly`. The child path attaches it with move_mount. Returns
/// the mount's fd (O_CLOEXEC), or -1 with errno (EINVAL: the file system cannot be idmapped).
int sbx_open_idmapped_tree(const char *path, int userns_fd, int readonly);

/// A detached recursive copy of the mounts at `path`, nosuid and nodev, not idmapped: a
/// writable root the sandbox's ids could not reach on their own (an engine's overlay under a
/// 0700 directory). Returns the fd (O_CLOEXEC), or -1 with errno.
int sbx_open_plain_tree(const char *path);

/// A detached copy of the one mount at `path`, without the mounts below it, read-only, nosuid,
/// nodev, noexec: the host's /sys for `--net=host` (a fresh sysfs needs the network namespace's
/// owner). Returns the mount's fd (O_CLOEXEC), or -1 with errno. Needs root.
int sbx_open_readonly_tree(const char *path);

#endif
