/* The kernel heap behind kmalloc/kfree: slabs of one page per power-of-two size class
 * (16 to 2048 bytes, so every object is aligned to its class), larger sizes straight from
 * the frame allocator. Each CPU allocates from its own slabs without a lock; an object
 * freed on another CPU goes back to its owner through a lock-free stack. Slab metadata
 * lives in struct frame, outside the page, with one bit per object: a double free or a
 * pointer the heap never handed out is always caught. Pure code (host-tested). */
#ifndef MM_HEAP_H
#define MM_HEAP_H

#include "mm/frame.h"

#define HEAP_CLASSES 8 /* 16, 32, ..., 2048 */
#define HEAP_MIN_SHIFT 4
#define HEAP_MAX_SMALL 2048

struct heap_class_stats {
	uint64_t slabs;	  /* slab pages held */
	uint64_t objects; /* objects handed out */
	uint64_t allocs;  /* allocations ever */
};

struct heap_cpu {
	uint32_t partial[HEAP_CLASSES]; /* slabs with free objects (via frame next/prev) */
	void *remote;			/* objects other CPUs freed for us (lock-free stack) */
	struct heap_class_stats stats[HEAP_CLASSES];
};

struct heap {
	struct frame_pool *pool;
	void *(*frame_va)(uint64_t pfn);      /* a frame's address in the direct map */
	uint64_t (*va_frame)(const void *va); /* and back; UINT64_MAX if not in it */
	struct heap_cpu cpu[MM_MAX_CPUS];
	uint64_t large_blocks, large_frames;
};

void heap_init(struct heap *h, struct frame_pool *pool, void *(*frame_va)(uint64_t),
	       uint64_t (*va_frame)(const void *));
/* size bytes aligned to `align` (a power of two; 0 means 16); NULL when out of memory or
 * the request cannot be met. Size 0 gives a valid 16-byte object. */
void *heap_alloc(struct heap *h, unsigned cpu, size_t size, size_t align);
/* n * size zeroed bytes; NULL also when n * size overflows */
void *heap_calloc(struct heap *h, unsigned cpu, size_t n, size_t size);
void heap_free(struct heap *h, unsigned cpu, void *p);
/* the bytes usable at p (its class or its pages) */
size_t heap_size(struct heap *h, const void *p);
/* Gives empty slabs and drained remote frees back to the frame allocator. */
void heap_trim(struct heap *h, unsigned cpu);
unsigned heap_class_size(unsigned cls);

#endif
