/* The split virtqueue; see virtq.h. Barriers: the device runs concurrently (another host
 * thread), so avail entries are written before avail->idx (release), used entries are read
 * after used->idx (acquire), and publishing avail->idx is fenced against reading the
 * device's avail_event or flags (a store then a load: a full fence). */
#include "virtio/virtq.h"

#include "lib/errno.h"
#include "lib/string.h"

#define NONE 0xffff

static inline void mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

size_t virtq_ring_bytes(unsigned num)
{
	return ALIGN_UP((size_t)vring_size(num, VIRTQ_ALIGN), VIRTQ_ALIGN);
}

int virtq_init(struct virtq *q, unsigned index, unsigned num, void *ring, uint64_t ring_pa,
	       struct virtq_slot *slots, struct vring_desc *ind, uint64_t ind_pa,
	       bool event_idx)
{
	if (!num || num > 32768 || (num & (num - 1)))
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	vring_init(&q->vr, num, ring, VIRTQ_ALIGN);
	q->num = (uint16_t)num;
	q->index = (uint16_t)index;
	q->desc_pa = ring_pa;
	q->avail_pa = ring_pa + (uint64_t)((char *)q->vr.avail - (char *)ring);
	q->used_pa = ring_pa + (uint64_t)((char *)q->vr.used - (char *)ring);
	q->slots = slots;
	q->ind = ind;
	q->ind_pa = ind_pa;
	q->indirect = ind != NULL;
	q->event_idx = event_idx;
	for (unsigned i = 0; i < num; i++)
		slots[i] = (struct virtq_slot){ .next = (uint16_t)(i + 1 < num ? i + 1 : NONE) };
	q->free_head = 0;
	q->num_free = (uint16_t)num;
	return 0;
}

static void set_desc(struct vring_desc *d, const struct virtq_buf *b, uint16_t next, bool more)
{
	d->addr = b->addr;
	d->len = b->len;
	d->flags = (uint16_t)((b->device_writes ? VRING_DESC_F_WRITE : 0) |
			      (more ? VRING_DESC_F_NEXT : 0));
	d->next = more ? next : 0;
}

int virtq_add(struct virtq *q, const struct virtq_buf *b, unsigned n, void *cookie)
{
	uint32_t writable = 0;

	if (!n || n > VIRTQ_IND_MAX || !cookie)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (!b[i].device_writes && i && b[i - 1].device_writes)
			return -EINVAL;
		if (b[i].device_writes)
			writable += b[i].len;
	}
	bool ind = q->indirect && n > 1;
	unsigned need = ind ? 1 : n;

	if (need > q->num_free)
		return -ENOSPC;
	uint16_t head = q->free_head, d = head;

	if (ind) {
		struct vring_desc *t = q->ind + (size_t)head * VIRTQ_IND_MAX;

		for (unsigned i = 0; i < n; i++)
			set_desc(&t[i], &b[i], (uint16_t)(i + 1), i + 1 < n);
		q->vr.desc[head] = (struct vring_desc){
			.addr = q->ind_pa + (uint64_t)head * VIRTQ_IND_MAX * sizeof(*t),
			.len = (uint32_t)(n * sizeof(*t)),
			.flags = VRING_DESC_F_INDIRECT,
		};
		q->free_head = q->slots[head].next;
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint16_t next = q->slots[d].next;

			set_desc(&q->vr.desc[d], &b[i], next, i + 1 < n);
			if (i + 1 < n)
				d = next;
		}
		q->free_head = q->slots[d].next;
		q->slots[d].next = NONE; /* the chain's end */
	}
	q->num_free = (uint16_t)(q->num_free - need);
	q->heads++;
	q->slots[head].cookie = cookie;
	q->slots[head].writable = writable;
	q->slots[head].ndesc = (uint16_t)need;
	q->vr.avail->ring[q->avail_idx & (q->num - 1)] = head;
	q->avail_idx++;
	return 0;
}

bool virtq_publish(struct virtq *q)
{
	uint16_t old = q->published, now = q->avail_idx;

	if (old == now)
		return false;
	__atomic_store_n(&q->vr.avail->idx, now, __ATOMIC_RELEASE);
	q->published = now;
	mb();
	if (q->event_idx)
		return vring_need_event(READ_ONCE(vring_avail_event(&q->vr)), now, old);
	return !(READ_ONCE(q->vr.used->flags) & VRING_USED_F_NO_NOTIFY);
}

