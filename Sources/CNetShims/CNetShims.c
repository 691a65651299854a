// The shims' implementations live in one .c file per area (packet_shims.c, usernet_shims.c);
// this file only makes the umbrella header part of the target.
#include "CNetShims.h"
