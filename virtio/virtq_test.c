/* The split virtqueue against a fake device written from the spec (2.7): the device walks
 * the avail ring, follows chains and indirect tables, writes the used ring, and honours
 * or ignores the event indexes as a device would. Device addresses are host pointers. */
#include <stdlib.h>
#include <string.h>

#include "lib/errno.h"
#include "tools/unit/unit.h"
#include "virtio/virtq.h"

struct fake {
	struct virtq q;
	void *ring;
	struct virtq_slot *slots;
	struct vring_desc *ind;
	uint16_t dev_avail; /* the next avail entry the device takes */
	uint16_t dev_used;  /* its used->idx */
	unsigned interrupts;
};

static void setup(struct fake *f, unsigned num, bool indirect, bool event_idx)
{
	memset(f, 0, sizeof(*f));
	f->ring = aligned_alloc(VIRTQ_ALIGN, virtq_ring_bytes(num));
	memset(f->ring, 0, virtq_ring_bytes(num));
	f->slots = calloc(num, sizeof(*f->slots));
	f->ind = indirect ? calloc((size_t)num * VIRTQ_IND_MAX, sizeof(*f->ind)) : NULL;
	CHECK_EQ(virtq_init(&f->q, 0, num, f->ring, (uint64_t)(uintptr_t)f->ring, f->slots, f->ind,
			    (uint64_t)(uintptr_t)f->ind, event_idx),
		 0);
}

static void teardown(struct fake *f)
{
	free(f->ring);
	free(f->slots);
	free(f->ind);
}

/* The device takes one avail buffer: collects its pieces (checking the chain is well
 * formed: readable first, no loops), writes `fill` into its writable part, and returns the
 * head and how many bytes it could write; -1 when nothing is available. */
static int dev_take(struct fake *f, uint8_t fill, uint32_t *writable, unsigned *pieces)
{
	struct vring *vr = &f->q.vr;

	if (f->dev_avail == vr->avail->idx)
		return -1;
	uint16_t head = vr->avail->ring[f->dev_avail % vr->num];

	f->dev_avail++;
	/* the device's side of EVENT_IDX: tell the driver where we are */
	vring_avail_event(vr) = f->dev_avail;
	struct vring_desc *table = vr->desc;
	unsigned max = vr->num, d = head, n = 0;
	bool seen_write = false;

	if (vr->desc[head].flags & VRING_DESC_F_INDIRECT) {
		table = (struct vring_desc *)(uintptr_t)vr->desc[head].addr;
		max = vr->desc[head].len / sizeof(struct vring_desc);
		d = 0;
	}
	*writable = 0;
	for (;;) {
		struct vring_desc *x = &table[d];

		CHECK(n < max);
		if (n++ >= max)
			break;
		if (x->flags & VRING_DESC_F_WRITE) {
			memset((void *)(uintptr_t)x->addr, fill, x->len);
			*writable += x->len;
			seen_write = true;
		} else {
			CHECK(!seen_write); /* readable pieces come first */
		}
		if (!(x->flags & VRING_DESC_F_NEXT))
			break;
		d = x->next;
		CHECK(d < max);
	}
	*pieces = n;
	return head;
}

/* The device returns a buffer and interrupts as the driver asked. */
static void dev_put(struct fake *f, uint32_t id, uint32_t len)
{
	struct vring *vr = &f->q.vr;
	uint16_t old = f->dev_used;

	vr->used->ring[f->dev_used % vr->num] = (struct vring_used_elem){ id, len };
	f->dev_used++;
	vr->used->idx = f->dev_used;
	if (f->q.event_idx ? vring_need_event(vring_used_event(vr), f->dev_used, old)
			   : !(vr->avail->flags & VRING_AVAIL_F_NO_INTERRUPT))
		f->interrupts++;
}