static void free_chain(struct virtq *q, uint16_t head)
{
	uint16_t d = head;

	for (unsigned i = 1; i < q->slots[head].ndesc; i++)
		d = q->slots[d].next;
	q->slots[d].next = q->free_head;
	q->free_head = head;
	q->num_free = (uint16_t)(q->num_free + q->slots[head].ndesc);
	q->slots[head].cookie = NULL;
	q->slots[head].ndesc = 0;
	q->heads--;
}

/* The device lied (virtq.h): the queue is broken and the caller told once. */
static int lie(struct virtq *q, int err)
{
	q->bad++;
	q->broken = true;
	return err;
}

unsigned virtq_pending(const struct virtq *q)
{
	if (q->broken)
		return 0;
	return (uint16_t)(__atomic_load_n(&q->vr.used->idx, __ATOMIC_ACQUIRE) - q->last_used);
}

int virtq_get(struct virtq *q, void **cookie, uint32_t *len)
{
	*cookie = NULL;
	if (q->broken)
		return 0;
	uint16_t used = __atomic_load_n(&q->vr.used->idx, __ATOMIC_ACQUIRE);

	if (used == q->last_used)
		return 0;
	/* Each used entry returns one buffer the device holds (2.7.8): those added and
	 * published, not yet returned. An index beyond them would make entries from an
	 * earlier lap of the ring, naming buffers given out again since, look like
	 * completions: checking the id alone cannot catch that. */
	uint16_t held = (uint16_t)(q->heads - (uint16_t)(q->avail_idx - q->published));

	if ((uint16_t)(used - q->last_used) > held)
		return lie(q, -EPROTO);
	struct vring_used_elem e = q->vr.used->ring[q->last_used & (q->num - 1)];

	q->last_used++;
	if (q->event_idx && !q->irq_off)
		__atomic_store_n(&vring_used_event(&q->vr), q->last_used, __ATOMIC_RELEASE);
	/* only a head we gave out carries a cookie: an id out of range, a free descriptor,
	 * one inside a chain, or a buffer already returned has none */
	if (e.id >= q->num || !q->slots[e.id].cookie)
		return lie(q, -EPROTO);
	uint32_t writable = q->slots[e.id].writable;

	*cookie = q->slots[e.id].cookie;
	free_chain(q, (uint16_t)e.id);
	if (e.len > writable)
		return lie(q, -EIO);
	*len = e.len;
	return 1;
}

bool virtq_irq_on(struct virtq *q)
{
	q->irq_off = false;
	if (q->event_idx)
		__atomic_store_n(&vring_used_event(&q->vr), q->last_used, __ATOMIC_RELEASE);
	else
		WRITE_ONCE(q->vr.avail->flags, q->vr.avail->flags & ~VRING_AVAIL_F_NO_INTERRUPT);
	mb();
	return virtq_pending(q) != 0;
}

void virtq_irq_arm(struct virtq *q)
{
	if (q->event_idx)
		__atomic_store_n(&vring_used_event(&q->vr),
				 __atomic_load_n(&q->last_used, __ATOMIC_ACQUIRE), __ATOMIC_SEQ_CST);
	else
		__atomic_and_fetch(&q->vr.avail->flags, (uint16_t)~VRING_AVAIL_F_NO_INTERRUPT,
				   __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void virtq_irq_off(struct virtq *q)
{
	q->irq_off = true;
	/* with EVENT_IDX the device ignores the flag: used_event stays where it was, so at
	 * most one more interrupt comes */
	if (!q->event_idx)
		WRITE_ONCE(q->vr.avail->flags, q->vr.avail->flags | VRING_AVAIL_F_NO_INTERRUPT);
}

void *virtq_detach(struct virtq *q)
{
	for (unsigned i = 0; i < q->num; i++) {
		void *c = q->slots[i].cookie;

		if (c) {
			free_chain(q, (uint16_t)i);
			return c;
		}
	}
	return NULL;
}
