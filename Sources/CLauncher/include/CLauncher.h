// CLauncher: the launcher's C (Sandbox only). The clone-to-exec child path of the sandbox's
// init and of the gateway's process, the mount steps, idmapped trees, and the launcher's small
// helpers around them. Links libcap. No policy: Swift builds every plan as plain data.
#ifndef CLAUNCHER_H
#define CLAUNCHER_H

#include "launcher_spawn.h"  // the sandbox's init: clone, root, identity, seccomp, the program
#include "launcher_shims.h"  // signal forwarding, fd passing, outer netns, pidfds, terminals
#include "idmap_shims.h"     // idmapped volumes for the default user namespace
#include "gateway_shims.h"   // the gateway's confined process (clone, isolation, privileges)

#endif
