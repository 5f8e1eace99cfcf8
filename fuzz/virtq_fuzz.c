/* virtio/virtq.c: the driver's side of a split virtqueue against a device that writes
 * whatever the input says into the used ring (entries and index) and anywhere else in the
 * shared ring memory, between the driver's adds, publishes, gets and detaches. Whatever
 * the device does: virtq_get and virtq_detach hand back only buffers that were given to
 * the device and not yet returned, each once, with a length within what the buffer lets
 * the device write; and the descriptors stay partitioned between the free list and the
 * outstanding chains (our shadow in slots[], never the ring). */
#include "fuzz/fuzz.h"
#include "lib/errno.h"
#include "virtio/virtq.h"

#define MAX_BUFS 64

struct buf {
	bool out; /* given to the device, not yet returned */
	uint32_t writable;
	unsigned need; /* descriptors it takes */
};

static struct buf bufs[MAX_BUFS];

static struct buf *owner(void *cookie)
{
	struct buf *b = cookie;

	FUZZ_CHECK(b >= bufs && b < bufs + MAX_BUFS && b->out);
	return b;
}

/* every descriptor is on the free list or in exactly one outstanding chain */
FUZZ_NOCOV static void check_partition(const struct virtq *q)
{
	static uint8_t seen[32768];
	unsigned count = 0, outstanding = 0;
	uint16_t d = q->free_head;

	memset(seen, 0, q->num);
	for (unsigned i = 0; i < q->num_free; i++) {
		FUZZ_CHECK(d < q->num && !seen[d]);
		seen[d] = 1;
		count++;
		d = q->slots[d].next;
	}
	for (unsigned h = 0; h < q->num; h++) {
		if (!q->slots[h].cookie)
			continue;
		struct buf *b = owner(q->slots[h].cookie);

		FUZZ_CHECK(q->slots[h].ndesc == b->need && q->slots[h].writable == b->writable);
		outstanding++;
		d = (uint16_t)h;
		for (unsigned i = 0; i < b->need; i++) {
			FUZZ_CHECK(d < q->num && !seen[d]);
			seen[d] = 1;
			count++;
			d = q->slots[d].next;
		}
	}
	FUZZ_CHECK(count == q->num);
	for (unsigned i = 0; i < MAX_BUFS; i++)
		outstanding -= bufs[i].out;
	FUZZ_CHECK(outstanding == 0);
}

static void add(struct virtq *q, struct fz *f)
{
	struct virtq_buf v[VIRTQ_IND_MAX];
	uint8_t b = fz_u8(f);
	unsigned n = b & 0x80 ? 1 + fz_u8(f) % VIRTQ_IND_MAX : 1 + b % 4,
		 readable = fz_u8(f) % (n + 1);
	uint32_t writable = 0;
	struct buf *slot = NULL;

	for (unsigned i = 0; i < MAX_BUFS && !slot; i++)
		slot = bufs[i].out ? NULL : &bufs[i];
	if (!slot)
		return;
	for (unsigned i = 0; i < n; i++) {
		v[i] = (struct virtq_buf){0x100000 + i * 0x1000, fz_u16(f), i >= readable};
		writable += v[i].device_writes ? v[i].len : 0;
	}
	unsigned need = q->indirect && n > 1 ? 1 : n, had = q->num_free;
	int rc = virtq_add(q, v, n, slot);

	if (need > had) {
		FUZZ_CHECK(rc == -ENOSPC && q->num_free == had);
		return;
	}
	FUZZ_CHECK(rc == 0 && q->num_free == had - need);
	*slot = (struct buf){true, writable, need};
}

