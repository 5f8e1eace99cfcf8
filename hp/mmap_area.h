/* The app's anonymous-mmap area: addresses handed out top down from a ceiling, its low end
 * moving down. Pure code (host-tested, mmap_area_test.c); the caller holds the app's mm_lock
 * and does the mapping. */
#ifndef HP_MMAP_AREA_H
#define HP_MMAP_AREA_H

#include <stdint.h>

struct mmap_area {
	uint64_t floor, top; /* the area: [floor, top) */
	uint64_t low;	     /* the lowest address handed out; top when none */
};

void mmap_area_init(struct mmap_area *m, uint64_t floor, uint64_t top);
/* The start of len bytes (page multiple) just below the low end, or 0 when the area is
 * full. */
uint64_t mmap_area_take(struct mmap_area *m, uint64_t len);
/* [va, va + len) is free again (unmapped, or a take whose mapping failed). When it holds
 * the low end, the low end moves up past it, so the next take reuses it; a hole higher
 * up stays a hole. */
void mmap_area_give(struct mmap_area *m, uint64_t va, uint64_t len);

#endif