TEST(virtq_chain_roundtrip)
{
	struct fake f;
	uint8_t hdr[16], data[100], status[1];
	int cookie = 1;

	setup(&f, 8, false, false);
	struct virtq_buf b[3] = {
		{ (uintptr_t)hdr, sizeof(hdr), false },
		{ (uintptr_t)data, sizeof(data), true },
		{ (uintptr_t)status, 1, true },
	};

	CHECK_EQ(virtq_add(&f.q, b, 3, &cookie), 0);
	CHECK_EQ(f.q.num_free, 5);
	CHECK(virtq_publish(&f.q)); /* no flags set: the device wants to hear */
	CHECK(!virtq_publish(&f.q)); /* nothing new */
	uint32_t w;
	unsigned pieces;
	int head = dev_take(&f, 0xab, &w, &pieces);

	CHECK(head >= 0);
	CHECK_EQ(w, 101);
	CHECK_EQ(pieces, 3);
	CHECK_EQ(data[99], 0xab);
	dev_put(&f, (uint32_t)head, 101);
	void *c;
	uint32_t len;

	CHECK_EQ(virtq_pending(&f.q), 1);
	CHECK_EQ(virtq_get(&f.q, &c, &len), 1);
	CHECK(c == &cookie);
	CHECK_EQ(len, 101);
	CHECK_EQ(f.q.num_free, 8);
	CHECK_EQ(virtq_get(&f.q, &c, &len), 0);
	teardown(&f);
}

TEST(virtq_indirect_takes_one_descriptor)
{
	struct fake f;
	static uint8_t pages[20][64];
	struct virtq_buf b[20];
	int cookies[8];

	setup(&f, 4, true, false);
	for (unsigned i = 0; i < 20; i++)
		b[i] = (struct virtq_buf){ (uintptr_t)pages[i], 64, i >= 2 };
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(virtq_add(&f.q, b, 20, &cookies[i]), 0);
	CHECK_EQ(virtq_add(&f.q, b, 20, &cookies[4]), -ENOSPC);
	virtq_publish(&f.q);
	for (unsigned i = 0; i < 4; i++) {
		uint32_t w;
		unsigned pieces;
		int head = dev_take(&f, (uint8_t)i, &w, &pieces);

		CHECK_EQ(pieces, 20);
		CHECK_EQ(w, 18 * 64);
		dev_put(&f, (uint32_t)head, w);
	}
	for (unsigned i = 0; i < 4; i++) {
		void *c;
		uint32_t len;

		CHECK_EQ(virtq_get(&f.q, &c, &len), 1);
		CHECK(c == &cookies[i]);
	}
	CHECK_EQ(f.q.num_free, 4);
	teardown(&f);
}

TEST(virtq_bad_input_refused)
{
	struct fake f;
	uint8_t x[8];
	int cookie;
	struct virtq_buf wrong_order[2] = { { (uintptr_t)x, 8, true }, { (uintptr_t)x, 8, false } };
	struct virtq_buf many[VIRTQ_IND_MAX + 1] = { { 0 } };

	setup(&f, 8, false, false);
	CHECK_EQ(virtq_add(&f.q, wrong_order, 2, &cookie), -EINVAL);
	CHECK_EQ(virtq_add(&f.q, many, 0, &cookie), -EINVAL);
	CHECK_EQ(virtq_add(&f.q, many, VIRTQ_IND_MAX + 1, &cookie), -EINVAL);
	CHECK_EQ(virtq_add(&f.q, many, 1, NULL), -EINVAL);
	CHECK_EQ(virtq_add(&f.q, many, 9, &cookie), -ENOSPC); /* no indirect: 9 > 8 */
	CHECK_EQ(f.q.num_free, 8);
	struct virtq q;

	CHECK_EQ(virtq_init(&q, 0, 6, f.ring, 0, f.slots, NULL, 0, false), -EINVAL);
	teardown(&f);
}

/* A device that lies: ids out of range, ids of buffers it does not hold, lengths beyond
 * the buffer. Each is counted; the free list stays whole. */
