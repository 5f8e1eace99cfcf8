#include "mm/frame.h"

#include "lib/errno.h"

static void list_push(struct frame_pool *p, unsigned order, uint64_t pfn)
{
	struct frame *f = &p->f[pfn];

	f->state = FRAME_FREE;
	f->order = order;
	f->prev = FRAME_NONE;
	f->next = p->head[order];
	if (f->next != FRAME_NONE)
		p->f[f->next].prev = pfn;
	p->head[order] = pfn;
	p->nfree += 1ull << order;
}

static void list_remove(struct frame_pool *p, unsigned order, uint64_t pfn)
{
	struct frame *f = &p->f[pfn];

	if (f->prev != FRAME_NONE)
		p->f[f->prev].next = f->next;
	else
		p->head[order] = f->next;
	if (f->next != FRAME_NONE)
		p->f[f->next].prev = f->prev;
	f->state = FRAME_TAIL;
	p->nfree -= 1ull << order;
}

void frames_init(struct frame_pool *p, struct frame *meta, uint64_t nframes)
{
	*p = (struct frame_pool){ .f = meta, .nframes = nframes };
	for (unsigned o = 0; o <= FRAME_MAX_ORDER; o++)
		p->head[o] = FRAME_NONE;
	/* the state and order only: every other field is written when the frame changes
	 * state (list_push, a slab's or a large block's setup) before it is read. Writing
	 * whole entries (64 bytes each) took 2.6 ms of a 512 MiB VM's boot under TCG. */
	for (uint64_t i = 0; i < nframes; i++) {
		meta[i].state = FRAME_RESERVED;
		meta[i].order = 0;
	}
}

/* Frees the block at pfn of `order`, merging with its buddy while the buddy is free too. */
static void free_block(struct frame_pool *p, uint64_t pfn, unsigned order)
{
	while (order < FRAME_MAX_ORDER) {
		uint64_t buddy = pfn ^ (1ull << order);

		if (buddy >= p->nframes || p->f[buddy].state != FRAME_FREE ||
		    p->f[buddy].order != order)
			break;
		list_remove(p, order, buddy);
		pfn &= ~(1ull << order);
		p->f[pfn | (1ull << order)].state = FRAME_TAIL;
		order++;
	}
	list_push(p, order, pfn);
}

void frames_add_free(struct frame_pool *p, uint64_t pfn, uint64_t count)
{
	uint64_t end = pfn + count;

	if (end > p->nframes || end < pfn) {
		mm_fail("frames_add_free: %lu+%lu is beyond the %lu frames", pfn, count,
			p->nframes);
		return;
	}
	spin_lock(&p->lock);
	while (pfn < end) {
		unsigned order = 0;

		/* the largest aligned block that fits */
		while (order < FRAME_MAX_ORDER && !(pfn & (1ull << order)) &&
		       pfn + (2ull << order) <= end)
			order++;
		for (uint64_t i = 1; i < (1ull << order); i++)
			p->f[pfn + i].state = FRAME_TAIL;
		p->nusable += 1ull << order;
		free_block(p, pfn, order);
		pfn += 1ull << order;
	}
	spin_unlock(&p->lock);
}

static int64_t alloc_locked(struct frame_pool *p, unsigned order)
{
	unsigned o = order;

	while (o <= FRAME_MAX_ORDER && p->head[o] == FRAME_NONE)
		o++;
	if (o > FRAME_MAX_ORDER)
		return -ENOMEM;
	uint64_t pfn = p->head[o];

	list_remove(p, o, pfn);
	/* split: keep the lower half, free the upper halves */
	while (o > order) {
		o--;
		list_push(p, o, pfn + (1ull << o));
	}
	p->f[pfn].state = FRAME_USED;
	p->f[pfn].order = order;
	return (int64_t)pfn;
}

int64_t frames_alloc(struct frame_pool *p, unsigned order)
{
	int64_t pfn;

	if (order > FRAME_MAX_ORDER)
		return -ENOMEM;
	spin_lock(&p->lock);
	pfn = alloc_locked(p, order);
	spin_unlock(&p->lock);
	return pfn;
}

/* Whether pfn heads an allocated block of `order`; if not, reports it after unlocking,
 * so that a caught failure (host tests) leaves the pool usable. */
static bool check_used(struct frame_pool *p, uint64_t pfn, unsigned order, const char *who)
{
	if (pfn < p->nframes && p->f[pfn].state == FRAME_USED && p->f[pfn].order == order)
		return true;
	unsigned state = pfn < p->nframes ? p->f[pfn].state : 0;
	unsigned had = pfn < p->nframes ? p->f[pfn].order : 0;

	spin_unlock(&p->lock);
	if (pfn >= p->nframes)
		mm_fail("%s: frame %lu is beyond the %lu frames", who, pfn, p->nframes);
	else if (state != FRAME_USED)
		mm_fail("%s: frame %lu is not allocated (state %u): double free or foreign frame",
			who, pfn, state);
	else
		mm_fail("%s: frame %lu was allocated with order %u, freed with order %u", who, pfn,
			had, order);
	return false;
}

