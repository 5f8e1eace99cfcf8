#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/errno.h"
#include "mm/frame.h"
#include "mm/mm_test_util.h"
#include "tools/unit/unit.h"

jmp_buf mm_test_jump;
char mm_test_msg[256];
int mm_test_armed;

static void test_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(mm_test_msg, sizeof(mm_test_msg), fmt, ap);
	va_end(ap);
	if (!mm_test_armed) {
		printf("  unexpected mm_fail: %s\n", mm_test_msg);
		abort();
	}
	longjmp(mm_test_jump, 1);
}

void (*mm_fail)(const char *fmt, ...) = test_fail;

#define N 5000
static struct frame meta[N];
static struct frame_pool pool;

/* frames 0-99 reserved, a hole at 1000-1099, an odd-sized tail */
static void setup(void)
{
	frames_init(&pool, meta, N);
	frames_add_free(&pool, 100, 900);
	frames_add_free(&pool, 1100, N - 1100 - 3);
}

TEST(frames_add_free_builds_aligned_blocks)
{
	setup();
	CHECK(frames_check(&pool) == NULL);
	CHECK_EQ(frames_free_count(&pool), 900 + N - 1100 - 3);
	CHECK_EQ(pool.nusable, frames_free_count(&pool));
	CHECK(pool.head[FRAME_MAX_ORDER] == FRAME_NONE); /* no 4096-aligned run of 4096 */
	CHECK(pool.head[11] != FRAME_NONE);		 /* 2048-4095 */
}

TEST(frames_random_against_model)
{
	static int owner[N]; /* 0 free, else 1 + index of the live block */
	static struct { int64_t pfn; unsigned order; } live[4000];
	int nlive = 0;

	setup();
	memset(owner, 0, sizeof(owner));
	srand(3);
	for (int step = 0; step < 40000; step++) {
		if (nlive < 4000 && (rand() % 3 || !nlive)) {
			unsigned order = rand() % 8 ? rand() % 3 : rand() % (FRAME_MAX_ORDER + 1);
			int64_t pfn = frames_alloc(&pool, order);

			if (pfn < 0) {
				CHECK_EQ(pfn, -ENOMEM);
				continue;
			}
			CHECK((pfn & ((1 << order) - 1)) == 0);
			for (uint64_t i = 0; i < (1u << order); i++) {
				CHECK(pfn + i >= 100 && (pfn + i < 1000 || pfn + i >= 1100) &&
				      pfn + i < N - 3);
				CHECK(owner[pfn + i] == 0);
				owner[pfn + i] = nlive + 1;
			}
			live[nlive].pfn = pfn;
			live[nlive++].order = order;
		} else {
			int k = rand() % nlive;

			for (uint64_t i = 0; i < (1u << live[k].order); i++)
				owner[live[k].pfn + i] = 0;
			frames_free(&pool, live[k].pfn, live[k].order);
			live[k] = live[--nlive];
			if (k < nlive) /* the last block moved into slot k */
				for (uint64_t i = 0; i < (1u << live[k].order); i++)
					owner[live[k].pfn + i] = k + 1;
		}
		if (step % 1000 == 0) {
			const char *bad = frames_check(&pool);

			CHECK(bad == NULL);
			if (bad)
				printf("  %s\n", bad);
		}
	}
	while (nlive)
		frames_free(&pool, live[nlive - 1].pfn, live[nlive - 1].order), nlive--;
	CHECK(frames_check(&pool) == NULL);
	CHECK_EQ(frames_free_count(&pool), pool.nusable);
	/* everything merged back: the same blocks as right after setup */
	struct frame_pool fresh;
	static struct frame meta2[N];

	frames_init(&fresh, meta2, N);
	frames_add_free(&fresh, 100, 900);
	frames_add_free(&fresh, 1100, N - 1100 - 3);
	for (unsigned o = 0; o <= FRAME_MAX_ORDER; o++)
		CHECK_EQ(pool.head[o] == FRAME_NONE, fresh.head[o] == FRAME_NONE);
}

TEST(frames_oom_and_fragmentation)
{
	static int64_t got[N];
	uint64_t n = 0, total;

	setup();
	total = frames_free_count(&pool);
	while ((got[n] = frames_alloc(&pool, 0)) >= 0)
		n++;
	CHECK_EQ(n, total);
	CHECK_EQ(frames_alloc(&pool, 0), -ENOMEM);
	CHECK_EQ(frames_alloc(&pool, FRAME_MAX_ORDER + 1), -ENOMEM);
	for (uint64_t i = 0; i < n; i += 2)
		frames_free(&pool, got[i], 0);
	/* half the memory is free, but no two free frames are neighbours */
	CHECK_EQ(frames_alloc(&pool, 1), -ENOMEM);
	CHECK(frames_check(&pool) == NULL);
	for (uint64_t i = 1; i < n; i += 2)
		frames_free(&pool, got[i], 0);
	CHECK_EQ(frames_free_count(&pool), total);
	CHECK(frames_alloc(&pool, 10) >= 0);
}

