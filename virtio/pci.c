/* virtio over PCI (virtio 1.2, 4.1): the modern interface through the vendor capabilities
 * (common, notify, device configuration, each in a memory BAR), and the legacy interface
 * (I/O BAR 0) for legacy-only devices, or for transitional ones when the command line
 * says `virtio_pci=legacy`. Interrupts are MSI-X, one vector per queue, no config vector.
 * BARs were assigned at boot when the firmware left them at 0 (qboot). */
#include "virtio/virtio.h"

#include "arch_x86_64/cpu.h"
#include "arch_x86_64/pci.h"
#include "arch_x86_64/phys.h"
#include "common/console.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"

#include <linux/virtio_pci.h>

#define VENDOR 0x1af4
#define FIRST_TRANSITIONAL 0x1000
#define FIRST_MODERN 0x1040
#define LAST_MODERN 0x107f
#define SUBSYSTEM_ID 0x2e

struct vq_irq {
	struct virtio_dev *d;
	unsigned idx;
	struct irq irq;
};

struct vpci {
	struct virtio_dev vd;
	pci_bdf bdf;
	bool modern;
	volatile struct virtio_pci_common_cfg *common;
	volatile uint8_t *notify;
	uint32_t notify_mult;
	volatile uint8_t *devcfg;
	uint32_t devcfg_len;
	uint16_t io; /* legacy */
	struct pci_msix msix;
	struct vq_irq qirq[VIRTIO_MAX_QUEUES];
};

#define VP(d) container_of(d, struct vpci, vd)

static void queue_irq(void *arg)
{
	struct vq_irq *q = arg;

	if (q->d->vq_fn[q->idx])
		q->d->vq_fn[q->idx](q->d->vq_arg[q->idx]);
}

/* ---- modern */

static uint8_t m_get_status(struct virtio_dev *d)
{
	return VP(d)->common->device_status;
}

static void m_set_status(struct virtio_dev *d, uint8_t s)
{
	VP(d)->common->device_status = s;
}

static uint64_t m_get_features(struct virtio_dev *d)
{
	volatile struct virtio_pci_common_cfg *c = VP(d)->common;

	c->device_feature_select = 0;
	uint64_t lo = c->device_feature;

	c->device_feature_select = 1;
	return lo | (uint64_t)c->device_feature << 32;
}

static void m_set_features(struct virtio_dev *d, uint64_t f)
{
	volatile struct virtio_pci_common_cfg *c = VP(d)->common;

	c->guest_feature_select = 0;
	c->guest_feature = (uint32_t)f;
	c->guest_feature_select = 1;
	c->guest_feature = (uint32_t)(f >> 32);
}

static uint64_t read_cfg(volatile uint8_t *p, unsigned len)
{
	switch (len) {
	case 1:
		return *p;
	case 2:
		return *(volatile uint16_t *)p;
	case 4:
		return *(volatile uint32_t *)p;
	default:
		return *(volatile uint32_t *)p | (uint64_t) * (volatile uint32_t *)(p + 4) << 32;
	}
}

static uint64_t m_config(struct virtio_dev *d, unsigned off, unsigned len)
{
	struct vpci *v = VP(d);
	uint64_t val;
	uint8_t gen;

	if (off + len > v->devcfg_len)
		return 0;
	do { /* a field wider than the device updates atomically: read it in one generation */
		gen = v->common->config_generation;
		val = read_cfg(v->devcfg + off, len);
	} while (gen != v->common->config_generation);
	return val;
}

static unsigned m_queue_max(struct virtio_dev *d, unsigned idx)
{
	volatile struct virtio_pci_common_cfg *c = VP(d)->common;

	if (idx >= c->num_queues)
		return 0;
	c->queue_select = (uint16_t)idx;
	return c->queue_size;
}

static int bind_vector(struct vpci *v, unsigned idx)
{
	struct vq_irq *qi = &v->qirq[idx];
	int rc;

	qi->d = &v->vd;
	qi->idx = idx;
	qi->irq = (struct irq){ .kind = IRQ_MSI, .cpu = 0, .fn = queue_irq, .arg = qi };
	if ((rc = hal->irq_bind(&qi->irq)))
		return rc;
	if ((rc = pci_msix_set(&v->msix, idx, qi->irq.msi_addr, qi->irq.msi_data))) {
		hal->irq_unbind(&qi->irq);
		return rc;
	}
	return 0;
}