/* Two single buffers given to the device, which takes both. */
static void two_out(struct fake *f, uint8_t (*buf)[32], int *cookies, int *h0, int *h1)
{
	uint32_t w;
	unsigned pieces;

	setup(f, 8, false, false);
	for (unsigned i = 0; i < 2; i++) {
		struct virtq_buf b = { (uintptr_t)buf[i], 32, true };

		CHECK_EQ(virtq_add(&f->q, &b, 1, &cookies[i]), 0);
	}
	virtq_publish(&f->q);
	*h0 = dev_take(f, 1, &w, &pieces);
	*h1 = dev_take(f, 1, &w, &pieces);
}

/* Each lie is reported once (its own error), counted, and breaks the queue: nothing after
 * it is taken from the used ring, not even a good entry. */
TEST(virtq_lying_device)
{
	struct fake f;
	uint8_t buf[8][32];
	int cookies[8];
	void *c;
	uint32_t len;
	int h0, h1;
	const struct {
		int id; /* -1: h0 */
		uint32_t len;
		int err;
	} lies[] = {
		{ 99, 4, -EPROTO }, /* no such descriptor */
		{ 3, 4, -EPROTO },  /* a free descriptor */
		{ -1, 33, -EIO },   /* longer than the buffer */
	};

	for (unsigned i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		two_out(&f, buf, cookies, &h0, &h1);
		dev_put(&f, lies[i].id < 0 ? (uint32_t)h0 : (uint32_t)lies[i].id, lies[i].len);
		dev_put(&f, (uint32_t)h1, 32); /* fine, but after a lie */
		CHECK_EQ(virtq_get(&f.q, &c, &len), lies[i].err);
		/* -EIO names the buffer so its owner knows which; it is not a completion */
		CHECK(c == (lies[i].err == -EIO ? (void *)&cookies[0] : NULL));
		CHECK(f.q.broken);
		CHECK_EQ(f.q.bad, 1);
		CHECK_EQ(virtq_get(&f.q, &c, &len), 0);
		CHECK(c == NULL);
		CHECK_EQ(virtq_pending(&f.q), 0);
		CHECK(!virtq_irq_on(&f.q));
		CHECK_EQ(f.q.bad, 1);
		/* after the reset the driver takes back what the device held */
		unsigned back = 0;

		while (virtq_detach(&f.q))
			back++;
		CHECK_EQ(back, lies[i].err == -EIO ? 1 : 2);
		CHECK_EQ(f.q.num_free, 8);
		teardown(&f);
	}

	/* the same buffer twice: the second is a lie */
	two_out(&f, buf, cookies, &h0, &h1);
	dev_put(&f, (uint32_t)h0, 4);
	dev_put(&f, (uint32_t)h0, 4);
	CHECK_EQ(virtq_get(&f.q, &c, &len), 1);
	CHECK(c == &cookies[0] && len == 4);
	CHECK_EQ(virtq_get(&f.q, &c, &len), -EPROTO);
	CHECK(f.q.broken && f.q.bad == 1);
	teardown(&f);
}

/* A device that moves used->idx past the buffers it holds: the entries beyond are stale
 * ones from an earlier lap, which can name buffers given out again since (the id check
 * alone passes them). Nothing of that is read as a completion. */
