/* blk_sync and blk_sync_or_free (devices.c) against a fake disk that answers when the test
 * says, on sync_test.c's stand-in threads. The heap here is malloc's, so ASan sees the
 * disk writing into a buffer that was freed, and LeakSanitizer a block never freed. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/blkdev.h"
#include "lib/errno.h"
#include "mm/mm.h"
#include "tools/unit/unit.h"

int sync_test_run(int n, void (*fn)(int id, void *arg), void *arg); /* sched/sync_test.c */

static void *watched; /* a block whose kfree is counted */
static int watched_frees;

void *kmalloc(size_t size)
{
	return malloc(size);
}

void *kcalloc(size_t n, size_t size)
{
	return calloc(n, size);
}

void kfree(void *p)
{
	if (p && p == __atomic_load_n(&watched, __ATOMIC_SEQ_CST))
		__atomic_add_fetch(&watched_frees, 1, __ATOMIC_SEQ_CST);
	free(p);
}

/* The kernel's console for every host test: what was printed last, and how many times. */
unsigned host_prints;
char host_last_print[256];

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(host_last_print, sizeof(host_last_print), fmt, ap);
	va_end(ap);
	host_prints++;
}

/* pkt_alloc's, which no test here calls; pkt_free's frees a page (or a block) that
 * netfront/resp_test.c allocated with aligned_alloc, and counts it there. A block split
 * by mm_frames_split goes back to malloc when its last frame is freed. */
unsigned host_frames_freed;
static struct {
	uint64_t pfn, frames, left;
} split[8];

int64_t mm_frame_alloc(void)
{
	return -1;
}

void mm_frame_free(uint64_t pfn)
{
	__atomic_add_fetch(&host_frames_freed, 1, __ATOMIC_SEQ_CST);
	for (unsigned i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
		if (split[i].frames && pfn - split[i].pfn < split[i].frames) {
			if (!--split[i].left) {
				free((void *)(uintptr_t)(split[i].pfn * 4096));
				split[i].frames = 0;
			}
			return;
		}
	}
	free((void *)(uintptr_t)(pfn * 4096));
}

int64_t mm_frames_alloc(unsigned order)
{
	return -1;
}

void mm_frames_free(uint64_t pfn, unsigned order)
{
	mm_frame_free(pfn);
}

void mm_frames_split(uint64_t pfn, unsigned order)
{
	for (unsigned i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
		if (!split[i].frames) {
			split[i].pfn = pfn;
			split[i].frames = split[i].left = 1ull << order;
			return;
		}
	}
	abort(); /* more than the tests need */
}

void *mm_frame_va(uint64_t pfn)
{
	return NULL;
}

uint64_t mm_va_pfn(const void *va)
{
	return (uintptr_t)va / 4096;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* The fake disk: takes a request and holds it until the test completes it, or completes
 * it at once with `answer` when that is not 1. */
static struct blk_req *held;
static int answer = 1;

static int fake_submit(struct blkdev *d, struct blk_req *r)
{
	int rc = blkdev_check(d, r);

	if (rc)
		return rc;
	if (answer != 1)
		blkdev_complete(d, r, answer);
	else
		__atomic_store_n(&held, r, __ATOMIC_SEQ_CST);
	return 0;
}

static const struct blkdev_ops fake_ops = {.submit = fake_submit};
static struct blkdev disk = {
    .name = "fake", .sector_size = 512, .sectors = 64, .max_bytes = 65536, .ops = &fake_ops};

#define BLOCK 8192

/* the disk writing what it read into a request's buffer, then completing it */
static void disk_answers(struct blk_req *r)
{
	memset(r->buf, 0xa5, r->count * disk.sector_size);
	blkdev_complete(&disk, r, 0);
}

struct read {
	uint8_t *block;
	uint64_t wait_ns;
	int rc;
};

/* hp_fs_load_disk's pattern: the second page of a heap block, handed over on a timeout */
static void read_into_block(int id, void *arg)
{
	struct read *rd = arg;

	rd->rc = blk_sync_or_free(&disk, BLK_READ, 0, 8, rd->block + 4096, now_ns() + rd->wait_ns,
				  rd->block);
}

TEST(blk_sync_timeout_frees_the_buffer_only_when_the_request_completes)
{
	struct read rd = {aligned_alloc(4096, BLOCK), 20000000, 1};

	held = NULL;
	answer = 1;
	watched = rd.block;
	watched_frees = 0;
	CHECK_EQ(sync_test_run(1, read_into_block, &rd), 0);
	CHECK_EQ(rd.rc, -ETIMEDOUT);
	CHECK(held && held->buf == rd.block + 4096);
	CHECK_EQ(watched_frees, 0); /* the disk still has it */
	disk_answers(held);	    /* a write into a freed block would stop ASan here */
	CHECK_EQ(watched_frees, 1);
	watched = NULL;
}

TEST(blk_sync_answered_leaves_the_buffer_to_the_caller)
{
	int answers[] = {0, -EIO, -ENODEV};

	for (int i = 0; i < 3; i++) {
		struct read rd = {aligned_alloc(4096, BLOCK), 5000000000ull, 1};

		held = NULL;
		answer = answers[i];
		watched = rd.block;
		watched_frees = 0;
		CHECK_EQ(sync_test_run(1, read_into_block, &rd), 0);
		CHECK_EQ(rd.rc, answers[i]);
		CHECK_EQ(watched_frees, 0);
		free(rd.block);
	}
	/* refused at submit: done never runs, the block is still the caller's */
	struct read rd = {aligned_alloc(4096, BLOCK), 5000000000ull, 1};

	answer = 0;
	watched = rd.block;
	watched_frees = 0;
	disk.sectors = 4; /* the read of 8 sectors is out of range */
	CHECK_EQ(sync_test_run(1, read_into_block, &rd), 0);
	disk.sectors = 64;
	CHECK_EQ(rd.rc, -EINVAL);
	CHECK_EQ(watched_frees, 0);
	free(rd.block);
	watched = NULL;
	answer = 1;
}

/* A disk that answers around the deadline: the waiter (id 0) either gets the answer and
 * frees the block itself, or times out and leaves it; never both, never neither. */
static struct read race;
static unsigned race_seed;

static void answer_near_the_deadline(int id, void *arg)
{
	if (id == 0) {
		read_into_block(0, &race);
		if (race.rc == 0)
			kfree(race.block);
		return;
	}
	struct blk_req *r;
	uint64_t give_up = now_ns() + 10000000000ull;

	while (!(r = __atomic_load_n(&held, __ATOMIC_SEQ_CST)))
		if (now_ns() > give_up)
			return; /* never submitted: the waiter's rc says why */
	uint64_t until = now_ns() + rand_r(&race_seed) % (2 * race.wait_ns);

	while (now_ns() < until)
		;
	disk_answers(r);
}

TEST(blk_sync_timeout_racing_the_answer)
{
	answer = 1;
	race_seed = 7;
	for (int n = 0; n < 2000; n++) {
		race = (struct read){aligned_alloc(4096, BLOCK), 50000, 1};
		held = NULL;
		watched = race.block;
		watched_frees = 0;
		CHECK_EQ(sync_test_run(2, answer_near_the_deadline, NULL), 0);
		CHECK(race.rc == 0 || race.rc == -ETIMEDOUT);
		CHECK_EQ(watched_frees, 1);
	}
	watched = NULL;
}
