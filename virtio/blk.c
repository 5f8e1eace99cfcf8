/* virtio-blk (virtio 1.2, 5.2) as a struct blkdev: one queue, requests of up to 64 KiB.
 *
 * A request is a header (type, sector), the data split at physical page boundaries, and a
 * status byte: with indirect descriptors one ring slot, otherwise a chain. Requests beyond
 * what the queue holds wait in a list. The interrupt only wakes the device's thread, which
 * takes the used entries (checked by the virtqueue: index, id, length), completes the
 * requests (status OK -> 0, UNSUPP -> -EOPNOTSUPP, anything else -> -EIO) and issues
 * waiting ones. A device that lies about its used ring is reset and fails every request.
 * Flush is VIRTIO_BLK_T_FLUSH where VIRTIO_BLK_F_FLUSH is offered. */
#include "virtio/virtio.h"

#include "common/blkdev.h"
#include "common/console.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include <linux/virtio_blk.h>

#define SECTOR 512
#define QSIZE 64
#define MAX_BYTES (64 * 1024)
#define F(x) (1ull << (x))

struct slot {
	struct virtio_blk_outhdr hdr;
	uint8_t status;
	struct blk_req *req;
};

struct vblk {
	struct blkdev bd;
	struct virtio_dev *vd;
	struct virtq q;
	struct mutex lock;
	struct sem work;
	struct slot *slots; /* QSIZE, in the direct map (the device reads and writes them) */
	uint16_t free_slots[QSIZE];
	unsigned nfree;
	struct blk_req *queue, **queue_tail;
	bool stopped;
	char info[128];
};

static unsigned count;

/* Puts r in the queue, or returns false when there is no room now. Lock held. */
static bool issue(struct vblk *b, struct blk_req *r)
{
	struct virtq_buf v[VIRTQ_IND_MAX];
	unsigned n = 0;

	if (!b->nfree)
		return false;
	uint16_t id = b->free_slots[b->nfree - 1];
	struct slot *s = &b->slots[id];

	s->hdr = (struct virtio_blk_outhdr){
		.type = r->op == BLK_READ ? VIRTIO_BLK_T_IN :
			r->op == BLK_WRITE ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_FLUSH,
		.sector = r->op == BLK_FLUSH ? 0 : r->sector,
	};
	s->status = 0xff;
	v[n++] = (struct virtq_buf){ virtio_pa(&s->hdr), sizeof(s->hdr), false };
	if (r->op != BLK_FLUSH) {
		uint8_t *p = r->buf;

		for (uint32_t left = r->count * SECTOR; left;) {
			uint32_t chunk = MIN(left, (uint32_t)(PAGE_SIZE - ((uint64_t)p & (PAGE_SIZE - 1))));
			uint64_t pa = virtio_pa(p);

			if (n > 1 && v[n - 1].addr + v[n - 1].len == pa)
				v[n - 1].len += chunk; /* physically contiguous: one piece */
			else
				v[n++] = (struct virtq_buf){ pa, chunk, r->op == BLK_READ };
			p += chunk;
			left -= chunk;
		}
	}
	v[n++] = (struct virtq_buf){ virtio_pa(&s->status), 1, true };
	if (virtq_add(&b->q, v, n, s))
		return false;
	b->nfree--;
	s->req = r;
	return true;
}

static void push(struct vblk *b)
{
	uint64_t k = b->vd->kicks;

	virtio_kick(b->vd, &b->q);
	b->bd.st.kicks += b->vd->kicks - k;
}

/* lock held */
static void issue_queued(struct vblk *b)
{
	bool any = false;

	while (b->queue && issue(b, b->queue)) {
		b->queue = b->queue->next;
		any = true;
	}
	if (!b->queue)
		b->queue_tail = &b->queue;
	if (any)
		push(b);
}

static int vb_submit(struct blkdev *d, struct blk_req *r)
{
	struct vblk *b = container_of(d, struct vblk, bd);
	int rc = blkdev_check(d, r);

	if (rc)
		return rc;
	mutex_lock(&b->lock, NO_DEADLINE);
	if (b->stopped) {
		mutex_unlock(&b->lock);
		return -ENODEV;
	}
	r->next = NULL;
	r->status = 0;
	if (r->op == BLK_READ)
		d->st.reads++;
	else if (r->op == BLK_WRITE)
		d->st.writes++;
	else
		d->st.flushes++;
	if (!b->queue && issue(b, r)) {
		push(b);
	} else {
		*b->queue_tail = r;
		b->queue_tail = &r->next;
	}
	mutex_unlock(&b->lock);
	return 0;
}

/* Lock held: every request out or waiting ends with err, and no more are taken. */
static void end_all(struct vblk *b, int err)
{
	b->stopped = true;
	for (unsigned i = 0; i < QSIZE; i++) {
		if (b->slots[i].req) {
			blkdev_complete(&b->bd, b->slots[i].req, err);
			b->slots[i].req = NULL;
		}
	}
	while (b->queue) {
		struct blk_req *r = b->queue;

		b->queue = r->next;
		blkdev_complete(&b->bd, r, err);
	}
	b->queue_tail = &b->queue;
}

/* Lock held. A device that lies about its used ring cannot be trusted with the buffers it
 * holds: it is reset first (so it writes none of them any more), then every request ends
 * with -EIO, and the disk is gone until the next boot. */
