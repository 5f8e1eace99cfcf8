#include <string.h>

#include "lib/errno.h"
#include "mm/early.h"
#include "tools/unit/unit.h"

static bool below_1m(uint64_t pfn)
{
	return pfn < 256;
}

TEST(early_is_ram_minus_reserved_in_whole_pages)
{
	struct early_mem e;
	struct mem_range mem[] = {
		{ 0x100000, 0x1f00000, MEM_RAM },
		{ 0, 0x9fc00, MEM_RAM }, /* ends mid-page */
		{ 0x9fc00, 0x400, MEM_RESERVED },
		{ 0xfeff8000, 0x8000, MEM_RESERVED },
	};
	struct mem_range res[] = {
		{ 0x100000, 0x23456, MEM_RESERVED }, /* kernel, ends mid-page */
		{ 0x1000000, 10, MEM_RESERVED },     /* a module */
	};

	CHECK_EQ(early_init(&e, mem, 4, res, 2), 0);
	CHECK_EQ(e.n, 3);
	CHECK(e.r[0].base == 0 && e.r[0].len == 0x9f000);
	CHECK(e.r[1].base == 0x124000 && e.r[1].base + e.r[1].len == 0x1000000);
	CHECK(e.r[2].base == 0x1001000 && e.r[2].base + e.r[2].len == 0x2000000);
	uint64_t before = early_free_frames(&e);

	CHECK_EQ(early_alloc(&e, NULL), 0);
	CHECK_EQ(early_alloc(&e, below_1m), 1);
	CHECK_EQ(early_alloc_range(&e, 0x200), 0x124); /* the first range is too small */
	CHECK_EQ(early_free_frames(&e), before - 2 - 0x200);
	CHECK_EQ(early_alloc_range(&e, 1ull << 30), -ENOMEM);
}

TEST(early_runs_dry)
{
	struct early_mem e;
	struct mem_range mem[] = { { 0x2000, 0x2000, MEM_RAM } };

	CHECK_EQ(early_init(&e, mem, 1, NULL, 0), 0);
	CHECK_EQ(early_alloc(&e, NULL), 2);
	CHECK_EQ(early_alloc(&e, below_1m), 3);
	CHECK_EQ(early_alloc(&e, NULL), -ENOMEM);
	CHECK_EQ(e.n, 0);
}
