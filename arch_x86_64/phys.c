#include "arch_x86_64/phys.h"

#include "arch_x86_64/arch.h"
#include "arch_x86_64/layout.h"

#define EARLY_RANGES 16

static struct mem_range early[EARLY_RANGES];
static unsigned n_early;
static const void *(*late_map)(uint64_t, size_t);
static void *(*late_mmio)(uint64_t, size_t);

/* the PVH entry's alias: the low 4 GiB at DIRECT_BASE, page 0 too (entry_pvh.S; the Xen
 * PV entry has none) */
static void *boot_alias(uint64_t pa, size_t len)
{
	if (arch != &arch_native || pa + len < pa || pa + len > (4ULL << 30))
		return NULL;
	return (void *)(DIRECT_BASE + pa);
}

const void *phys_map(uint64_t pa, size_t len)
{
	if (late_map)
		return late_map(pa, len);
	void *p = boot_alias(pa, len);

	if (!p)
		return NULL;
	uint64_t lo = ALIGN_DOWN(pa, PAGE_SIZE), hi = ALIGN_UP(pa + len, PAGE_SIZE);

	for (unsigned i = 0; i < n_early; i++) {
		if (lo >= early[i].base && hi <= early[i].base + early[i].len)
			return p;
		if (lo <= early[i].base + early[i].len && hi >= early[i].base) {
			/* touching or overlapping: grow that range */
			uint64_t end = MAX(hi, early[i].base + early[i].len);

			early[i].base = MIN(lo, early[i].base);
			early[i].len = end - early[i].base;
			return p;
		}
	}
	if (n_early == EARLY_RANGES)
		return NULL; /* the memory manager could not keep it mapped */
	early[n_early++] = (struct mem_range){ lo, hi - lo, MEM_RESERVED };
	return p;
}

void *mmio_map(uint64_t pa, size_t len)
{
	return late_mmio ? late_mmio(pa, len) : boot_alias(pa, len);
}

const struct mem_range *phys_early_ranges(unsigned *n)
{
	*n = n_early;
	return early;
}

void phys_set_late(const void *(*map)(uint64_t, size_t), void *(*mmio)(uint64_t, size_t))
{
	late_map = map;
	late_mmio = mmio;
}
