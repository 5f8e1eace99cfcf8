/* lib/memmap.c: memmap_normalise on an arbitrary map (what a platform reports), checked
 * against its contract: sorted, non-overlapping, merged, and at every point the type of
 * the most restrictive input range there (or a hole). memmap_covers and memmap_total are
 * checked against the result. Input: a capacity byte, then 17-byte ranges (base, length,
 * type); then the queries. */
#include "fuzz/fuzz.h"
#include "lib/errno.h"
#include "lib/memmap.h"

#define IN_MAX (MEMMAP_MAX + 2)

static int rank(uint32_t t)
{
	return t == MEM_RAM ? 0 : t == MEM_ACPI ? 1 : t == MEM_NVS ? 2 : t == MEM_RESERVED ? 3 : 4;
}

static uint64_t end_of(const struct mem_range *r)
{
	return r->base + r->len < r->base ? UINT64_MAX : r->base + r->len;
}

/* what the input says is at point p: the type of highest rank, which the first such
 * range gives; 0 for a hole */
FUZZ_NOCOV static uint32_t type_in(const struct mem_range *m, unsigned n, uint64_t p)
{
	int best = -1;
	uint32_t type = 0;

	for (unsigned i = 0; i < n; i++)
		if (m[i].len && m[i].base <= p && p < end_of(&m[i]) && rank(m[i].type) > best) {
			best = rank(m[i].type);
			type = m[i].type;
		}
	return type;
}

/* and what the normalised map says; ranges there never have type 0 unless given it */
FUZZ_NOCOV static int type_out(const struct mem_range *m, unsigned n, uint64_t p, uint32_t *type)
{
	for (unsigned i = 0; i < n; i++)
		if (m[i].base <= p && p < end_of(&m[i])) {
			*type = m[i].type;
			return 1;
		}
	return 0;
}

/* one type at p in both: the input's choice, or a hole in both */
FUZZ_NOCOV static void check_point(const struct mem_range *in, unsigned n,
				   const struct mem_range *out, unsigned no, uint64_t p)
{
	uint32_t t = 0;
	int hit = type_out(out, no, p, &t);
	int best = -1;

	for (unsigned i = 0; i < n; i++)
		if (in[i].len && in[i].base <= p && p < end_of(&in[i]))
			best = rank(in[i].type) > best ? rank(in[i].type) : best;
	FUZZ_CHECK(hit == (best >= 0));
	if (hit)
		FUZZ_CHECK(rank(t) == best && t == type_in(in, n, p));
}

FUZZ_NOCOV static bool covered_at(const struct mem_range *m, unsigned n, uint64_t p, uint32_t type)
{
	uint32_t t;

	return type_out(m, n, p, &t) && t == type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct mem_range in[IN_MAX], map[IN_MAX];
	struct fz f = {data, size};
	unsigned cap = fz_u8(&f) % (MEMMAP_MAX + 8);
	unsigned n = fz_u8(&f) % (IN_MAX + 1);

	for (unsigned i = 0; i < n; i++) {
		in[i].base = fz_u64(&f);
		in[i].len = fz_u64(&f);
		/* mostly known types, sometimes anything (the PVH map's type is 32 bits) */
		uint8_t t = fz_u8(&f);

		in[i].type = t < 0xf0 ? t % 6 : fz_u32(&f);
	}
	memcpy(map, in, sizeof(in[0]) * n);
	int no = memmap_normalise(map, n, cap);

	if (n > MEMMAP_MAX) {
		FUZZ_CHECK(no == -E2BIG);
		return 0;
	}
	if (no == -ENOSPC) {
		FUZZ_CHECK(!memcmp(map, in, sizeof(in[0]) * n)); /* unchanged */
		return 0;
	}
	FUZZ_CHECK(no >= 0 && (unsigned)no <= cap);
	for (int i = 0; i < no; i++) {
		FUZZ_CHECK(map[i].len > 0 && map[i].base + map[i].len - 1 >= map[i].base);
		if (i) {
			/* sorted, apart, and merged where equal and touching */
			FUZZ_CHECK(map[i - 1].base + map[i - 1].len <= map[i].base);
			FUZZ_CHECK(map[i - 1].base + map[i - 1].len != map[i].base ||
				   map[i - 1].type != map[i].type);
		}
	}
	/* the type changes only at input boundaries: checking at each of them, and just
	 * before, checks everywhere */
	for (unsigned i = 0; i < n; i++) {
		uint64_t pts[4] = {in[i].base, in[i].base - 1, end_of(&in[i]), end_of(&in[i]) - 1};

		for (unsigned k = 0; k < 4; k++)
			check_point(in, n, map, (unsigned)no, pts[k]);
	}
	for (uint32_t t = 0; t < 6; t++) {
		uint64_t sum = 0;

		for (int i = 0; i < no; i++)
			sum += map[i].type == t ? map[i].len : 0;
		FUZZ_CHECK(memmap_total(map, (unsigned)no, t) == sum);
	}
	/* queries: covered means every point has the type; since the map only changes at its
	 * range boundaries, it is enough to look at the start and at each boundary inside */
	while (f.n) {
		uint64_t base = fz_u64(&f), len = fz_u64(&f) >> (fz_u8(&f) % 64);
		uint32_t type = fz_u8(&f) % 6;
		bool got = memmap_covers(map, (unsigned)no, base, len, type);
		bool want = base + len >= base;

		if (want && len) {
			want = covered_at(map, (unsigned)no, base, type);
			for (int i = 0; i < no && want; i++) {
				uint64_t e = end_of(&map[i]);

				if (e > base && e < base + len)
					want = covered_at(map, (unsigned)no, e, type);
			}
		}
		FUZZ_CHECK(got == want);
	}
	return 0;
}
