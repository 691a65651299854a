// Shims for the fd-based link endpoint (FDBased). Filled by the FDBased work.
#ifndef CSHIMS_PACKET_H
#define CSHIMS_PACKET_H
#endif