static int m_queue_enable(struct virtio_dev *d, struct virtq *q)
{
	struct vpci *v = VP(d);
	volatile struct virtio_pci_common_cfg *c = v->common;
	int rc;

	if ((rc = bind_vector(v, q->index)))
		return rc;
	c->queue_select = q->index;
	c->queue_size = q->num;
	c->queue_msix_vector = q->index;
	if (c->queue_msix_vector != q->index) {
		kprintf("virtio: %s: no MSI-X vector for queue %u\n", d->where, q->index);
		return -ENOSPC;
	}
	c->queue_desc_lo = (uint32_t)q->desc_pa;
	c->queue_desc_hi = (uint32_t)(q->desc_pa >> 32);
	c->queue_avail_lo = (uint32_t)q->avail_pa;
	c->queue_avail_hi = (uint32_t)(q->avail_pa >> 32);
	c->queue_used_lo = (uint32_t)q->used_pa;
	c->queue_used_hi = (uint32_t)(q->used_pa >> 32);
	q->notify_addr = v->notify + (uint32_t)c->queue_notify_off * v->notify_mult;
	q->notify_data = q->index;
	c->queue_enable = 1;
	return 0;
}

static void m_notify(struct virtio_dev *d, struct virtq *q)
{
	*(volatile uint16_t *)q->notify_addr = (uint16_t)q->notify_data;
}

static void unbind_all(struct vpci *v)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (!v->qirq[i].irq.vector)
			continue;
		pci_msix_mask(&v->msix, i);
		hal->irq_unbind(&v->qirq[i].irq);
	}
}

static void m_reset(struct virtio_dev *d)
{
	struct vpci *v = VP(d);

	v->common->device_status = 0;
	/* the reset is done when the status reads 0 again (4.1.4.3.2) */
	for (unsigned i = 0; i < 1000000 && v->common->device_status; i++)
		cpu_relax();
	unbind_all(v);
}

static const struct virtio_transport modern = {
	.get_status = m_get_status,
	.set_status = m_set_status,
	.get_features = m_get_features,
	.set_features = m_set_features,
	.config = m_config,
	.queue_max = m_queue_max,
	.queue_enable = m_queue_enable,
	.notify = m_notify,
	.reset = m_reset,
};

/* ---- legacy */

static uint8_t l_get_status(struct virtio_dev *d)
{
	return inb(VP(d)->io + VIRTIO_PCI_STATUS);
}

static void l_set_status(struct virtio_dev *d, uint8_t s)
{
	outb(VP(d)->io + VIRTIO_PCI_STATUS, s);
}

static uint64_t l_get_features(struct virtio_dev *d)
{
	return inl(VP(d)->io + VIRTIO_PCI_HOST_FEATURES);
}

static void l_set_features(struct virtio_dev *d, uint64_t f)
{
	outl(VP(d)->io + VIRTIO_PCI_GUEST_FEATURES, (uint32_t)f);
}

static uint64_t l_config(struct virtio_dev *d, unsigned off, unsigned len)
{
	uint16_t p = VP(d)->io + VIRTIO_PCI_CONFIG_OFF(1) + off;
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++) /* byte by byte: legacy fields may be unaligned */
		v |= (uint64_t)inb(p + i) << (8 * i);
	return v;
}

static unsigned l_queue_max(struct virtio_dev *d, unsigned idx)
{
	outw(VP(d)->io + VIRTIO_PCI_QUEUE_SEL, (uint16_t)idx);
	return inw(VP(d)->io + VIRTIO_PCI_QUEUE_NUM);
}

static int l_queue_enable(struct virtio_dev *d, struct virtq *q)
{
	struct vpci *v = VP(d);
	int rc;

	if ((rc = bind_vector(v, q->index)))
		return rc;
	outw(v->io + VIRTIO_PCI_QUEUE_SEL, q->index);
	outw(v->io + VIRTIO_MSI_QUEUE_VECTOR, q->index);
	if (inw(v->io + VIRTIO_MSI_QUEUE_VECTOR) != q->index) {
		kprintf("virtio: %s: no MSI-X vector for queue %u\n", d->where, q->index);
		return -ENOSPC;
	}
	if (q->desc_pa >> (32 + VIRTIO_PCI_QUEUE_ADDR_SHIFT))
		return -ERANGE; /* the legacy interface takes a 32-bit page number */
	q->notify_data = q->index;
	outl(v->io + VIRTIO_PCI_QUEUE_PFN, (uint32_t)(q->desc_pa >> VIRTIO_PCI_QUEUE_ADDR_SHIFT));
	return 0;
}

static void l_notify(struct virtio_dev *d, struct virtq *q)
{
	outw(VP(d)->io + VIRTIO_PCI_QUEUE_NOTIFY, (uint16_t)q->notify_data);
}

static void l_reset(struct virtio_dev *d)
{
	struct vpci *v = VP(d);

	outb(v->io + VIRTIO_PCI_STATUS, 0);
	(void)inb(v->io + VIRTIO_PCI_STATUS); /* the read flushes the reset */
	unbind_all(v);
}

