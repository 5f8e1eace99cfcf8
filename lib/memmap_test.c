#include <stdlib.h>
#include <string.h>

#include "lib/errno.h"
#include "lib/memmap.h"
#include "tools/unit/unit.h"

TEST(memmap_sorts_merges_and_resolves_overlap)
{
	struct mem_range m[8] = {
		{ 0x100000, 0x7f00000, MEM_RAM },
		{ 0, 0x9fc00, MEM_RAM },
		{ 0x9fc00, 0x400, MEM_RESERVED },
		{ 0x200000, 0x1000, MEM_RESERVED }, /* a hole punched into RAM */
		{ 0x8000000, 0x100000, MEM_RAM },   /* adjacent: merges */
		{ 0, 0, MEM_RAM },		    /* qboot's all-zero entry */
	};
	int n = memmap_normalise(m, 6, 8);

	CHECK_EQ(n, 5);
	CHECK(m[0].base == 0 && m[0].len == 0x9fc00 && m[0].type == MEM_RAM);
	CHECK(m[1].base == 0x9fc00 && m[1].type == MEM_RESERVED);
	CHECK(m[2].base == 0x100000 && m[2].len == 0x100000 && m[2].type == MEM_RAM);
	CHECK(m[3].base == 0x200000 && m[3].len == 0x1000 && m[3].type == MEM_RESERVED);
	CHECK(m[4].base == 0x201000 && m[4].base + m[4].len == 0x8100000 && m[4].type == MEM_RAM);
	CHECK_EQ(memmap_total(m, n, MEM_RAM), 0x9fc00 + 0x100000 + 0x8100000 - 0x201000);
	CHECK(memmap_covers(m, n, 0x100000, 0x100000, MEM_RAM));
	CHECK(!memmap_covers(m, n, 0x100000, 0x100001, MEM_RAM));
	CHECK(memmap_covers(m, n, 0x300000, 0x1000, MEM_RAM));
	CHECK(memmap_covers(m, n, 0, 0, MEM_RAM));
}

TEST(memmap_limits)
{
	struct mem_range m[MEMMAP_MAX + 1] = { { 0, 100, MEM_RAM }, { 10, 10, MEM_RESERVED } };

	CHECK_EQ(memmap_normalise(m, 2, 2), -ENOSPC); /* becomes three ranges */
	CHECK(m[0].len == 100);			       /* left unchanged */
	CHECK_EQ(memmap_normalise(m, MEMMAP_MAX + 1, MEMMAP_MAX + 1), -E2BIG);
	struct mem_range w[1] = { { UINT64_MAX - 10, 100, MEM_RAM } }; /* wraps */

	CHECK_EQ(memmap_normalise(w, 1, 1), 1);
	CHECK(w[0].base + w[0].len == UINT64_MAX);
	struct mem_range u[2] = { { 0, 10, 77 }, { 0, 10, MEM_NVS } }; /* unknown type wins */

	CHECK_EQ(memmap_normalise(u, 2, 2), 1);
	CHECK_EQ(u[0].type, 77);
}

/* Against a model: a 256-unit address space where each unit's type is decided directly. */
static int rank(uint32_t t)
{
	return t == MEM_RAM ? 0 : t == MEM_ACPI ? 1 : t == MEM_NVS ? 2 : t == MEM_RESERVED ? 3 : 4;
}

TEST(memmap_random_against_model)
{
	srand(7);
	for (int iter = 0; iter < 3000; iter++) {
		struct mem_range m[2 * 12];
		uint32_t model[256] = { 0 };
		int n = rand() % 12;

		for (int i = 0; i < n; i++) {
			uint64_t b = rand() % 256, l = rand() % (257 - b);
			uint32_t t = 1 + rand() % 6;

			m[i] = (struct mem_range){ b, l, t };
			for (uint64_t u = b; u < b + l; u++)
				if (!model[u] || rank(t) > rank(model[u]))
					model[u] = t;
		}
		int r = memmap_normalise(m, n, 2 * 12);

		CHECK(r >= 0);
		if (r < 0)
			return;
		uint32_t got[256] = { 0 };

		for (int i = 0; i < r; i++) {
			CHECK(m[i].len > 0);
			if (i)
				CHECK(m[i - 1].base + m[i - 1].len <= m[i].base);
			if (i && m[i - 1].base + m[i - 1].len == m[i].base)
				CHECK(m[i - 1].type != m[i].type); /* merged when equal */
			for (uint64_t u = m[i].base; u < m[i].base + m[i].len && u < 256; u++)
				got[u] = m[i].type;
		}
		CHECK(memcmp(got, model, sizeof(got)) == 0);
	}
}

/* one RAM range with reserved holes punched in it: 2k + 1 entries from k + 1 ranges. The
 * result never has more than MEMMAP_MAX entries, whatever room the caller offers, and a
 * refusal leaves the map as it was */
TEST(memmap_result_at_most_memmap_max)
{
	static struct mem_range m[MEMMAP_MAX], copy[MEMMAP_MAX];
	unsigned k;

	for (unsigned round = 0; round < 2; round++) {
		k = round ? MEMMAP_MAX - 1 : 63; /* 255 entries, or 127 */
		m[0] = (struct mem_range){ 0, 0x10000000, MEM_RAM };
		for (unsigned i = 0; i < k; i++)
			m[1 + i] = (struct mem_range){ 0x100000 * (i + 1), 0x1000, MEM_RESERVED };
		memcpy(copy, m, sizeof(m[0]) * (k + 1));
		int n = memmap_normalise(m, k + 1, 2 * MEMMAP_MAX);

		if (round) {
			CHECK_EQ(n, -ENOSPC);
			CHECK(!memcmp(copy, m, sizeof(m[0]) * (k + 1)));
		} else {
			CHECK_EQ(n, 2 * 63 + 1);
			CHECK(m[0].base == 0 && m[0].len == 0x100000 && m[0].type == MEM_RAM);
			CHECK(m[1].base == 0x100000 && m[1].len == 0x1000 && m[1].type == MEM_RESERVED);
			CHECK(m[126].base == 0x3f01000 && m[126].type == MEM_RAM);
			CHECK_EQ(m[126].base + m[126].len, 0x10000000);
		}
	}
}
