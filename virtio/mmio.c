/* virtio over MMIO (virtio 1.2, 4.2): version 2 (modern) and version 1 (legacy: a page
 * frame number per queue), as QEMU's microvm offers them. Devices come from the command
 * line (`virtio_mmio.device=`, see mmio_cmdline.c) or else from the ACPI DSDT. One
 * interrupt line per device (level, active high unless ACPI says otherwise); its handler
 * acknowledges the device and runs every queue's handler. */
#include "virtio/virtio.h"

#include "arch_x86_64/acpi_cpus.h"
#include "arch_x86_64/phys.h"
#include "common/console.h"
#include "lib/acpi.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "virtio/mmio_cmdline.h"

#include <linux/virtio_mmio.h>

#define MAGIC 0x74726976 /* "virt" */
#define MAX_DEVS 32

struct vmmio {
	struct virtio_dev vd;
	volatile uint8_t *regs;
	uint32_t size;
	unsigned version;
	struct irq irq;
	bool bound;
};

#define VM(d) container_of(d, struct vmmio, vd)

static uint32_t rd(struct vmmio *m, unsigned off)
{
	return *(volatile uint32_t *)(m->regs + off);
}

static void wr(struct vmmio *m, unsigned off, uint32_t v)
{
	*(volatile uint32_t *)(m->regs + off) = v;
}

static void mmio_irq(void *arg)
{
	struct vmmio *m = arg;
	uint32_t st = rd(m, VIRTIO_MMIO_INTERRUPT_STATUS);

	if (!st)
		return;
	wr(m, VIRTIO_MMIO_INTERRUPT_ACK, st);
	if (st & VIRTIO_MMIO_INT_VRING)
		virtio_all_queues(&m->vd);
}

static uint8_t get_status(struct virtio_dev *d)
{
	return (uint8_t)rd(VM(d), VIRTIO_MMIO_STATUS);
}

static void set_status(struct virtio_dev *d, uint8_t s)
{
	wr(VM(d), VIRTIO_MMIO_STATUS, s);
}

static uint64_t get_features(struct virtio_dev *d)
{
	struct vmmio *m = VM(d);

	wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	uint64_t lo = rd(m, VIRTIO_MMIO_DEVICE_FEATURES);

	if (m->version == 1)
		return lo;
	wr(m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	return lo | (uint64_t)rd(m, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
}

static void set_features(struct virtio_dev *d, uint64_t f)
{
	struct vmmio *m = VM(d);

	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	if (m->version == 1)
		return;
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(m, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static uint64_t config(struct virtio_dev *d, unsigned off, unsigned len)
{
	struct vmmio *m = VM(d);
	volatile uint8_t *p = m->regs + VIRTIO_MMIO_CONFIG + off;
	uint64_t v;
	uint32_t gen;

	if (VIRTIO_MMIO_CONFIG + off + len > m->size)
		return 0;
	do {
		gen = m->version == 1 ? 0 : rd(m, VIRTIO_MMIO_CONFIG_GENERATION);
		v = 0;
		for (unsigned i = 0; i < len; i++) /* bytes: legacy fields may be unaligned */
			v |= (uint64_t)p[i] << (8 * i);
	} while (m->version != 1 && gen != rd(m, VIRTIO_MMIO_CONFIG_GENERATION));
	return v;
}

static unsigned queue_max(struct virtio_dev *d, unsigned idx)
{
	struct vmmio *m = VM(d);

	wr(m, VIRTIO_MMIO_QUEUE_SEL, idx);
	if (m->version == 1 ? rd(m, VIRTIO_MMIO_QUEUE_PFN) : rd(m, VIRTIO_MMIO_QUEUE_READY))
		return 0; /* already in use: not ours to take */
	return rd(m, VIRTIO_MMIO_QUEUE_NUM_MAX);
}

static int queue_enable(struct virtio_dev *d, struct virtq *q)
{
	struct vmmio *m = VM(d);

	if (!m->bound) {
		int rc = hal->irq_bind(&m->irq);

		if (rc)
			return rc;
		m->bound = true;
	}
	wr(m, VIRTIO_MMIO_QUEUE_SEL, q->index);
	wr(m, VIRTIO_MMIO_QUEUE_NUM, q->num);
	q->notify_data = q->index;
	if (m->version == 1) {
		if (q->desc_pa >> 44)
			return -ERANGE;
		wr(m, VIRTIO_MMIO_QUEUE_ALIGN, VIRTQ_ALIGN);
		wr(m, VIRTIO_MMIO_QUEUE_PFN, (uint32_t)(q->desc_pa / PAGE_SIZE));
		return 0;
	}
	wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)q->desc_pa);
	wr(m, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(q->desc_pa >> 32));
	wr(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)q->avail_pa);
	wr(m, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(q->avail_pa >> 32));
	wr(m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)q->used_pa);
	wr(m, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(q->used_pa >> 32));
	wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
	return 0;
}

