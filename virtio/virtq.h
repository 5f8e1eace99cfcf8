/* The split virtqueue (virtio 1.2, 2.7): pure ring logic, no transport and no allocation,
 * so the host tests drive it against a fake device.
 *
 * A buffer is a chain of up to VIRTQ_IND_MAX pieces (device-readable ones first). With
 * VIRTIO_RING_F_INDIRECT_DESC a chain of more than one piece takes one ring descriptor
 * and a table of its own; otherwise it takes one descriptor per piece. Descriptors come
 * from a free list kept in our own memory (never read back from the ring, which the
 * device can write). Buffers are made available in batches: virtq_add several, then one
 * virtq_publish, which says whether the device wants a notification (EVENT_IDX: the
 * device's avail_event; otherwise its NO_NOTIFY flag). Used entries are checked before
 * use: a used index that moved past the buffers the device holds, an id that is not a
 * chain we gave the device (out of range, never given, already returned), or a length
 * beyond what the chain lets the device write is a device that lies. It is counted in
 * `bad`, the queue is `broken` from then on (nothing more is taken from its used ring),
 * and the driver fails or resets the device. */
#ifndef VIRTIO_VIRTQ_H
#define VIRTIO_VIRTQ_H

#include "lib/compiler.h"

#include <linux/virtio_ring.h>

#define VIRTQ_IND_MAX 32   /* pieces of one buffer */
#define VIRTQ_ALIGN 4096   /* the legacy layout's used-ring alignment (also fine for 1.x) */

struct virtq_buf {
	uint64_t addr; /* what the device sees (guest physical) */
	uint32_t len;
	bool device_writes;
};

/* per descriptor (our shadow of what the ring holds) */
struct virtq_slot {
	void *cookie;	   /* a head: the buffer's owner token; NULL when free */
	uint32_t writable; /* a head: bytes the device may write into the chain */
	uint16_t ndesc;	   /* a head: descriptors the chain took in the ring */
	uint16_t next;	   /* the free list, and chains */
};

struct virtq {
	struct vring vr;
	uint16_t num, index;
	uint64_t desc_pa, avail_pa, used_pa;
	struct virtq_slot *slots;    /* num entries */
	struct vring_desc *ind;	     /* num tables of VIRTQ_IND_MAX, or NULL */
	uint64_t ind_pa;
	bool indirect, event_idx, irq_off;
	uint16_t free_head, num_free;
	uint16_t avail_idx;  /* the next avail entry we fill */
	uint16_t published;  /* avail->idx as we last wrote it */
	uint16_t last_used;  /* the next used entry we take */
	uint16_t heads;	     /* buffers added and not yet returned */
	bool broken;	     /* the device lied: its used ring is not read any more */
	uint64_t bad;	     /* lies seen (at most one: the first breaks the queue) */
	/* the transport's, for notifications */
	volatile void *notify_addr;
	uint32_t notify_data;
};

/* Bytes of ring memory for num entries (num a power of two); VIRTQ_ALIGN-aligned. */
size_t virtq_ring_bytes(unsigned num);
/* Lays the ring out in zeroed memory `ring` (device address ring_pa). slots: num
 * entries. ind/ind_pa: num * VIRTQ_IND_MAX descriptors for indirect tables, or NULL (no
 * indirect descriptors). 0, or -EINVAL (num not a power of two up to 32768). */
int virtq_init(struct virtq *q, unsigned index, unsigned num, void *ring, uint64_t ring_pa,
	       struct virtq_slot *slots, struct vring_desc *ind, uint64_t ind_pa,
	       bool event_idx);
/* Adds a buffer of n pieces (readable ones first) with a non-NULL cookie; the device sees
 * it after virtq_publish. 0, -ENOSPC (not enough free descriptors: reap first) or -EINVAL
 * (n out of range, a readable piece after a writable one, NULL cookie). */
int virtq_add(struct virtq *q, const struct virtq_buf *b, unsigned n, void *cookie);
/* Makes what was added visible; true when the device must be notified. */
bool virtq_publish(struct virtq *q);
/* The next used buffer: 1 with *cookie and *len (bytes written), 0 when there is none
 * (or the queue is broken). A lie breaks the queue and is returned once: -EIO when the
 * device reported a length beyond the buffer (*cookie is returned; its data and the
 * buffer itself are the device's until it is reset), -EPROTO when the used index ran
 * past the buffers the device holds or the entry names no buffer of ours (*cookie NULL).
 * After either, the driver must stop or reset the device before it reuses any buffer. */
int virtq_get(struct virtq *q, void **cookie, uint32_t *len);
/* Used entries waiting (0 when broken). */
unsigned virtq_pending(const struct virtq *q);
/* Interrupts for this queue on (true: entries are already waiting, poll again) or off. */
bool virtq_irq_on(struct virtq *q);
void virtq_irq_off(struct virtq *q);
/* An interrupt at the next used entry, though irq_off stays: no lock (busy polling's
 * rx_arm, from a CPU about to halt; the owner may be taking entries meanwhile, which
 * costs at most an interrupt it did not need). The caller then looks (virtq_pending). */
void virtq_irq_arm(struct virtq *q);
/* After a device reset: the cookie of some buffer still owned by the device (and forgets
 * it), or NULL when none is left. */
void *virtq_detach(struct virtq *q);

#endif
