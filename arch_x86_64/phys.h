/* Reading physical memory. Until the memory manager builds the direct map, this is the
 * PVH entry's identity map of the first 4 GiB (page 0 left out); on Xen PV only the
 * bootstrap mapping exists, so nothing outside the kernel's area can be read. */
#ifndef ARCH_PHYS_H
#define ARCH_PHYS_H

#include "lib/compiler.h"

/* A readable pointer to [pa, pa+len), or NULL when that range is not mapped. */
const void *phys_map(uint64_t pa, size_t len);

#endif
