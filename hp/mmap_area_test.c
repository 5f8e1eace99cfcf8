#include "hp/mmap_area.h"
#include "tools/unit/unit.h"

#define P 4096ull

TEST(mmap_area_failed_take_gives_back)
{
	struct mmap_area m;

	mmap_area_init(&m, 100 * P, 200 * P);
	uint64_t a = mmap_area_take(&m, 10 * P);

	CHECK_EQ(a, 190 * P);
	/* a map that fails (out of memory) leaves the area as it was */
	uint64_t b = mmap_area_take(&m, 50 * P);

	CHECK_EQ(b, 140 * P);
	mmap_area_give(&m, b, 50 * P);
	CHECK_EQ(m.low, 190 * P);
	/* so many failed large maps never use the area up */
	for (int i = 0; i < 100; i++) {
		uint64_t x = mmap_area_take(&m, 80 * P);

		CHECK_EQ(x, 110 * P);
		mmap_area_give(&m, x, 80 * P);
	}
	CHECK_EQ(mmap_area_take(&m, 91 * P), 0); /* more than is left */
	CHECK_EQ(m.low, 190 * P);
}

TEST(mmap_area_reuses_the_low_hole)
{
	struct mmap_area m;

	mmap_area_init(&m, 100 * P, 200 * P);
	uint64_t a = mmap_area_take(&m, 10 * P), b = mmap_area_take(&m, 10 * P),
		 c = mmap_area_take(&m, 10 * P);

	CHECK(a == 190 * P && b == 180 * P && c == 170 * P);
	mmap_area_give(&m, b, 10 * P); /* a hole above the low end stays a hole */
	CHECK_EQ(m.low, 170 * P);
	mmap_area_give(&m, c, 10 * P); /* the lowest: its space is taken again */
	CHECK_EQ(m.low, 180 * P);
	CHECK_EQ(mmap_area_take(&m, 10 * P), 170 * P);
	/* an unmap covering the low end and more moves it past all of it, never past top */
	mmap_area_give(&m, 150 * P, 100 * P);
	CHECK_EQ(m.low, 200 * P);
	/* unmaps that miss the low end, or wrap, change nothing */
	mmap_area_take(&m, 10 * P);
	mmap_area_give(&m, 100 * P, 10 * P);
	mmap_area_give(&m, 195 * P, -(195 * P));
	CHECK_EQ(m.low, 190 * P);
}