static void get(struct virtq *q)
{
	void *cookie = (void *)1;
	uint32_t len = 0xdeadbeef;
	uint64_t bad = q->bad;
	bool broken = q->broken;
	uint16_t used = q->vr.used->idx, last = q->last_used;
	int rc = virtq_get(q, &cookie, &len);

	if (rc == 0) {
		/* nothing used, or a queue a lie broke: nothing more comes from it */
		FUZZ_CHECK(cookie == NULL && (broken || used == last));
		return;
	}
	FUZZ_CHECK(!broken); /* a lie is returned once */
	if (rc == -EPROTO) {
		/* an index past what the device holds (not consumed), or an entry naming no
		 * buffer of ours (consumed) */
		FUZZ_CHECK(cookie == NULL && q->bad == bad + 1 && q->broken);
		FUZZ_CHECK(q->last_used == last || q->last_used == (uint16_t)(last + 1));
		return;
	}
	FUZZ_CHECK(q->last_used == (uint16_t)(last + 1));
	struct buf *b = owner(cookie);

	if (rc == 1)
		FUZZ_CHECK(len <= b->writable && q->bad == bad);
	else
		FUZZ_CHECK(rc == -EIO && q->bad == bad + 1 && q->broken);
	b->out = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint8_t cfg = fz_u8(&f);
	unsigned num = 1u << (cfg % 6);
	bool indirect = cfg & 0x40, event_idx = cfg & 0x80;
	size_t ring_bytes = virtq_ring_bytes(num);
	uint8_t *ring = aligned_alloc(VIRTQ_ALIGN, ring_bytes);
	struct virtq_slot *slots = calloc(num, sizeof(*slots));
	struct vring_desc *ind =
	    indirect ? calloc((size_t)num * VIRTQ_IND_MAX, sizeof(*ind)) : NULL;
	struct virtq q;

	memset(ring, 0, ring_bytes);
	memset(bufs, 0, sizeof(bufs));
	FUZZ_CHECK(virtq_init(&q, 0, num, ring, 0x40000000, slots, ind, 0x50000000, event_idx) ==
		   0);
	for (unsigned steps = 0; f.n && steps < 256; steps++) {
		uint8_t op = fz_u8(&f);

		switch (op % 8) {
		case 0:
			add(&q, &f);
			break;
		case 1:
			virtq_publish(&q);
			break;
		case 2: { /* the device writes a used entry: mostly a plausible id */
			uint16_t at = fz_u16(&f);
			uint8_t how = fz_u8(&f);
			uint32_t id = how & 1 ? fz_u32(&f) : fz_u8(&f) % num;

			q.vr.used->ring[at & (num - 1)] = (struct vring_used_elem){id, fz_u32(&f)};
			break;
		}
		case 3: /* the device moves used->idx: mostly a little, sometimes anywhere */
			q.vr.used->idx =
			    op & 0x80 ? fz_u16(&f) : (uint16_t)(q.vr.used->idx + op / 8 % 4);
			break;
		case 4:
			for (unsigned i = 0; i <= op / 8 % 4; i++)
				get(&q);
			break;
		case 5: { /* the device scribbles anywhere in the shared memory */
			size_t shared =
			    ring_bytes + (ind ? (size_t)num * VIRTQ_IND_MAX * sizeof(*ind) : 0);
			size_t at = fz_u32(&f) % shared;
			uint8_t v = fz_u8(&f);

			if (at < ring_bytes)
				ring[at] = v;
			else
				((uint8_t *)ind)[at - ring_bytes] = v;
			break;
		}
		case 6:
			if (op & 0x80)
				virtq_irq_off(&q);
			else
				virtq_irq_on(&q);
			FUZZ_CHECK(virtq_pending(&q) ==
				   (q.broken ? 0 : (uint16_t)(q.vr.used->idx - q.last_used)));
			break;
		case 7: {
			void *c = virtq_detach(&q);

			if (c)
				owner(c)->out = false;
			break;
		}
		}
		check_partition(&q);
	}
	/* a device reset: every buffer still out comes back once, and then nothing */
	for (void *c; (c = virtq_detach(&q));)
		owner(c)->out = false;
	for (unsigned i = 0; i < MAX_BUFS; i++)
		FUZZ_CHECK(!bufs[i].out);
	FUZZ_CHECK(q.num_free == num);
	check_partition(&q);
	free(ring);
	free(slots);
	free(ind);
	return 0;
}