TEST(virtq_used_index_past_what_the_device_holds)
{
	struct fake f;
	uint8_t buf[8][32];
	int cookies[8];
	void *c;
	uint32_t len, w;
	unsigned pieces;

	setup(&f, 4, false, false);
	/* one full lap: four buffers out and back, so every used slot names a head */
	for (unsigned i = 0; i < 4; i++) {
		struct virtq_buf b = { (uintptr_t)buf[i], 32, true };

		CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[i]), 0);
	}
	virtq_publish(&f.q);
	for (unsigned i = 0; i < 4; i++)
		dev_put(&f, (uint32_t)dev_take(&f, 1, &w, &pieces), 32);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(virtq_get(&f.q, &c, &len), 1);
	/* three given out again (the ids of the last lap), the last added before a publish */
	for (unsigned i = 0; i < 2; i++) {
		struct virtq_buf b = { (uintptr_t)buf[i], 32, true };

		CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[i]), 0);
	}
	struct virtq_buf b = { (uintptr_t)buf[2], 32, true };

	CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[2]), 0);
	virtq_publish(&f.q);
	/* the device completes one and moves used->idx by 4, more than the 3 it holds */
	int h = dev_take(&f, 1, &w, &pieces);

	dev_put(&f, (uint32_t)h, 32);
	f.q.vr.used->idx += 3; /* the last lap's entries, naming ids out again */
	CHECK_EQ(virtq_pending(&f.q), 4);
	CHECK_EQ(virtq_get(&f.q, &c, &len), -EPROTO);
	CHECK(c == NULL);
	CHECK(f.q.broken && f.q.bad == 1);
	CHECK_EQ(virtq_get(&f.q, &c, &len), 0);
	CHECK_EQ(virtq_pending(&f.q), 0);
	teardown(&f);

	/* a jump by exactly what the device holds is fine; unpublished buffers don't count */
	setup(&f, 4, false, false);
	for (unsigned i = 0; i < 3; i++) {
		struct virtq_buf x = { (uintptr_t)buf[i], 32, true };

		CHECK_EQ(virtq_add(&f.q, &x, 1, &cookies[i]), 0);
		if (i == 1)
			virtq_publish(&f.q); /* the third stays unpublished */
	}
	int a = dev_take(&f, 1, &w, &pieces), bb = dev_take(&f, 1, &w, &pieces);

	CHECK_EQ(dev_take(&f, 1, &w, &pieces), -1);
	f.q.vr.used->ring[0] = (struct vring_used_elem){ (uint32_t)a, 32 };
	f.q.vr.used->ring[1] = (struct vring_used_elem){ (uint32_t)bb, 32 };
	f.q.vr.used->ring[2] = (struct vring_used_elem){ 2, 32 }; /* the unpublished one */
	f.q.vr.used->idx = 3;
	CHECK_EQ(virtq_get(&f.q, &c, &len), -EPROTO);
	CHECK(f.q.broken);
	teardown(&f);
	setup(&f, 4, false, false);
	for (unsigned i = 0; i < 2; i++) {
		struct virtq_buf x = { (uintptr_t)buf[i], 32, true };

		CHECK_EQ(virtq_add(&f.q, &x, 1, &cookies[i]), 0);
	}
	virtq_publish(&f.q);
	a = dev_take(&f, 1, &w, &pieces);
	bb = dev_take(&f, 1, &w, &pieces);
	f.q.vr.used->ring[0] = (struct vring_used_elem){ (uint32_t)bb, 32 };
	f.q.vr.used->ring[1] = (struct vring_used_elem){ (uint32_t)a, 32 };
	f.q.vr.used->idx = 2;
	CHECK_EQ(virtq_get(&f.q, &c, &len), 1);
	CHECK_EQ(virtq_get(&f.q, &c, &len), 1);
	CHECK(!f.q.broken && f.q.bad == 0 && f.q.heads == 0);
	teardown(&f);
}

/* EVENT_IDX: a burst of adds costs one notification, and only when the device asked for
 * one; interrupts come only when the driver's used_event is crossed. */
