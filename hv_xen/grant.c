/* The grant allocator: free references on a lock-free stack (index and generation in one
 * 64-bit word, so a CAS cannot be fooled by ABA), busy ones on a deferred stack that is
 * taken whole. Safe from any CPU and from interrupt context. */
#include "hv_xen/grant.h"

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "lib/errno.h"

#define NONE UINT32_MAX

static struct grant_entry_v1 *table;
static uint32_t nrefs;
static uint32_t *next_free;   /* per ref: the next in its stack */
static uint64_t *pending_pfn; /* per deferred ref: the page to free with it */
static uint64_t free_head;    /* generation << 32 | ref, NONE when empty */
static uint32_t deferred_head = NONE;
static uint32_t nfree, ndeferred;
static uint64_t granted, ended, ended_late;
void (*gnttab_free_page)(uint64_t pfn);

/* storage for up to this many refs; the table may be smaller */
#define MAX_REFS 4096
static uint32_t next_store[MAX_REFS];
static uint64_t pfn_store[MAX_REFS];

static void push_free(uint32_t ref)
{
	uint64_t old = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), new;

	do {
		__atomic_store_n(&next_free[ref], (uint32_t)old, __ATOMIC_RELAXED);
		new = ((old >> 32) + 1) << 32 | ref;
	} while (!__atomic_compare_exchange_n(&free_head, &old, new, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	__atomic_add_fetch(&nfree, 1, __ATOMIC_RELAXED);
}

static uint32_t pop_free(void)
{
	uint64_t old = __atomic_load_n(&free_head, __ATOMIC_ACQUIRE), new;

	do {
		uint32_t ref = (uint32_t)old;

		if (ref == NONE)
			return NONE;
		new = ((old >> 32) + 1) << 32 | __atomic_load_n(&next_free[ref], __ATOMIC_RELAXED);
	} while (!__atomic_compare_exchange_n(&free_head, &old, new, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	__atomic_sub_fetch(&nfree, 1, __ATOMIC_RELAXED);
	return (uint32_t)old;
}

/* the deferred stack only ever has pushes and whole takes: no ABA */
static void push_deferred(uint32_t ref)
{
	uint32_t old = __atomic_load_n(&deferred_head, __ATOMIC_ACQUIRE);

	do
		__atomic_store_n(&next_free[ref], old, __ATOMIC_RELAXED);
	while (!__atomic_compare_exchange_n(&deferred_head, &old, ref, true, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE));
	__atomic_add_fetch(&ndeferred, 1, __ATOMIC_RELAXED);
}

void gnttab_use(struct grant_entry_v1 *t, uint32_t n)
{
	table = t;
	nrefs = n < MAX_REFS ? n : MAX_REFS;
	next_free = next_store;
	pending_pfn = pfn_store;
	free_head = NONE;
	deferred_head = NONE;
	nfree = ndeferred = 0;
	for (uint32_t r = nrefs; r-- > GNT_RESERVED;)
		push_free(r);
}

int gnttab_grant(uint16_t dom, uint64_t gfn, bool readonly)
{
	uint32_t ref = pop_free();

	if (ref == NONE) {
		gnttab_reclaim();
		ref = pop_free();
	}
	if (ref == NONE)
		return -ENOSPC;
	if (gfn > UINT32_MAX) { /* v1 entries hold 32-bit frames */
		push_free(ref);
		return -EINVAL;
	}
	struct grant_entry_v1 *e = &table[ref];

	e->domid = dom;
	e->frame = (uint32_t)gfn;
	/* flags last: Xen may use the entry as soon as it is valid (xen/grant_table.h) */
	__atomic_store_n(&e->flags, GTF_permit_access | (readonly ? GTF_readonly : 0),
			 __ATOMIC_RELEASE);
	__atomic_add_fetch(&granted, 1, __ATOMIC_RELAXED);
	return (int)ref;
}

/* xen/grant_table.h: an unused entry is invalidated by a CAS of its flags to 0 */
static bool try_end(uint32_t ref)
{
	uint16_t flags = __atomic_load_n(&table[ref].flags, __ATOMIC_ACQUIRE);

	do {
		if (flags & (GTF_reading | GTF_writing))
			return false;
	} while (!__atomic_compare_exchange_n(&table[ref].flags, &flags, 0, false,
					      __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
	return true;
}

bool gnttab_end(int ref)
{
	if (ref < GNT_RESERVED || (uint32_t)ref >= nrefs)
		return true; /* not one of ours: nothing to end */
	if (!try_end(ref))
		return false;
	__atomic_add_fetch(&ended, 1, __ATOMIC_RELAXED);
	push_free(ref);
	return true;
}

void gnttab_release(int ref, uint64_t free_pfn)
{
	if (gnttab_end(ref)) {
		if (free_pfn != UINT64_MAX && gnttab_free_page)
			gnttab_free_page(free_pfn);
		return;
	}
	pending_pfn[ref] = free_pfn;
	push_deferred(ref);
}

unsigned gnttab_reclaim(void)
{
	uint32_t ref = __atomic_exchange_n(&deferred_head, NONE, __ATOMIC_ACQ_REL);
	unsigned held = 0;

	while (ref != NONE) {
		uint32_t next = __atomic_load_n(&next_free[ref], __ATOMIC_RELAXED);

		__atomic_sub_fetch(&ndeferred, 1, __ATOMIC_RELAXED);
		if (try_end(ref)) {
			__atomic_add_fetch(&ended_late, 1, __ATOMIC_RELAXED);
			uint64_t pfn = pending_pfn[ref];

			push_free(ref);
			if (pfn != UINT64_MAX && gnttab_free_page)
				gnttab_free_page(pfn);
		} else {
			push_deferred(ref);
			held++;
		}
		ref = next;
	}
	return held;
}

void gnttab_stats(struct gnttab_stats *s)
{
	s->total = nrefs > GNT_RESERVED ? nrefs - GNT_RESERVED : 0;
	s->free = __atomic_load_n(&nfree, __ATOMIC_RELAXED);
	s->deferred = __atomic_load_n(&ndeferred, __ATOMIC_RELAXED);
	s->granted = granted;
	s->ended = ended;
	s->ended_late = ended_late;
}
