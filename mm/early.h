/* The free physical memory before the frame allocator exists: RAM minus everything in use
 * at boot, whole pages only. Page tables for the first mappings come from here, and what
 * is left seeds the buddy allocator. Pure code. */
#ifndef MM_EARLY_H
#define MM_EARLY_H

#include "lib/memmap.h"

struct early_mem {
	struct mem_range r[MEMMAP_MAX]; /* free, page aligned, sorted */
	unsigned n;
};

/* RAM in mem[] (rounded inward to pages) minus reserved[] (rounded outward). Returns 0 or
 * a negative error when the maps are too fragmented to hold. */
int early_init(struct early_mem *e, const struct mem_range *mem, unsigned nmem,
	       const struct mem_range *reserved, unsigned nres);
/* Takes the lowest free frame for which ok(pfn) holds; -ENOMEM when there is none. */
int64_t early_alloc(struct early_mem *e, bool (*ok)(uint64_t pfn));
/* Takes `count` contiguous free frames, the lowest that fit; -ENOMEM when none do. */
int64_t early_alloc_range(struct early_mem *e, uint64_t count);
uint64_t early_free_frames(const struct early_mem *e);

#endif
