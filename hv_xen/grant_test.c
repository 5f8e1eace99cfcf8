#include <pthread.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "hv_xen/grant.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

static struct grant_entry_v1 fake[64];
static uint64_t freed[64];
static unsigned nfreed;

static void record_free(uint64_t pfn)
{
	freed[nfreed++ % 64] = pfn;
}

TEST(grant_grant_end_and_exhaustion)
{
	gnttab_use(fake, 64);
	gnttab_free_page = record_free;
	int refs[64], n = 0, r;

	while ((r = gnttab_grant(1, 100 + n, n & 1)) >= 0)
		refs[n++] = r;
	CHECK_EQ(r, -ENOSPC);
	CHECK_EQ(n, 64 - GNT_RESERVED);
	for (int i = 0; i < n; i++) {
		CHECK(refs[i] >= GNT_RESERVED && refs[i] < 64);
		CHECK_EQ(fake[refs[i]].domid, 1);
		CHECK_EQ(fake[refs[i]].frame, 100u + i);
		CHECK_EQ(fake[refs[i]].flags, GTF_permit_access | (i & 1 ? GTF_readonly : 0));
	}
	for (int i = 0; i < n; i++)
		CHECK(gnttab_end(refs[i]));
	CHECK_EQ(fake[refs[0]].flags, 0);
	struct gnttab_stats s;

	gnttab_stats(&s);
	CHECK_EQ(s.free, 64u - GNT_RESERVED);
	CHECK(gnttab_grant(0, 1ull << 32, false) == -EINVAL); /* v1: 32-bit frames */
	gnttab_stats(&s);
	CHECK_EQ(s.free, 64u - GNT_RESERVED);
}

/* A grant the backend still has mapped is not ended, its ref is not handed out again and
 * its page is not freed, until the backend lets go. */
TEST(grant_busy_grant_is_deferred_not_reused)
{
	gnttab_use(fake, 16);
	gnttab_free_page = record_free;
	nfreed = 0;
	int a = gnttab_grant(2, 7, false);

	CHECK(a >= GNT_RESERVED);
	fake[a].flags |= GTF_writing; /* the backend maps it */
	CHECK(!gnttab_end(a)); /* not over, and nothing changed */
	CHECK_EQ(fake[a].flags & GTF_permit_access, GTF_permit_access);
	gnttab_release(a, 4242); /* given up: it ends when the backend lets go */
	CHECK_EQ(fake[a].flags & GTF_permit_access, GTF_permit_access);
	CHECK_EQ(nfreed, 0u);
	/* every other ref can be taken, but never a */
	int got[16], n = 0, r;

	while ((r = gnttab_grant(2, 1, false)) >= 0) {
		CHECK(r != a);
		got[n++] = r;
	}
	CHECK_EQ(n, 16 - GNT_RESERVED - 1);
	CHECK_EQ(gnttab_reclaim(), 1u);
	fake[a].flags &= ~GTF_writing; /* the backend unmaps */
	CHECK_EQ(gnttab_reclaim(), 0u);
	CHECK_EQ(nfreed, 1u);
	CHECK_EQ(freed[0], 4242u);
	CHECK_EQ(gnttab_grant(2, 1, false), a); /* now it may be reused */
	for (int i = 0; i < n; i++)
		gnttab_release(got[i], 7);
	CHECK_EQ(nfreed, 1u + n); /* released grants that ended at once free their page */
	CHECK(gnttab_end(0)); /* a reserved ref is not ours: nothing to do */
}

static struct grant_entry_v1 big[4096];

static void *churn(void *arg)
{
	for (int i = 0; i < 20000; i++) {
		int r = gnttab_grant(3, (uint64_t)(uintptr_t)arg, false);

		if (r < 0)
			continue;
		if (__atomic_load_n(&big[r].frame, __ATOMIC_RELAXED) != (uint32_t)(uintptr_t)arg)
			__atomic_add_fetch(&big[0].frame, 1, __ATOMIC_RELAXED); /* a ref given twice */
		gnttab_release(r, UINT64_MAX);
	}
	return NULL;
}

/* two threads granting and ending at once never get the same ref */
TEST(grant_two_threads)
{
	pthread_t t[2];

	gnttab_use(big, 64);
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, churn, (void *)(i + 1));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	struct gnttab_stats s;

	gnttab_stats(&s);
	CHECK_EQ(big[0].frame, 0u);
	CHECK_EQ(s.free, 64u - GNT_RESERVED);
}
