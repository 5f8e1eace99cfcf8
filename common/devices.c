/* The device registries and the packet pool. */
#include "common/blkdev.h"
#include "common/netdev.h"
#include "arch_x86_64/layout.h"
#include "lib/errno.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define MAX_DEVS 8

static struct netdev *nets[MAX_DEVS];
static struct blkdev *blks[MAX_DEVS];
static unsigned nnets, nblks;

/* registration happens at probe time, from one thread; readers see a device once its
 * slot is published */
void netdev_register(struct netdev *d)
{
	if (nnets < MAX_DEVS) {
		nets[nnets] = d;
		__atomic_store_n(&nnets, nnets + 1, __ATOMIC_RELEASE);
	}
}

unsigned netdev_count(void)
{
	return __atomic_load_n(&nnets, __ATOMIC_ACQUIRE);
}

struct netdev *netdev_get(unsigned i)
{
	return i < netdev_count() ? nets[i] : NULL;
}

void blkdev_register(struct blkdev *d)
{
	if (nblks < MAX_DEVS) {
		blks[nblks] = d;
		__atomic_store_n(&nblks, nblks + 1, __ATOMIC_RELEASE);
	}
}

static unsigned blks_pending;

void blkdev_expect(int delta)
{
	__atomic_add_fetch(&blks_pending, (unsigned)delta, __ATOMIC_ACQ_REL);
}

unsigned blkdev_pending(void)
{
	return __atomic_load_n(&blks_pending, __ATOMIC_ACQUIRE);
}

unsigned blkdev_count(void)
{
	return __atomic_load_n(&nblks, __ATOMIC_ACQUIRE);
}

struct blkdev *blkdev_get(unsigned i)
{
	return i < blkdev_count() ? blks[i] : NULL;
}

struct pkt *pkt_alloc_big(unsigned order)
{
	struct pkt *p = kmalloc(sizeof(*p));
	int64_t pfn = !p ? -1 : order ? mm_frames_alloc(order) : mm_frame_alloc();

	if (pfn < 0) {
		kfree(p);
		return NULL;
	}
	p->next = NULL;
	p->page = mm_frame_va(pfn);
	p->data = (uint8_t *)p->page + PKT_HEADROOM;
	p->len = 0;
	p->flags = 0;
	p->csum_start = p->csum_offset = 0;
	p->gso_size = 0;
	p->order = (uint8_t)order;
	p->frag = NULL;
	return p;
}

struct pkt *pkt_alloc(void)
{
	return pkt_alloc_big(0);
}

void pkt_free(struct pkt *p)
{
	while (p) {
		struct pkt *frag = p->frag;

		if (p->order)
			mm_frames_free(mm_va_pfn(p->page), p->order);
		else
			mm_frame_free(mm_va_pfn(p->page));
		kfree(p);
		p = frag;
	}
}

struct sync_req {
	struct blk_req r;
	struct sem done;
	int refs;     /* the waiter and the completion: whoever is last frees it */
	void *orphan; /* the heap block holding r.buf, given up by a waiter that timed out */
};

static void put(struct sync_req *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		kfree(s->orphan);
		kfree(s);
	}
}

static void sync_done(struct blk_req *r)
{
	struct sync_req *s = r->arg;

	sem_up(&s->done);
	put(s);
}

int blkdev_check(const struct blkdev *d, const struct blk_req *r)
{
	if (r->op == BLK_FLUSH)
		return d->flush ? 0 : -EOPNOTSUPP;
	if (r->op != BLK_READ && r->op != BLK_WRITE)
		return -EINVAL;
	if (!r->count || r->sector >= d->sectors || r->count > d->sectors - r->sector ||
	    (uint64_t)r->count * d->sector_size > d->max_bytes ||
	    ((uint64_t)r->buf & (PAGE_SIZE - 1)))
		return -EINVAL;
	return r->op == BLK_WRITE && d->read_only ? -EROFS : 0;
}

void blkdev_complete(struct blkdev *d, struct blk_req *r, int status)
{
	r->status = status;
	if (status)
		d->st.errors++;
	r->done(r);
}

int blk_sync_or_free(struct blkdev *d, enum blk_op op, uint64_t sector, uint32_t count, void *buf,
		     uint64_t deadline, void *block)
{
	struct sync_req *s = kcalloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->r = (struct blk_req){ .op = op, .sector = sector, .count = count, .buf = buf,
				 .done = sync_done, .arg = s };
	sem_init(&s->done, 0);
	s->refs = 2;
	int rc = d->ops->submit(d, &s->r);

	if (rc) {
		kfree(s);
		return rc;
	}
	rc = sem_down(&s->done, deadline);
	if (!rc)
		rc = s->r.status;
	else
		s->orphan = block; /* the request may still fill it: the last put frees it */
	put(s);
	return rc;
}

int blk_sync(struct blkdev *d, enum blk_op op, uint64_t sector, uint32_t count, void *buf,
	     uint64_t deadline)
{
	return blk_sync_or_free(d, op, sector, count, buf, deadline, NULL);
}
