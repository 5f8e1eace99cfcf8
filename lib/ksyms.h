/* Address -> "function+offset" for panic backtraces. The table is generated from the
 * kernel's own text symbols by tools/ksyms.sh at link time (sorted by address). */
#ifndef LIB_KSYMS_H
#define LIB_KSYMS_H

#include "lib/compiler.h"

struct ksyms_table {
	uint64_t count;
	const uint64_t *addr;	  /* sorted ascending */
	const uint32_t *name_off; /* offset of each name in names */
	const char *names;
	uint64_t text_end; /* addresses at or past this are not code */
};

/* The symbol containing addr: its name and addr's offset in it; false when addr is
 * outside the text the table covers. */
bool ksyms_find(const struct ksyms_table *t, uint64_t addr, const char **name,
		uint64_t *off);

#endif