static const struct virtio_transport legacy = {
	.get_status = l_get_status,
	.set_status = l_set_status,
	.get_features = l_get_features,
	.set_features = l_set_features,
	.config = l_config,
	.queue_max = l_queue_max,
	.fixed_size = true,
	.queue_enable = l_queue_enable,
	.notify = l_notify,
	.reset = l_reset,
};

/* ---- discovery */

static volatile uint8_t *map_cap(pci_bdf d, unsigned cap, uint32_t *len)
{
	unsigned bar = pci_read8(d, cap + VIRTIO_PCI_CAP_BAR);
	uint32_t off = pci_read32(d, cap + VIRTIO_PCI_CAP_OFFSET);
	uint64_t pa, size;

	*len = pci_read32(d, cap + VIRTIO_PCI_CAP_LENGTH);
	if (bar > 5 || pci_bar(d, bar, &pa, &size) || !pa || !*len || off + (uint64_t)*len > size)
		return NULL;
	return mmio_map(pa + off, *len);
}

static bool find_modern(struct vpci *v)
{
	pci_bdf d = v->bdf;
	bool common = false, notify = false, devcfg = false;
	uint32_t len;

	for (unsigned cap = pci_find_cap(d, PCI_CAP_VENDOR, 0); cap;
	     cap = pci_find_cap(d, PCI_CAP_VENDOR, cap)) {
		uint8_t type = pci_read8(d, cap + VIRTIO_PCI_CAP_CFG_TYPE);

		if (type == VIRTIO_PCI_CAP_COMMON_CFG && !common) {
			v->common = (volatile void *)map_cap(d, cap, &len);
			common = v->common && len >= sizeof(struct virtio_pci_common_cfg);
		} else if (type == VIRTIO_PCI_CAP_NOTIFY_CFG && !notify) {
			v->notify = map_cap(d, cap, &len);
			v->notify_mult = pci_read32(d, cap + sizeof(struct virtio_pci_cap));
			notify = v->notify != NULL;
		} else if (type == VIRTIO_PCI_CAP_DEVICE_CFG && !devcfg) {
			v->devcfg = map_cap(d, cap, &v->devcfg_len);
			devcfg = v->devcfg != NULL;
		}
	}
	if (!devcfg)
		v->devcfg_len = 0; /* some devices have no configuration */
	return common && notify;
}

struct scan {
	bool force_legacy;
};

static int found(pci_bdf d, uint16_t vendor, uint16_t device, void *arg)
{
	struct scan *s = arg;

	if (vendor != VENDOR || device < FIRST_TRANSITIONAL || device > LAST_MODERN)
		return 0;
	struct vpci *v = kcalloc(1, sizeof(*v));

	if (!v)
		return 0;
	v->bdf = d;
	v->vd.tp = v;
	v->vd.type = device >= FIRST_MODERN ? device - FIRST_MODERN
					    : pci_read16(d, SUBSYSTEM_ID);
	uint16_t port = 0, psize;
	bool can_legacy = device < FIRST_MODERN && !pci_io_bar(d, 0, &port, &psize) && port &&
			  psize >= 24;
	bool can_modern = find_modern(v);

	v->modern = can_modern && !(s->force_legacy && can_legacy);
	v->io = port;
	pci_write16(d, PCI_CFG_COMMAND,
		    pci_read16(d, PCI_CFG_COMMAND) | PCI_CMD_MEMORY | PCI_CMD_IO | PCI_CMD_MASTER);
	const char *why = NULL;
	int rc;

	if (!v->modern && !can_legacy)
		why = "neither a usable modern nor a legacy interface";
	else if ((rc = pci_msix_init(d, &v->msix)))
		why = rc == -ENODEV ? "no MSI-X capability" : "MSI-X table not mappable";
	ksnprintf(v->vd.where, sizeof(v->vd.where), "pci %02x:%02x.%x %s%s", d >> 8, d >> 3 & 31,
		  d & 7, v->modern ? "modern" : "legacy",
		  device < FIRST_MODERN ? " (transitional)" : "");
	if (why) {
		kprintf("virtio: %s: %s: ignored\n", v->vd.where, why);
		kfree(v);
		return 0;
	}
	v->vd.t = v->modern ? &modern : &legacy;
	v->vd.modern = v->modern;
	virtio_found(&v->vd);
	return 0;
}

void virtio_pci_probe(const char *cmdline)
{
	char mode[16] = "";
	struct scan s = { false };

	if (cmdline_get(cmdline, "virtio_pci", mode, sizeof(mode)) >= 0) {
		s.force_legacy = !strcmp(mode, "legacy");
		if (!s.force_legacy && strcmp(mode, "modern"))
			kprintf("virtio: virtio_pci=%s: not 'legacy' or 'modern'; modern it is\n",
				mode);
	}
	pci_scan(found, &s);
}
