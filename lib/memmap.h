/* Physical memory maps as the platforms report them (E820 types), and the one place that
 * turns what a platform says into something the kernel can trust: sorted, non-overlapping,
 * adjacent equal ranges merged, and on overlap the more restrictive type wins. */
#ifndef LIB_MEMMAP_H
#define LIB_MEMMAP_H

#include "lib/compiler.h"

enum mem_type {
	MEM_RAM = 1,
	MEM_RESERVED = 2,
	MEM_ACPI = 3,
	MEM_NVS = 4,
	MEM_UNUSABLE = 5,
};

struct mem_range {
	uint64_t base;
	uint64_t len;
	uint32_t type;
};

#define MEMMAP_MAX 128

/* Normalises map[0..n) in place; returns the new count, -E2BIG when n > MEMMAP_MAX, or
 * -ENOSPC when the result needs more than cap entries, or more than MEMMAP_MAX (the map
 * is then unchanged). */
int memmap_normalise(struct mem_range *map, unsigned n, unsigned cap);
uint64_t memmap_total(const struct mem_range *map, unsigned n, uint32_t type);
/* true when [base, base+len) lies wholly in ranges of `type` (map normalised) */
bool memmap_covers(const struct mem_range *map, unsigned n, uint64_t base, uint64_t len,
		   uint32_t type);
const char *mem_type_name(uint32_t type);

#endif
