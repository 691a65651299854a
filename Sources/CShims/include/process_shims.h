// Shims for the launcher (Sandbox). Filled by the launcher work.
#ifndef CSHIMS_PROCESS_H
#define CSHIMS_PROCESS_H
#endif