static void fail_device(struct vblk *b, int why)
{
	kprintf("%s: the device's used ring %s (%s): resetting it, every request fails\n",
		b->bd.name, why == -EIO ? "reports more bytes than a buffer holds" :
		"runs past the buffers it holds or names one it does not hold",
		b->vd->where);
	b->vd->t->reset(b->vd);
	end_all(b, -EIO);
}

/* the device's thread, lock held */
static void take_used(struct vblk *b)
{
	void *c;
	uint32_t len;
	int rc;

	while ((rc = virtq_get(&b->q, &c, &len)) != 0) {
		struct slot *s = c;

		if (rc < 0) { /* the device lied about its used ring (virtq.h) */
			b->bd.st.bad_responses++;
			fail_device(b, rc);
			return;
		}
		struct blk_req *r = s->req;

		s->req = NULL;
		b->free_slots[b->nfree++] = (uint16_t)(s - b->slots);
		if (len < 1) {
			b->bd.st.bad_responses++;
			blkdev_complete(&b->bd, r, -EIO);
			continue;
		}
		blkdev_complete(&b->bd, r, s->status == VIRTIO_BLK_S_OK ? 0 :
			       s->status == VIRTIO_BLK_S_UNSUPP ? -EOPNOTSUPP : -EIO);
	}
	issue_queued(b);
}

static int vb_thread(void *arg)
{
	struct vblk *b = arg;

	for (;;) {
		sem_down(&b->work, NO_DEADLINE);
		mutex_lock(&b->lock, NO_DEADLINE);
		if (!b->stopped)
			take_used(b);
		mutex_unlock(&b->lock);
	}
	return 0;
}

static void vb_event(void *arg)
{
	struct vblk *b = arg;

	b->bd.st.irqs++;
	sem_up(&b->work);
}

static const struct blkdev_ops vb_ops = { .submit = vb_submit };

/* shutdown: whatever is still out fails with -ENODEV (the device is reset next) */
static void vb_stop(struct virtio_dev *vd)
{
	struct vblk *b = vd->driver;

	mutex_lock(&b->lock, NO_DEADLINE);
	end_all(b, -ENODEV);
	mutex_unlock(&b->lock);
}

int virtio_blk_probe(struct virtio_dev *vd)
{
	uint64_t want = F(VIRTIO_F_VERSION_1) | F(VIRTIO_BLK_F_FLUSH) | F(VIRTIO_BLK_F_RO) |
			F(VIRTIO_BLK_F_BLK_SIZE) | F(VIRTIO_RING_F_EVENT_IDX) |
			F(VIRTIO_RING_F_INDIRECT_DESC);
	struct vblk *b = kcalloc(1, sizeof(*b));
	int rc;

	if (!b)
		return -ENOMEM;
	b->vd = vd;
	vd->driver = b;
	vd->stop = vb_stop;
	mutex_init(&b->lock);
	sem_init(&b->work, 0);
	b->queue_tail = &b->queue;
	b->slots = kcalloc(QSIZE, sizeof(*b->slots));
	if (!b->slots) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = virtio_start(vd, want, 0)))
		goto fail;
	uint64_t f = vd->features;
	uint64_t sectors = vd->t->config(vd, offsetof(struct virtio_blk_config, capacity), 8);
	uint32_t bsize = f & F(VIRTIO_BLK_F_BLK_SIZE)
				 ? (uint32_t)vd->t->config(vd, offsetof(struct virtio_blk_config, blk_size), 4)
				 : SECTOR;

	if (bsize != SECTOR) {
		kprintf("virtio: %s: block size %u: only 512 is supported\n", vd->where, bsize);
		rc = -EOPNOTSUPP;
		goto fail;
	}
	if (!sectors) {
		rc = -ENODEV;
		goto fail;
	}
	if ((rc = virtio_queue(vd, 0, &b->q, QSIZE, true, vb_event, b)))
		goto fail;
	/* without indirect descriptors a request takes 2 + pieces of the ring */
	unsigned max_pieces = b->q.indirect ? VIRTQ_IND_MAX - 2 : MIN(b->q.num, VIRTQ_IND_MAX) - 2u;

	b->bd.max_bytes = (uint32_t)MIN((uint64_t)MAX_BYTES, (max_pieces - 1) * PAGE_SIZE);
	for (unsigned i = 0; i < MIN(QSIZE, b->q.num); i++)
		b->free_slots[b->nfree++] = (uint16_t)(QSIZE - 1 - i);
	b->bd.sector_size = SECTOR;
	b->bd.sectors = sectors;
	b->bd.read_only = f & F(VIRTIO_BLK_F_RO);
	b->bd.flush = f & F(VIRTIO_BLK_F_FLUSH);
	b->bd.ops = &vb_ops;
	ksnprintf(b->bd.name, sizeof(b->bd.name), "vblk%u", count++);
	ksnprintf(b->info, sizeof(b->info),
		  "virtio-blk %s, %lu sectors, queue %u%s%s%s%s", vd->where, sectors, b->q.num,
		  b->q.indirect ? ", indirect" : "", b->q.event_idx ? ", event-idx" : "",
		  b->bd.flush ? ", flush" : "", b->bd.read_only ? ", read-only" : "");
	b->bd.info = b->info;
	if (!thread_create(b->bd.name, vb_thread, b, CPU_ANY)) {
		rc = -ENOMEM;
		goto fail;
	}
	virtio_ready(vd);
	blkdev_register(&b->bd);
	return 0;
fail:
	vd->t->reset(vd);
	vd->driver = NULL;
	kfree(b->slots);
	kfree(b);
	return rc;
}