static void notify(struct virtio_dev *d, struct virtq *q)
{
	wr(VM(d), VIRTIO_MMIO_QUEUE_NOTIFY, q->notify_data);
}

static void reset(struct virtio_dev *d)
{
	struct vmmio *m = VM(d);

	wr(m, VIRTIO_MMIO_STATUS, 0);
	for (unsigned i = 0; i < 1000000 && rd(m, VIRTIO_MMIO_STATUS); i++)
		;
	if (m->bound) {
		hal->irq_unbind(&m->irq);
		m->bound = false;
	}
}

static const struct virtio_transport transport = {
	.get_status = get_status,
	.set_status = set_status,
	.get_features = get_features,
	.set_features = set_features,
	.config = config,
	.queue_max = queue_max,
	.queue_enable = queue_enable,
	.notify = notify,
	.reset = reset,
};

static void add(uint64_t base, uint32_t size, uint32_t gsi, bool edge, bool active_high)
{
	volatile uint8_t *regs = size >= 0x100 ? mmio_map(base, size) : NULL;

	if (!regs) {
		kprintf("virtio: mmio %#lx: %u bytes not mappable\n", base, size);
		return;
	}
	uint32_t magic = *(volatile uint32_t *)regs, version = *(volatile uint32_t *)(regs + 4);
	uint32_t type = *(volatile uint32_t *)(regs + VIRTIO_MMIO_DEVICE_ID);

	if (magic != MAGIC || (version != 1 && version != 2)) {
		kprintf("virtio: mmio %#lx: magic %#x version %u: not a virtio device\n", base,
			magic, version);
		return;
	}
	if (!type)
		return; /* a transport with nothing behind it */
	struct vmmio *m = kcalloc(1, sizeof(*m));

	if (!m)
		return;
	m->regs = regs;
	m->size = size;
	m->version = version;
	m->vd.t = &transport;
	m->vd.tp = m;
	m->vd.type = type;
	m->vd.modern = version == 2;
	m->irq = (struct irq){ .kind = IRQ_GSI, .num = gsi, .cpu = 0, .fn = mmio_irq, .arg = m,
			       .edge = edge, .active_high = active_high };
	ksnprintf(m->vd.where, sizeof(m->vd.where), "mmio %#lx v%u (%s), GSI %u", base, version,
		  version == 1 ? "legacy" : "modern", gsi);
	if (version == 1)
		wr(m, VIRTIO_MMIO_GUEST_PAGE_SIZE, PAGE_SIZE);
	virtio_found(&m->vd);
}

void virtio_mmio_probe(const char *cmdline, uint64_t rsdp)
{
	static struct virtio_mmio_loc loc[MAX_DEVS];
	static struct acpi_mmio_dev adev[MAX_DEVS];
	unsigned bad;
	int n = virtio_mmio_cmdline(cmdline, loc, MAX_DEVS, &bad);

	if (bad)
		kprintf("virtio: %u malformed virtio_mmio.device= value%s ignored\n", bad,
			bad == 1 ? "" : "s");
	if (n > 0) {
		for (int i = 0; i < n; i++)
			add(loc[i].base, loc[i].size, loc[i].irq, false, true);
		return;
	}
	uint32_t len;
	const char *why;
	const void *dsdt = rsdp ? acpi_find_dsdt(rsdp, phys_map, &len, &why) : NULL;

	if (!dsdt)
		return;
	n = acpi_dsdt_virtio_mmio(dsdt, len, adev, MAX_DEVS);
	for (int i = 0; i < n && i < MAX_DEVS; i++)
		add(adev[i].base, adev[i].size, adev[i].gsi, adev[i].edge, !adev[i].active_low);
}
