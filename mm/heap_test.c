#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mm/heap.h"
#include "mm/mm_test_util.h"
#include "tools/unit/unit.h"

/* A fake machine: an arena of frames, with the arena as the "direct map". */
#define FRAMES 4096
static char *arena;
static struct frame meta[FRAMES];
static struct frame_pool pool;
static struct heap heap;

static void *fva(uint64_t pfn)
{
	return arena + pfn * PAGE_SIZE;
}

static uint64_t vaf(const void *va)
{
	const char *p = va;

	return p >= arena && p < arena + (size_t)FRAMES * PAGE_SIZE ? (p - arena) / PAGE_SIZE :
								       UINT64_MAX;
}

static void setup(uint64_t frames)
{
	if (!arena)
		arena = aligned_alloc(1 << 24, (size_t)FRAMES * PAGE_SIZE);
	frames_init(&pool, meta, FRAMES);
	frames_add_free(&pool, 0, frames);
	heap_init(&heap, &pool, fva, vaf);
}

static uint64_t settle(void)
{
	for (unsigned cpu = 0; cpu < 4; cpu++)
		heap_trim(&heap, cpu);
	frames_drain_caches(&pool);
	return frames_free_count(&pool);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed * 31 + i);
}

static int intact(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != (unsigned char)(seed * 31 + i))
			return 0;
	return 1;
}

TEST(heap_random_stress_against_model)
{
	enum { LIVE = 1500 };
	static struct { unsigned char *p; size_t size; unsigned seed; } live[LIVE];
	int n = 0;

	setup(FRAMES);
	uint64_t start = frames_free_count(&pool);

	srand(11);
	for (int step = 0; step < 60000; step++) {
		unsigned cpu = rand() % 4;

		if (n < LIVE && (rand() % 2 || !n)) {
			size_t size = rand() % 10 ? rand() % 2100 : rand() % 70000;
			size_t align = rand() % 4 ? 0 : 1u << (rand() % 13);
			unsigned char *p = heap_alloc(&heap, cpu, size, align);

			if (!p)
				continue;
			CHECK(((uintptr_t)p & ((align ? align : 16) - 1)) == 0);
			CHECK(heap_size(&heap, p) >= size);
			fill(p, size, step);
			live[n].p = p;
			live[n].size = size;
			live[n++].seed = step;
		} else {
			int k = rand() % n;

			/* every byte still as written: nothing overlapped it */
			CHECK(intact(live[k].p, live[k].size, live[k].seed));
			heap_free(&heap, cpu, live[k].p); /* often not the allocating CPU */
			live[k] = live[--n];
		}
	}
	for (int k = 0; k < n; k++) {
		CHECK(intact(live[k].p, live[k].size, live[k].seed));
		heap_free(&heap, k % 4, live[k].p);
	}
	CHECK(frames_check(&pool) == NULL);
	CHECK_EQ(settle(), start); /* every frame came back */
	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		for (unsigned cpu = 0; cpu < 4; cpu++)
			CHECK_EQ(heap.cpu[cpu].stats[c].objects, 0);
}

TEST(heap_oom_returns_null_and_recovers)
{
	static void *p[100000];
	int n = 0;

	setup(64);
	uint64_t start = frames_free_count(&pool);

	while (n < 100000 && (p[n] = heap_alloc(&heap, 0, 100, 0)))
		n++;
	CHECK(n > 0 && n < 100000);
	CHECK(heap_alloc(&heap, 0, 5000, 0) == NULL);
	CHECK(heap_alloc(&heap, 0, SIZE_MAX, 0) == NULL);
	CHECK(heap_alloc(&heap, 0, 16, 3) == NULL); /* not a power of two */
	CHECK(heap_calloc(&heap, 0, SIZE_MAX / 2, 3) == NULL);
	while (n)
		heap_free(&heap, 0, p[--n]);
	CHECK_EQ(settle(), start);
	unsigned char *z = heap_calloc(&heap, 0, 100, 7);

	CHECK(z != NULL);
	for (int i = 0; z && i < 700; i++)
		CHECK(z[i] == 0);
	heap_free(&heap, 0, z);
	void *zero = heap_alloc(&heap, 0, 0, 0);

	CHECK(zero != NULL && heap_size(&heap, zero) == 16);
	heap_free(&heap, 0, zero);
}

TEST(heap_catches_bad_frees)
{
	int on_stack;

	setup(256);
	char *a = heap_alloc(&heap, 0, 40, 0), *big = heap_alloc(&heap, 0, 20000, 0);

	heap_free(&heap, 0, a);
	CHECK(MM_FAILS(heap_free(&heap, 0, a)) && strstr(mm_test_msg, "double free"));
	CHECK(MM_FAILS(heap_free(&heap, 1, a)) && strstr(mm_test_msg, "double free"));
	CHECK(MM_FAILS(heap_free(&heap, 0, &on_stack)) &&
	      strstr(mm_test_msg, "not allocated by kmalloc"));
	char *b = heap_alloc(&heap, 0, 64, 0);

	CHECK(MM_FAILS(heap_free(&heap, 0, b + 8)) && strstr(mm_test_msg, "not the start"));
	CHECK(MM_FAILS(heap_free(&heap, 0, big + 4096)) && strstr(mm_test_msg, "large"));
	heap_free(&heap, 0, big);
	CHECK(MM_FAILS(heap_free(&heap, 0, big)));
	/* a free frame that never was heap memory */
	CHECK(MM_FAILS(heap_free(&heap, 0, arena + 200 * PAGE_SIZE)));
	heap_free(&heap, 0, NULL);
	heap_free(&heap, 0, b);
}

TEST(heap_objects_are_naturally_aligned)
{
	setup(256);
	for (unsigned size = 1; size <= 2048; size = size * 2 + 1) {
		char *p = heap_alloc(&heap, 0, size, 0);
		unsigned cls = heap_size(&heap, p);

		CHECK(cls >= size && ((uintptr_t)p & (cls - 1)) == 0);
		heap_free(&heap, 0, p);
	}
	void *page = heap_alloc(&heap, 0, 10, 4096);

	CHECK(((uintptr_t)page & 4095) == 0);
	void *huge_align = heap_alloc(&heap, 0, 10, 1 << 20);

	CHECK(((uintptr_t)huge_align & ((1 << 20) - 1)) == 0);
	heap_free(&heap, 0, page);
	heap_free(&heap, 0, huge_align);
}
