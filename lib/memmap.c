#include "lib/memmap.h"

#include "lib/errno.h"

/* Which type wins where ranges overlap: anything beats RAM; unknown types count as the
 * most restrictive, because memory we do not understand must not be handed out. */
static int rank(uint32_t type)
{
	switch (type) {
	case MEM_RAM:
		return 0;
	case MEM_ACPI:
		return 1;
	case MEM_NVS:
		return 2;
	case MEM_RESERVED:
		return 3;
	default:
		return 4;
	}
}

static uint64_t end_of(const struct mem_range *r)
{
	return r->base + r->len < r->base ? UINT64_MAX : r->base + r->len;
}

int memmap_normalise(struct mem_range *map, unsigned n, unsigned cap)
{
	uint64_t bound[2 * MEMMAP_MAX];
	struct mem_range out[2 * MEMMAP_MAX];
	unsigned nb = 0, no = 0;

	if (n > MEMMAP_MAX)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		if (!map[i].len)
			continue;
		bound[nb++] = map[i].base;
		bound[nb++] = end_of(&map[i]);
	}
	/* insertion sort, then drop duplicates */
	for (unsigned i = 1; i < nb; i++) {
		uint64_t v = bound[i];
		unsigned j = i;

		for (; j > 0 && bound[j - 1] > v; j--)
			bound[j] = bound[j - 1];
		bound[j] = v;
	}
	unsigned u = 0;

	for (unsigned i = 0; i < nb; i++)
		if (u == 0 || bound[u - 1] != bound[i])
			bound[u++] = bound[i];

	for (unsigned i = 0; i + 1 < u; i++) {
		uint64_t lo = bound[i], hi = bound[i + 1];
		int best = -1;
		uint32_t type = 0;

		for (unsigned k = 0; k < n; k++) {
			if (!map[k].len || map[k].base > lo || end_of(&map[k]) < hi)
				continue;
			if (rank(map[k].type) > best) {
				best = rank(map[k].type);
				type = map[k].type;
			}
		}
		if (best < 0)
			continue; /* a hole */
		if (no && out[no - 1].type == type && end_of(&out[no - 1]) == lo) {
			out[no - 1].len += hi - lo;
			continue;
		}
		out[no++] = (struct mem_range){ lo, hi - lo, type };
	}
	if (no > cap)
		return -ENOSPC;
	for (unsigned i = 0; i < no; i++)
		map[i] = out[i];
	return (int)no;
}

uint64_t memmap_total(const struct mem_range *map, unsigned n, uint32_t type)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < n; i++)
		if (map[i].type == type)
			sum += map[i].len;
	return sum;
}

bool memmap_covers(const struct mem_range *map, unsigned n, uint64_t base, uint64_t len,
		   uint32_t type)
{
	uint64_t end = base + len;

	if (end < base)
		return false;
	/* ranges are sorted and merged, so a covered interval lies in consecutive ranges */
	for (unsigned i = 0; i < n && base < end; i++) {
		if (map[i].type != type || end_of(&map[i]) <= base)
			continue;
		if (map[i].base > base)
			return false;
		base = end_of(&map[i]);
	}
	return base >= end;
}

const char *mem_type_name(uint32_t type)
{
	switch (type) {
	case MEM_RAM:
		return "ram";
	case MEM_RESERVED:
		return "reserved";
	case MEM_ACPI:
		return "acpi";
	case MEM_NVS:
		return "nvs";
	case MEM_UNUSABLE:
		return "unusable";
	default:
		return "unknown";
	}
}
