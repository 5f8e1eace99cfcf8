/* The device model shared by the transports: status handshake, feature negotiation,
 * queue memory, drivers, and the reset at shutdown (virtio 1.2, 3.1). */
#include "virtio/virtio.h"

#include "arch_x86_64/layout.h"
#include "common/console.h"
#include "common/panic.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/mm.h"

static struct virtio_dev *devs;
static unsigned ndevs;

uint64_t virtio_pa(const void *va)
{
	uint64_t pfn = mm_va_pfn(va);

	if (pfn != UINT64_MAX)
		return pfn * PAGE_SIZE + ((uint64_t)va & (PAGE_SIZE - 1));
	if ((uint64_t)va >= KERNEL_VBASE)
		return kernel_pa(va);
	panic("virtio: %p is neither in the direct map nor in the kernel image", va);
}

static void set_status(struct virtio_dev *d, uint8_t bits)
{
	d->t->set_status(d, d->t->get_status(d) | bits);
}

int virtio_start(struct virtio_dev *d, uint64_t wanted, uint64_t required)
{
	const char *why;
	int rc = virtio_negotiate(d, wanted, required, &why);

	if (rc)
		kprintf("virtio: %s: %s (offered %#lx, wanted %#lx, required %#lx): FAILED\n",
			d->where, why, d->offered, wanted, required);
	return rc;
}

static unsigned order_of(size_t bytes)
{
	unsigned o = 0;

	while ((PAGE_SIZE << o) < bytes)
		o++;
	return o;
}

int virtio_queue(struct virtio_dev *d, unsigned idx, struct virtq *q, unsigned num,
		 bool indirect, void (*fn)(void *arg), void *arg)
{
	unsigned max = idx < VIRTIO_MAX_QUEUES ? d->t->queue_max(d, idx) : 0;

	if (!max || (max & (max - 1)))
		return -ENODEV;
	if (d->t->fixed_size || num > max)
		num = max;
	while (num & (num - 1))
		num &= num - 1;
	indirect = indirect && (d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC));
	size_t ring_bytes = virtq_ring_bytes(num);
	size_t ind_bytes = indirect ? (size_t)num * VIRTQ_IND_MAX * sizeof(struct vring_desc) : 0;
	int64_t ring = mm_frames_alloc(order_of(ring_bytes));
	int64_t ind = ind_bytes ? mm_frames_alloc(order_of(ind_bytes)) : -1;
	struct virtq_slot *slots = kcalloc(num, sizeof(*slots));

	if (ring < 0 || (ind_bytes && ind < 0) || !slots) {
		if (ring >= 0)
			mm_frames_free((uint64_t)ring, order_of(ring_bytes));
		if (ind >= 0)
			mm_frames_free((uint64_t)ind, order_of(ind_bytes));
		kfree(slots);
		return -ENOMEM;
	}
	void *ring_va = mm_frame_va((uint64_t)ring);

	memset(ring_va, 0, PAGE_SIZE << order_of(ring_bytes));
	virtq_init(q, idx, num, ring_va, (uint64_t)ring * PAGE_SIZE, slots,
		   ind_bytes ? mm_frame_va((uint64_t)ind) : NULL, (uint64_t)ind * PAGE_SIZE,
		   d->features & (1ull << VIRTIO_RING_F_EVENT_IDX));
	d->vq[idx] = q;
	d->vq_fn[idx] = fn;
	d->vq_arg[idx] = arg;
	/* queues are never taken down while the kernel runs (a reset stops the device), so
	 * their memory is not given back */
	return d->t->queue_enable(d, q);
}

void virtio_ready(struct virtio_dev *d)
{
	set_status(d, VIRTIO_CONFIG_S_DRIVER_OK);
}

void virtio_kick(struct virtio_dev *d, struct virtq *q)
{
	if (virtq_publish(q)) {
		d->t->notify(d, q);
		d->kicks++;
	}
}

void virtio_all_queues(struct virtio_dev *d)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (d->vq_fn[i])
			d->vq_fn[i](d->vq_arg[i]);
}

void virtio_found(struct virtio_dev *d)
{
	int rc;

	switch (d->type) {
	case VIRTIO_ID_NET:
		rc = virtio_net_probe(d);
		break;
	case VIRTIO_ID_BLOCK:
		rc = virtio_blk_probe(d);
		break;
	default:
		kprintf("virtio: %s: device type %u: no driver\n", d->where, d->type);
		d->t->reset(d);
		return;
	}
	if (rc) {
		kprintf("virtio: %s: %s driver failed (%d)\n", d->where,
			d->type == VIRTIO_ID_NET ? "net" : "blk", rc);
		if (!(d->t->get_status(d) & VIRTIO_CONFIG_S_FAILED))
			set_status(d, VIRTIO_CONFIG_S_FAILED);
		return;
	}
	d->next = devs;
	devs = d;
	ndevs++;
}

void virtio_probe(const char *cmdline, uint64_t rsdp)
{
	virtio_pci_probe(cmdline);
	virtio_mmio_probe(cmdline, rsdp);
}

unsigned virtio_count(void)
{
	return ndevs;
}

void virtio_stop(void)
{
	unsigned n = 0;

	for (struct virtio_dev *d = devs; d; d = d->next) {
		if (d->stop)
			d->stop(d);
		d->t->reset(d);
		n++;
	}
	if (n)
		kprintf("virtio: %u device%s reset\n", n, n == 1 ? "" : "s");
}
