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

/* The least range boundary (a base or an end) above `after`, or at it when `at` is true;
 * false when there is none. The boundaries are walked this way rather than sorted into
 * an array: n is small, and the kernel's stack is not (3 KiB less of it). */
static bool next_bound(const struct mem_range *map, unsigned n, uint64_t after, bool at,
		       uint64_t *v)
{
	bool found = false;

	for (unsigned i = 0; i < n; i++) {
		if (!map[i].len)
			continue;
		uint64_t b[2] = { map[i].base, end_of(&map[i]) };

		for (unsigned k = 0; k < 2; k++) {
			if ((b[k] > after || (at && b[k] == after)) && (!found || b[k] < *v)) {
				*v = b[k];
				found = true;
			}
		}
	}
	return found;
}

int memmap_normalise(struct mem_range *map, unsigned n, unsigned cap)
{
	/* built apart: every interval's type comes from the whole input. No caller holds
	 * more than MEMMAP_MAX entries, so no more are made (3 KiB of stack). */
	struct mem_range out[MEMMAP_MAX];
	unsigned no = 0;
	uint64_t lo, hi;

	if (n > MEMMAP_MAX)
		return -E2BIG;
	if (cap > MEMMAP_MAX)
		cap = MEMMAP_MAX;
	/* each interval between consecutive boundaries gets the most restrictive type of the
	 * ranges that cover it, or is a hole */
	for (bool more = next_bound(map, n, 0, true, &lo); more && next_bound(map, n, lo, false, &hi);
	     lo = hi) {
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
		if (no == cap)
			return -ENOSPC; /* map untouched */
		out[no++] = (struct mem_range){ lo, hi - lo, type };
	}
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
