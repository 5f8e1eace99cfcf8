#include "mm/early.h"

#include "lib/errno.h"

int early_init(struct early_mem *e, const struct mem_range *mem, unsigned nmem,
	       const struct mem_range *reserved, unsigned nres)
{
	struct mem_range all[MEMMAP_MAX];
	unsigned n = 0;

	/* reserved beats RAM in memmap_normalise, so normalising both gives RAM - reserved */
	for (unsigned i = 0; i < nmem && n < MEMMAP_MAX; i++)
		if (mem[i].type == MEM_RAM)
			all[n++] = mem[i];
	for (unsigned i = 0; i < nres && n < MEMMAP_MAX; i++) {
		uint64_t lo = ALIGN_DOWN(reserved[i].base, PAGE_SIZE);
		uint64_t hi = ALIGN_UP(reserved[i].base + reserved[i].len, PAGE_SIZE);

		all[n++] = (struct mem_range){ lo, hi - lo, MEM_RESERVED };
	}
	if (n == MEMMAP_MAX)
		return -E2BIG;
	int m = memmap_normalise(all, n, MEMMAP_MAX);

	if (m < 0)
		return m;
	e->n = 0;
	for (int i = 0; i < m; i++) {
		uint64_t lo = ALIGN_UP(all[i].base, PAGE_SIZE);
		uint64_t hi = ALIGN_DOWN(all[i].base + all[i].len, PAGE_SIZE);

		if (all[i].type == MEM_RAM && hi > lo)
			e->r[e->n++] = (struct mem_range){ lo, hi - lo, MEM_RAM };
	}
	return 0;
}

/* Takes `count` frames from the front of range i. */
static void take(struct early_mem *e, unsigned i, uint64_t count)
{
	struct mem_range *r = &e->r[i];

	r->base += count * PAGE_SIZE;
	r->len -= count * PAGE_SIZE;
	if (!r->len) {
		for (unsigned j = i; j + 1 < e->n; j++)
			e->r[j] = e->r[j + 1];
		e->n--;
	}
}

int64_t early_alloc(struct early_mem *e, bool (*ok)(uint64_t pfn))
{
	for (unsigned i = 0; i < e->n; i++) {
		uint64_t pfn = e->r[i].base / PAGE_SIZE;

		if (ok && !ok(pfn))
			continue;
		take(e, i, 1);
		return (int64_t)pfn;
	}
	return -ENOMEM;
}

int64_t early_alloc_range(struct early_mem *e, uint64_t count)
{
	for (unsigned i = 0; i < e->n; i++) {
		if (e->r[i].len / PAGE_SIZE < count)
			continue;
		uint64_t pfn = e->r[i].base / PAGE_SIZE;

		take(e, i, count);
		return (int64_t)pfn;
	}
	return -ENOMEM;
}

uint64_t early_free_frames(const struct early_mem *e)
{
	return memmap_total(e->r, e->n, MEM_RAM) / PAGE_SIZE;
}
