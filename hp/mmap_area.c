#include "hp/mmap_area.h"

void mmap_area_init(struct mmap_area *m, uint64_t floor, uint64_t top)
{
	*m = (struct mmap_area){ .floor = floor, .top = top, .low = top };
}

uint64_t mmap_area_take(struct mmap_area *m, uint64_t len)
{
	if (!len || m->low - m->floor < len)
		return 0;
	m->low -= len;
	return m->low;
}

void mmap_area_give(struct mmap_area *m, uint64_t va, uint64_t len)
{
	/* only a range that holds the low end moves it: everything between the old low end
	 * and va + len was handed out by takes and is now given back, and nothing above
	 * va + len is known to be free (a PROT_NONE reservation is unmapped but taken) */
	if (va <= m->low && m->low < va + len && va + len > va)
		m->low = va + len < m->top ? va + len : m->top;
}
