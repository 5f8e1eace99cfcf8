#include "mm/heap.h"

#include "lib/errno.h"
#include "lib/string.h"

unsigned heap_class_size(unsigned cls)
{
	return 1u << (cls + HEAP_MIN_SHIFT);
}

/* the smallest class holding `size` bytes aligned to `align`, or -1 when none does */
static int class_of(size_t size, size_t align)
{
	size_t need = size > align ? size : align;

	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		if (need <= heap_class_size(c))
			return (int)c;
	return -1;
}

void heap_init(struct heap *h, struct frame_pool *pool, void *(*frame_va)(uint64_t),
	       uint64_t (*va_frame)(const void *))
{
	*h = (struct heap){ .pool = pool, .frame_va = frame_va, .va_frame = va_frame };
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		for (unsigned c = 0; c < HEAP_CLASSES; c++)
			h->cpu[cpu].partial[c] = FRAME_NONE;
}

static void partial_add(struct heap *h, struct heap_cpu *hc, uint64_t pfn)
{
	struct frame *f = &h->pool->f[pfn];

	f->prev = FRAME_NONE;
	f->next = hc->partial[f->cls];
	if (f->next != FRAME_NONE)
		h->pool->f[f->next].prev = pfn;
	hc->partial[f->cls] = pfn;
}

static void partial_remove(struct heap *h, struct heap_cpu *hc, uint64_t pfn)
{
	struct frame *f = &h->pool->f[pfn];

	if (f->prev != FRAME_NONE)
		h->pool->f[f->prev].next = f->next;
	else
		hc->partial[f->cls] = f->next;
	if (f->next != FRAME_NONE)
		h->pool->f[f->next].prev = f->prev;
	f->next = f->prev = FRAME_NONE;
}

/* A fresh slab page for class c owned by cpu, every object on its free list. */
static int64_t new_slab(struct heap *h, unsigned cpu, unsigned c)
{
	int64_t pfn = frame_alloc(h->pool, cpu);

	if (pfn < 0)
		return pfn;
	struct frame *f = &h->pool->f[pfn];
	char *page = h->frame_va(pfn);
	unsigned size = heap_class_size(c), n = PAGE_SIZE / size;

	*f = (struct frame){ .state = FRAME_SLAB, .cls = c, .cpu = cpu };
	/* zeroed whole, as a kernel stack's pages (mm.c: mm_stack_alloc): what QEMU's TCG
	 * translated from the frame's earlier use is dropped at once, not left to slow every
	 * later write to the page down */
	memset(page, 0, PAGE_SIZE);
	for (unsigned i = 0; i < n; i++)
		*(void **)(page + i * size) = i + 1 < n ? page + (i + 1) * size : NULL;
	f->free = page;
	partial_add(h, &h->cpu[cpu], pfn);
	h->cpu[cpu].stats[c].slabs++;
	return pfn;
}

static void release_slab(struct heap *h, unsigned cpu, uint64_t pfn)
{
	struct frame *f = &h->pool->f[pfn];

	partial_remove(h, &h->cpu[cpu], pfn);
	h->cpu[cpu].stats[f->cls].slabs--;
	f->state = FRAME_USED;
	f->order = 0;
	frame_free(h->pool, cpu, pfn);
}

/* Puts an object (whose used bit is already clear) back on its slab, on its owner CPU. */
static void slab_put(struct heap *h, unsigned cpu, uint64_t pfn, void *p)
{
	struct frame *f = &h->pool->f[pfn];
	struct heap_cpu *hc = &h->cpu[cpu];
	bool was_full = !f->free;

	*(void **)p = f->free;
	f->free = p;
	f->inuse--;
	hc->stats[f->cls].objects--;
	if (was_full)
		partial_add(h, hc, pfn);
	/* keep one empty slab per class for the next allocation, give the others back */
	if (!f->inuse && (hc->partial[f->cls] != pfn || f->next != FRAME_NONE))
		release_slab(h, cpu, pfn);
}

/* Frees what other CPUs handed back to this one. */
static void drain_remote(struct heap *h, unsigned cpu)
{
	void *p = __atomic_exchange_n(&h->cpu[cpu].remote, NULL, __ATOMIC_ACQUIRE);

	while (p) {
		void *next = *(void **)p;

		slab_put(h, cpu, h->va_frame(p), p);
		p = next;
	}
}

static void *alloc_large(struct heap *h, size_t size, size_t align)
{
	size_t need = size > align ? size : align;
	unsigned order = 0;

	while ((PAGE_SIZE << order) < need)
		if (++order > FRAME_MAX_ORDER)
			return NULL;
	int64_t pfn = frames_alloc(h->pool, order);

	if (pfn < 0)
		return NULL;
	h->pool->f[pfn].state = FRAME_LARGE;
	__atomic_add_fetch(&h->large_blocks, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->large_frames, 1ull << order, __ATOMIC_RELAXED);
	return h->frame_va(pfn);
}