TEST(virtq_event_idx_suppression)
{
	struct fake f;
	static uint8_t buf[64][16];
	static int cookies[64];
	uint32_t w;
	unsigned pieces, notifies = 0;

	setup(&f, 64, false, true);
	for (unsigned i = 0; i < 16; i++) {
		struct virtq_buf b = { (uintptr_t)buf[i], 16, true };

		CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[i]), 0);
	}
	notifies += virtq_publish(&f.q); /* avail_event 0: crossed, notify */
	CHECK_EQ(notifies, 1);
	/* the device has not caught up (avail_event still 0): more adds need no notify */
	struct virtq_buf b = { (uintptr_t)buf[16], 16, true };

	CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[16]), 0);
	CHECK(!virtq_publish(&f.q));
	/* the device takes everything and sets avail_event past it: the next add notifies */
	for (unsigned i = 0; i < 17; i++)
		dev_take(&f, 0, &w, &pieces);
	CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[17]), 0);
	CHECK(virtq_publish(&f.q));

	/* interrupts off: the device completes 17 buffers; at most one interrupt */
	virtq_irq_off(&f.q);
	for (unsigned i = 0; i < 17; i++)
		dev_put(&f, i, 16);
	CHECK(f.interrupts <= 1);
	unsigned got = 0;
	void *c;
	uint32_t len;

	while (virtq_get(&f.q, &c, &len) == 1)
		got++;
	CHECK_EQ(got, 17);
	/* on again: nothing pending, and the next completion interrupts exactly once */
	CHECK(!virtq_irq_on(&f.q));
	unsigned before = f.interrupts;

	dev_take(&f, 0, &w, &pieces);
	dev_put(&f, 17, 16);
	CHECK_EQ(f.interrupts, before + 1);
	/* a completion that arrived while interrupts were off is seen when they go on */
	virtq_get(&f.q, &c, &len);
	virtq_irq_off(&f.q);
	CHECK_EQ(virtq_add(&f.q, &b, 1, &cookies[18]), 0);
	virtq_publish(&f.q);
	int h = dev_take(&f, 0, &w, &pieces);

	dev_put(&f, (uint32_t)h, 16);
	CHECK(virtq_irq_on(&f.q));
	teardown(&f);
}

/* Many random rounds: chains of random length, completions in random order; everything
 * comes back exactly once and the free count always adds up. */
TEST(virtq_random_soak)
{
	struct fake f;
	static uint8_t mem[VIRTQ_IND_MAX][8];
	static int cookies[128];
	int owner[128] = { 0 }; /* 1: with the device */
	int taken[128], ntaken = 0;
	uint64_t seed = 12345;

	for (int mode = 0; mode < 2; mode++) {
		setup(&f, 128, mode == 1, mode == 1);
		memset(owner, 0, sizeof(owner));
		ntaken = 0;
		for (int round = 0; round < 20000; round++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			unsigned r = (unsigned)(seed >> 33);

			if (r % 3 == 0 && ntaken) { /* the device completes a random one */
				unsigned k = r / 3 % (unsigned)ntaken;

				dev_put(&f, (uint32_t)taken[k], 0);
				taken[k] = taken[--ntaken];
			} else if (r % 3 == 1) { /* the driver reaps */
				void *c;
				uint32_t len;
				int rc;

				while ((rc = virtq_get(&f.q, &c, &len)) == 1) {
					int i = (int)((int *)c - cookies);

					CHECK(owner[i] == 1);
					owner[i] = 0;
				}
				CHECK_EQ(rc, 0);
			} else { /* the driver adds; the device takes what is published */
				unsigned n = 1 + r / 3 % 5, i = r % 128;
				struct virtq_buf b[5];

				for (unsigned k = 0; k < n; k++)
					b[k] = (struct virtq_buf){ (uintptr_t)mem[k], 8, k > 0 };
				if (!owner[i] && virtq_add(&f.q, b, n, &cookies[i]) == 0)
					owner[i] = 1;
				virtq_publish(&f.q);
				uint32_t w;
				unsigned pieces;
				int h;

				while ((h = dev_take(&f, 0, &w, &pieces)) >= 0)
					taken[ntaken++] = h;
			}
		}
		unsigned held = 0;

		for (int i = 0; i < 128; i++)
			held += owner[i];
		CHECK_EQ(f.q.bad, 0);
		CHECK(held == 0 || f.q.num_free < 128);
		/* hand everything back: detach finds exactly the rest */
		unsigned detached = 0;

		while (virtq_detach(&f.q))
			detached++;
		CHECK_EQ(detached, held);
		CHECK_EQ(f.q.num_free, 128);
		teardown(&f);
	}
}
