/* Reading physical memory, before and after the memory manager. On Xen PV nothing outside
 * the kernel's own area is readable before it. */
#ifndef ARCH_PHYS_H
#define ARCH_PHYS_H

#include "lib/compiler.h"

#include "lib/memmap.h"

/* A readable pointer to [pa, pa+len) of memory the firmware or hypervisor describes (ACPI
 * tables, shared pages), or NULL. Before the memory manager runs this is the PVH entry's
 * alias of the low 4 GiB at DIRECT_BASE, and the ranges read are recorded so that the
 * direct map keeps them; after, the memory manager answers. */
const void *phys_map(uint64_t pa, size_t len);
/* Device registers, uncached: before the memory manager, the same boot alias (not
 * recorded); after, mm_map_mmio. */
void *mmio_map(uint64_t pa, size_t len);
/* the ranges phys_map handed out before the memory manager */
const struct mem_range *phys_early_ranges(unsigned *n);
/* the memory manager takes over both (dependency inversion: arch never calls up) */
void phys_set_late(const void *(*map)(uint64_t, size_t), void *(*mmio)(uint64_t, size_t));

#endif