void *heap_alloc(struct heap *h, unsigned cpu, size_t size, size_t align)
{
	if (align & (align - 1))
		return NULL;
	if (align < 16)
		align = 16;
	int c = class_of(size, align);

	if (c < 0)
		return size > (PAGE_SIZE << FRAME_MAX_ORDER) ? NULL : alloc_large(h, size, align);

	struct heap_cpu *hc = &h->cpu[cpu];

	if (__atomic_load_n(&hc->remote, __ATOMIC_RELAXED))
		drain_remote(h, cpu);
	if (hc->partial[c] == FRAME_NONE && new_slab(h, cpu, c) < 0)
		return NULL;
	uint64_t pfn = hc->partial[c];
	struct frame *f = &h->pool->f[pfn];
	char *p = f->free;
	unsigned idx = (p - (char *)h->frame_va(pfn)) / heap_class_size(c);

	f->free = *(void **)p;
	f->inuse++;
	if (!f->free)
		partial_remove(h, hc, pfn); /* full: off the list until something is freed */
	if (__atomic_fetch_or(&f->used[idx / 64], 1ull << (idx % 64), __ATOMIC_RELAXED) &
	    (1ull << (idx % 64)))
		mm_fail("heap: object %p of class %u handed out twice: slab free list corrupt", p,
			heap_class_size(c));
	hc->stats[c].objects++;
	hc->stats[c].allocs++;
	return p;
}

void *heap_calloc(struct heap *h, unsigned cpu, size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes))
		return NULL;
	void *p = heap_alloc(h, cpu, bytes, 0);

	if (p)
		__builtin_memset(p, 0, bytes);
	return p;
}

/* Whether pfn is a tail frame of a large allocation (its head is aligned below it). */
static bool inside_large(struct heap *h, uint64_t pfn)
{
	for (unsigned o = 1; o <= FRAME_MAX_ORDER; o++) {
		const struct frame *head = &h->pool->f[pfn & ~((1ull << o) - 1)];

		if (head->state == FRAME_LARGE && head->order >= o)
			return true;
	}
	return false;
}

static void bad_pointer(const void *p, const char *why)
{
	mm_fail("kfree: %p %s", p, why);
}

void heap_free(struct heap *h, unsigned cpu, void *p)
{
	if (!p)
		return;
	uint64_t pfn = h->va_frame(p);

	if (pfn >= h->pool->nframes) {
		bad_pointer(p, "was not allocated by kmalloc (not heap memory)");
		return;
	}
	struct frame *f = &h->pool->f[pfn];
	char *page = h->frame_va(pfn);

	if (f->state == FRAME_LARGE) {
		if ((char *)p != page) {
			bad_pointer(p, "is inside a large allocation, not at its start");
			return;
		}
		__atomic_sub_fetch(&h->large_blocks, 1, __ATOMIC_RELAXED);
		__atomic_sub_fetch(&h->large_frames, 1ull << f->order, __ATOMIC_RELAXED);
		f->state = FRAME_USED;
		frames_free(h->pool, pfn, f->order);
		return;
	}
	if (f->state != FRAME_SLAB) {
		bad_pointer(p, f->state == FRAME_CACHED || f->state == FRAME_FREE ?
				       "points into free memory: double free?" :
			       inside_large(h, pfn) ? "is inside a large allocation, not at its start" :
						      "was not allocated by kmalloc");
		return;
	}
	unsigned size = heap_class_size(f->cls);
	uint64_t off = (char *)p - page;

	if (off % size) {
		bad_pointer(p, "is not the start of an allocation");
		return;
	}
	unsigned idx = off / size;

	if (!(__atomic_fetch_and(&f->used[idx / 64], ~(1ull << (idx % 64)), __ATOMIC_RELAXED) &
	      (1ull << (idx % 64)))) {
		bad_pointer(p, "is already free: double free");
		return;
	}
	if (f->cpu == cpu) {
		slab_put(h, cpu, pfn, p);
		return;
	}
	/* another CPU's slab: hand the object to its owner (Treiber stack push) */
	void **head = &h->cpu[f->cpu].remote;
	void *old = __atomic_load_n(head, __ATOMIC_RELAXED);

	do
		*(void **)p = old;
	while (!__atomic_compare_exchange_n(head, &old, p, true, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED));
}

size_t heap_size(struct heap *h, const void *p)
{
	uint64_t pfn = h->va_frame(p);

	if (pfn >= h->pool->nframes)
		return 0;
	const struct frame *f = &h->pool->f[pfn];

	if (f->state == FRAME_LARGE)
		return PAGE_SIZE << f->order;
	return f->state == FRAME_SLAB ? heap_class_size(f->cls) : 0;
}

void heap_trim(struct heap *h, unsigned cpu)
{
	struct heap_cpu *hc = &h->cpu[cpu];

	drain_remote(h, cpu);
	for (unsigned c = 0; c < HEAP_CLASSES; c++) {
		uint32_t pfn = hc->partial[c];

		while (pfn != FRAME_NONE) {
			uint32_t next = h->pool->f[pfn].next;

			if (!h->pool->f[pfn].inuse)
				release_slab(h, cpu, pfn);
			pfn = next;
		}
	}
}