void frames_free(struct frame_pool *p, uint64_t pfn, unsigned order)
{
	spin_lock(&p->lock);
	if (!check_used(p, pfn, order, "frames_free"))
		return;
	free_block(p, pfn, order);
	spin_unlock(&p->lock);
}

void frames_split(struct frame_pool *p, uint64_t pfn, unsigned order)
{
	spin_lock(&p->lock);
	if (!check_used(p, pfn, order, "frames_split"))
		return;
	for (uint64_t i = 0; i < (1ull << order); i++)
		p->f[pfn + i] = (struct frame){ .state = FRAME_USED, .order = 0 };
	spin_unlock(&p->lock);
}

int64_t frame_alloc(struct frame_pool *p, unsigned cpu)
{
	struct frame_cache *c = &p->cache[cpu];

	if (!c->n) {
		/* refill half the cache in one locked pass */
		spin_lock(&p->lock);
		while (c->n < FRAME_CACHE_SIZE / 2) {
			int64_t pfn = alloc_locked(p, 0);

			if (pfn < 0)
				break;
			p->f[pfn].state = FRAME_CACHED;
			c->pfn[c->n++] = pfn;
			__atomic_add_fetch(&p->ncached, 1, __ATOMIC_RELAXED);
		}
		spin_unlock(&p->lock);
		if (!c->n)
			return -ENOMEM;
	}
	uint64_t pfn = c->pfn[--c->n];

	/* every CPU's fast path moves the shared count without the lock */
	__atomic_sub_fetch(&p->ncached, 1, __ATOMIC_RELAXED);
	p->f[pfn].state = FRAME_USED;
	p->f[pfn].order = 0;
	return (int64_t)pfn;
}

static void flush_cache(struct frame_pool *p, struct frame_cache *c, uint32_t keep)
{
	spin_lock(&p->lock);
	while (c->n > keep) {
		uint64_t pfn = c->pfn[--c->n];

		__atomic_sub_fetch(&p->ncached, 1, __ATOMIC_RELAXED);
		free_block(p, pfn, 0);
	}
	spin_unlock(&p->lock);
}

void frame_free(struct frame_pool *p, unsigned cpu, uint64_t pfn)
{
	struct frame_cache *c = &p->cache[cpu];

	spin_lock(&p->lock);
	if (!check_used(p, pfn, 0, "frame_free"))
		return;
	spin_unlock(&p->lock);
	if (c->n == FRAME_CACHE_SIZE)
		flush_cache(p, c, FRAME_CACHE_SIZE / 2);
	p->f[pfn].state = FRAME_CACHED;
	c->pfn[c->n++] = pfn;
	__atomic_add_fetch(&p->ncached, 1, __ATOMIC_RELAXED);
}

void frame_cache_drain(struct frame_pool *p, unsigned cpu)
{
	if (p->cache[cpu].n)
		flush_cache(p, &p->cache[cpu], 0);
}

void frames_drain_caches(struct frame_pool *p)
{
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		if (p->cache[cpu].n)
			flush_cache(p, &p->cache[cpu], 0);
}

uint64_t frames_free_count(const struct frame_pool *p)
{
	return p->nfree + __atomic_load_n(&p->ncached, __ATOMIC_RELAXED);
}

const char *frames_check(const struct frame_pool *p)
{
	uint64_t counted = 0;

	for (unsigned o = 0; o <= FRAME_MAX_ORDER; o++) {
		uint32_t prev = FRAME_NONE;

		for (uint32_t pfn = p->head[o]; pfn != FRAME_NONE; pfn = p->f[pfn].next) {
			const struct frame *f = &p->f[pfn];

			if (pfn >= p->nframes)
				return "free list points past the frames";
			if (f->state != FRAME_FREE || f->order != o)
				return "free list holds a frame that is not a free head of its order";
			if (pfn & ((1u << o) - 1))
				return "free block is not aligned to its size";
			if (f->prev != prev)
				return "free list back link is wrong";
			for (uint64_t i = 1; i < (1ull << o); i++)
				if (p->f[pfn + i].state != FRAME_TAIL)
					return "free block has a frame that is not a tail";
			uint64_t buddy = pfn ^ (1ull << o);

			if (o < FRAME_MAX_ORDER && buddy < p->nframes &&
			    p->f[buddy].state == FRAME_FREE && p->f[buddy].order == o)
				return "two free buddies were not merged";
			counted += 1ull << o;
			prev = pfn;
		}
	}
	if (counted != p->nfree)
		return "free count does not match the free lists";
	uint64_t cached = 0;

	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		for (uint32_t i = 0; i < p->cache[cpu].n; i++, cached++)
			if (p->f[p->cache[cpu].pfn[i]].state != FRAME_CACHED)
				return "cached frame not marked cached";
	if (cached != __atomic_load_n(&p->ncached, __ATOMIC_RELAXED))
		return "cached count does not match the caches";
	return NULL;
}