TEST(frames_catch_bad_frees)
{
	setup();
	int64_t a = frames_alloc(&pool, 2);

	CHECK(MM_FAILS(frames_free(&pool, a, 1)) && strstr(mm_test_msg, "order 2, freed with order 1"));
	frames_free(&pool, a, 2);
	CHECK(MM_FAILS(frames_free(&pool, a, 2)) && strstr(mm_test_msg, "double free"));
	CHECK(MM_FAILS(frames_free(&pool, 5, 0)) && strstr(mm_test_msg, "not allocated"));
	CHECK(MM_FAILS(frames_free(&pool, N + 7, 0)) && strstr(mm_test_msg, "beyond"));
	int64_t b = frames_alloc(&pool, 3);

	CHECK(MM_FAILS(frames_free(&pool, b + 1, 0))); /* a tail, not the block */
	CHECK(MM_FAILS(frames_add_free(&pool, N - 1, 2)));
	frames_free(&pool, b, 3);
	CHECK(frames_check(&pool) == NULL);
}

TEST(frames_split_frees_one_by_one_and_merges_back)
{
	setup();
	frames_drain_caches(&pool);
	uint64_t before = frames_free_count(&pool);
	int64_t a = frames_alloc(&pool, 3);

	frames_split(&pool, a, 3);
	CHECK(frames_check(&pool) == NULL);
	CHECK(MM_FAILS(frames_free(&pool, a, 3)) && strstr(mm_test_msg, "order 0, freed with order 3"));
	for (int i = 7; i >= 0; i -= 2) /* in any order: odd ones first */
		frames_free(&pool, a + i, 0);
	CHECK_EQ(frames_free_count(&pool), before - 4);
	CHECK(MM_FAILS(frames_free(&pool, a + 3, 0)) && strstr(mm_test_msg, "double free"));
	for (int i = 0; i < 8; i += 2)
		frames_free(&pool, a + i, 0);
	CHECK_EQ(frames_free_count(&pool), before);
	CHECK(frames_check(&pool) == NULL);
	/* merged: no frame of it heads a block smaller than 8 */
	for (int i = 1; i < 8; i++)
		CHECK_EQ(meta[a + i].state, FRAME_TAIL);
	CHECK(MM_FAILS(frames_split(&pool, a, 3)) && strstr(mm_test_msg, "frames_split"));
}

TEST(frame_cache_is_per_cpu_and_checked)
{
	setup();
	uint64_t total = frames_free_count(&pool);
	int64_t a = frame_alloc(&pool, 0), b = frame_alloc(&pool, 1);

	CHECK(a >= 0 && b >= 0 && a != b);
	CHECK_EQ(frames_free_count(&pool), total - 2); /* cached frames still count as free */
	frame_free(&pool, 0, a);
	CHECK(MM_FAILS(frame_free(&pool, 0, a)) && strstr(mm_test_msg, "double free"));
	frame_free(&pool, 3, b); /* freed through another CPU's cache */
	for (int i = 0; i < 3 * FRAME_CACHE_SIZE; i++) { /* overflow and refill */
		int64_t x = frame_alloc(&pool, 2);

		CHECK(x >= 0);
		frame_free(&pool, 3, x);
	}
	CHECK(frames_check(&pool) == NULL);
	frames_drain_caches(&pool);
	CHECK_EQ(pool.ncached, 0);
	CHECK_EQ(frames_free_count(&pool), total);
	CHECK(frames_check(&pool) == NULL);
}

/* Two CPUs on their own caches at once: each fast path moves ncached without the pool's
 * lock, so the count must be updated atomically or it drifts (and TSan sees the race). */
#include <pthread.h>

static void *churn(void *arg)
{
	unsigned cpu = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < 20000; i++) {
		int64_t x = frame_alloc(&pool, cpu);

		if (x >= 0)
			frame_free(&pool, cpu, (uint64_t)x);
	}
	return NULL;
}

TEST(frame_caches_count_right_on_two_cpus)
{
	pthread_t t[2];

	setup();
	uint64_t total = frames_free_count(&pool);

	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CHECK(frames_check(&pool) == NULL);
	CHECK_EQ(frames_free_count(&pool), total);
	frames_drain_caches(&pool);
	CHECK_EQ(pool.ncached, 0);
}
