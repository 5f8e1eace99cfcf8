/* The physical frame allocator: a binary buddy system over one metadata record per frame.
 * Pure code (host-tested): it knows frame numbers, never addresses. See mm/README.md for
 * why buddy. Order-0 allocations go through a per-CPU cache and take no lock. */
#ifndef MM_FRAME_H
#define MM_FRAME_H

#include "lib/compiler.h"
#include "lib/spinlock.h"

#define FRAME_MAX_ORDER 12 /* blocks of up to 2^12 frames (16 MiB) */
#define FRAME_NONE UINT32_MAX
#define MM_MAX_CPUS 64
#define FRAME_CACHE_SIZE 32

enum frame_state {
	FRAME_RESERVED = 0, /* never handed out (not RAM, kernel, boot data) */
	FRAME_FREE,	    /* heads a free buddy block of `order` */
	FRAME_TAIL,	    /* inside a block, not its head */
	FRAME_CACHED,	    /* free, in a per-CPU cache */
	FRAME_USED,	    /* heads an allocated block of `order` */
	FRAME_SLAB,	    /* a heap slab page (mm/heap.c) */
	FRAME_LARGE,	    /* heads a large heap allocation */
	FRAME_PAGETABLE,    /* a page-table page */
	FRAME_STACK,	    /* part of a kernel stack */
};

/* One per frame, 64 bytes. The slab fields are mm/heap.c's. */
struct frame {
	uint8_t state;
	uint8_t order;
	uint16_t cls;	/* slab: size class */
	uint16_t inuse; /* slab: objects handed out */
	uint16_t cpu;	/* slab: owning CPU */
	uint32_t next, prev; /* buddy free list, or the owner's partial-slab list */
	void *free;	     /* slab: free objects */
	uint64_t spare;
	uint64_t used[4]; /* slab: one bit per object (256 objects of 16 bytes at most) */
};
_Static_assert(sizeof(struct frame) == 64, "struct frame is 64 bytes");

struct frame_cache {
	uint32_t n;
	uint32_t pfn[FRAME_CACHE_SIZE];
};

struct frame_pool {
	struct frame *f;
	uint64_t nframes;
	uint32_t head[FRAME_MAX_ORDER + 1]; /* free lists, one per order */
	uint64_t nfree;			    /* frames in the buddy free lists */
	uint64_t ncached;		    /* frames in per-CPU caches (atomic: fast paths) */
	uint64_t nusable;		    /* frames ever added as free */
	struct spinlock lock;
	struct frame_cache cache[MM_MAX_CPUS];
};

/* Reports a broken invariant (double free, foreign frame) and does not return. The kernel
 * sets it to panic; host tests catch it. */
extern void (*mm_fail)(const char *fmt, ...) __printf(1, 2);

/* All frames start RESERVED; add what is free. */
void frames_init(struct frame_pool *p, struct frame *meta, uint64_t nframes);
void frames_add_free(struct frame_pool *p, uint64_t pfn, uint64_t count);
/* 2^order contiguous frames aligned to their size; returns the first pfn or -ENOMEM. */
int64_t frames_alloc(struct frame_pool *p, unsigned order);
void frames_free(struct frame_pool *p, uint64_t pfn, unsigned order);
/* An allocated block becomes 2^order allocated single frames, each freed on its own (a
 * block lent to a device that may keep some of its pages longer than others); freed
 * again, they merge back. */
void frames_split(struct frame_pool *p, uint64_t pfn, unsigned order);
/* One frame, through CPU `cpu`'s cache (O(1) except on refill/flush). */
int64_t frame_alloc(struct frame_pool *p, unsigned cpu);
void frame_free(struct frame_pool *p, unsigned cpu, uint64_t pfn);
/* Returns CPU cpu's cached frames to the buddy lists (for exact accounting): on that CPU,
 * with preemption off, as its fast paths touch its cache without the lock. */
void frame_cache_drain(struct frame_pool *p, unsigned cpu);
/* Every CPU's: only where no CPU allocates meanwhile (the host tests). */
void frames_drain_caches(struct frame_pool *p);
uint64_t frames_free_count(const struct frame_pool *p);
/* Checks the free lists against the metadata: every invariant the allocator relies on.
 * Returns NULL or what is wrong. For tests. */
const char *frames_check(const struct frame_pool *p);

#endif
