#include "lib/ksyms.h"

bool ksyms_find(const struct ksyms_table *t, uint64_t addr, const char **name, uint64_t *off)
{
	uint64_t lo = 0, hi = t->count;

	if (!t->count || addr < t->addr[0] || addr >= t->text_end)
		return false;
	/* last symbol whose address is <= addr */
	while (hi - lo > 1) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (t->addr[mid] <= addr)
			lo = mid;
		else
			hi = mid;
	}
	*name = t->names + t->name_off[lo];
	*off = addr - t->addr[lo];
	return true;
}
