// Counts heap allocations made by the whole process, for bench-netstack's "allocations per
// packet" figure. Linking this target defines malloc & co.; they count, then call glibc's own
// allocator through its exported __libc_* entry points (glibc 2.34 removed the malloc hooks).
#pragma once
#include <stdint.h>

/// Allocation calls (malloc, calloc, realloc, memalign family) since process start.
uint64_t malloc_counter_allocations(void);
