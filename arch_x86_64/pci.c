#include "arch_x86_64/pci.h"

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/phys.h"
#include "lib/errno.h"
#include "lib/spinlock.h"

#define CFG_ADDR 0xcf8
#define CFG_DATA 0xcfc
#define HDR_TYPE 0x0e
#define CAP_PTR 0x34
#define STATUS_CAPS 0x10
#define BRIDGE_SECONDARY 0x19
#define MSI_CTRL 2
#define MSI_ENABLE 0x1
#define MSI_64BIT 0x80
#define MSI_MULTI_EN (7u << 4)

/* An address write then a data access: one CPU at a time, interrupts off. Configuration
 * space is a slow path (probing, setup). */
static struct spinlock lock;

static uint64_t select(pci_bdf d, unsigned off)
{
	uint64_t f = irq_save();

	spin_lock(&lock);
	outl(CFG_ADDR, 0x80000000u | (uint32_t)d << 8 | (off & 0xfc));
	return f;
}

static void done(uint64_t f)
{
	spin_unlock(&lock);
	irq_restore(f);
}

uint32_t pci_read32(pci_bdf d, unsigned off)
{
	uint64_t f = select(d, off);
	uint32_t v = inl(CFG_DATA);

	done(f);
	return v;
}

uint16_t pci_read16(pci_bdf d, unsigned off)
{
	uint64_t f = select(d, off);
	uint16_t v = inw(CFG_DATA + (off & 2));

	done(f);
	return v;
}

uint8_t pci_read8(pci_bdf d, unsigned off)
{
	uint64_t f = select(d, off);
	uint8_t v = inb(CFG_DATA + (off & 3));

	done(f);
	return v;
}

void pci_write32(pci_bdf d, unsigned off, uint32_t v)
{
	uint64_t f = select(d, off);

	outl(CFG_DATA, v);
	done(f);
}

void pci_write16(pci_bdf d, unsigned off, uint16_t v)
{
	uint64_t f = select(d, off);

	outw(CFG_DATA + (off & 2), v);
	done(f);
}

static int scan_bus(unsigned bus, int (*fn)(pci_bdf, uint16_t, uint16_t, void *), void *arg,
		    unsigned depth)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned func = 0; func < 8; func++) {
			pci_bdf d = PCI_BDF(bus, dev, func);
			uint16_t vendor = pci_read16(d, PCI_CFG_VENDOR);

			if (vendor == 0xffff) {
				if (func == 0)
					break;
				continue;
			}
			int rc = fn(d, vendor, pci_read16(d, PCI_CFG_DEVICE), arg);

			if (rc)
				return rc;
			uint8_t type = pci_read8(d, HDR_TYPE);
			unsigned sec = pci_read8(d, BRIDGE_SECONDARY);

			/* a bridge: its secondary bus, if it leads further down (bounded, so
			 * a bridge looping back cannot recurse for ever) */
			if ((type & 0x7f) == 1 && sec > bus && depth < 8 &&
			    (rc = scan_bus(sec, fn, arg, depth + 1)))
				return rc;
			if (func == 0 && !(type & 0x80))
				break; /* single-function device */
		}
	}
	return 0;
}

int pci_scan(int (*fn)(pci_bdf d, uint16_t vendor, uint16_t device, void *arg), void *arg)
{
	return scan_bus(0, fn, arg, 0);
}

struct want {
	uint16_t vendor, device;
	pci_bdf found;
};

static int match(pci_bdf d, uint16_t vendor, uint16_t device, void *arg)
{
	struct want *w = arg;

	if (vendor != w->vendor || device != w->device)
		return 0;
	w->found = d;
	return 1;
}

int pci_find(uint16_t vendor, uint16_t device, pci_bdf *out)
{
	struct want w = { vendor, device, 0 };

	if (!pci_scan(match, &w))
		return -ENODEV;
	*out = w.found;
	return 0;
}

unsigned pci_find_cap(pci_bdf d, uint8_t id, unsigned from)
{
	if (!(pci_read16(d, PCI_CFG_STATUS) & STATUS_CAPS))
		return 0;
	unsigned off = from ? pci_read8(d, from + 1) : pci_read8(d, CAP_PTR);

	for (int steps = 0; off >= 0x40 && off < 0x100 && steps < 48; steps++) {
		off &= 0xfc;
		if (pci_read8(d, off) == id)
			return off;
		off = pci_read8(d, off + 1);
	}
	return 0;
}

/* what a BAR register reads back after all ones were written to it; its value restored.
 * The caller has turned decoding off, so the all-ones address never decodes. */
static uint32_t size_probe(pci_bdf d, unsigned off, uint32_t orig)
{
	pci_write32(d, off, UINT32_MAX);
	uint32_t v = pci_read32(d, off);

	pci_write32(d, off, orig);
	return v;
}

int pci_bar(pci_bdf d, unsigned i, uint64_t *pa, uint64_t *size)
{
	unsigned off = PCI_CFG_BAR0 + 4 * i;

	if (i > 5)
		return -EINVAL;
	uint32_t lo = pci_read32(d, off);

	if (lo & 1)
		return -EINVAL; /* I/O space */
	bool wide = (lo & 6) == 4;

	if (wide && i == 5)
		return -EINVAL;
	uint32_t hi = wide ? pci_read32(d, off + 4) : 0;
	uint16_t cmd = pci_read16(d, PCI_CFG_COMMAND);

	pci_write16(d, PCI_CFG_COMMAND, cmd & ~(PCI_CMD_MEMORY | PCI_CMD_IO));
	uint64_t mask = size_probe(d, off, lo) & ~0xfu;

	mask |= wide ? (uint64_t)size_probe(d, off + 4, hi) << 32 : 0xffffffff00000000ull;
	pci_write16(d, PCI_CFG_COMMAND, cmd);
	if (!(mask & ~0xfull) || mask == 0xffffffff00000000ull)
		return -EINVAL; /* not implemented */
	*pa = ((uint64_t)hi << 32 | lo) & ~0xfull;
	*size = ~mask + 1;
	return 0;
}

int pci_io_bar(pci_bdf d, unsigned i, uint16_t *port, uint16_t *size)
{
	unsigned off = PCI_CFG_BAR0 + 4 * i;

	if (i > 5)
		return -EINVAL;
	uint32_t lo = pci_read32(d, off);

	if (!(lo & 1))
		return -EINVAL;
	uint16_t cmd = pci_read16(d, PCI_CFG_COMMAND);

	pci_write16(d, PCI_CFG_COMMAND, cmd & ~(PCI_CMD_MEMORY | PCI_CMD_IO));
	uint32_t mask = size_probe(d, off, lo) & 0xfffcu;

	pci_write16(d, PCI_CFG_COMMAND, cmd);
	if (!mask)
		return -EINVAL;
	*port = (uint16_t)(lo & 0xfffc);
	*size = (uint16_t)(~mask + 1);
	return 0;
}

/* I/O BARs: where QEMU's firmware puts them (the ports below are the chipset's) */
#define IO_LO 0xc000u
#define IO_HI 0x10000u

struct window {
	uint64_t lo, hi, next;
	uint32_t io_next;
	int assigned, failed;
};

/* the end of what firmware already placed in the window */
static int note_bars(pci_bdf d, uint16_t vendor, uint16_t device, void *arg)
{
	struct window *w = arg;
	unsigned n = (pci_read8(d, HDR_TYPE) & 0x7f) == 0 ? 6 : 2;

	for (unsigned i = 0; i < n; i++) {
		uint64_t pa, size;
		uint32_t lo = pci_read32(d, PCI_CFG_BAR0 + 4 * i);

		uint16_t port, psize;

		if (!pci_bar(d, i, &pa, &size) && pa && pa >= w->lo && pa < w->hi)
			w->next = MAX(w->next, pa + size);
		if (!pci_io_bar(d, i, &port, &psize) && port >= IO_LO)
			w->io_next = MAX(w->io_next, (uint32_t)port + psize);
		if ((lo & 7) == 4)
			i++; /* the upper half of a 64-bit BAR */
	}
	return 0;
}

static int place_bars(pci_bdf d, uint16_t vendor, uint16_t device, void *arg)
{
	struct window *w = arg;

	if ((pci_read8(d, HDR_TYPE) & 0x7f) != 0)
		return 0; /* bridges: their windows are the firmware's business */
	for (unsigned i = 0; i < 6; i++) {
		uint64_t pa, size;
		uint32_t lo = pci_read32(d, PCI_CFG_BAR0 + 4 * i);
		bool wide = (lo & 7) == 4;

		if (!pci_bar(d, i, &pa, &size) && !pa) {
			uint64_t at = (w->next + size - 1) & ~(size - 1);

			if (at + size > w->hi || at + size < at) {
				w->failed++;
			} else {
				pci_write32(d, PCI_CFG_BAR0 + 4 * i, (uint32_t)at | (lo & 0xf));
				if (wide)
					pci_write32(d, PCI_CFG_BAR0 + 4 * i + 4, at >> 32);
				w->next = at + size;
				w->assigned++;
			}
		}
		uint16_t port, psize;

		if (!pci_io_bar(d, i, &port, &psize) && !port) {
			uint32_t at = (w->io_next + psize - 1) & ~(uint32_t)(psize - 1);

			if (at + psize > IO_HI) {
				w->failed++;
			} else {
				pci_write32(d, PCI_CFG_BAR0 + 4 * i, at | (lo & 3));
				w->io_next = at + psize;
				w->assigned++;
			}
		}
		if (wide)
			i++;
	}
	return 0;
}

int pci_assign_bars(uint64_t lo, uint64_t hi)
{
	struct window w = { lo, hi, lo, IO_LO, 0, 0 };

	pci_scan(note_bars, &w);
	pci_scan(place_bars, &w);
	return w.failed ? -ENOSPC : w.assigned;
}

int pci_msi_enable(pci_bdf d, uint64_t addr, uint32_t data)
{
	unsigned cap = pci_find_cap(d, PCI_CAP_MSI, 0);

	if (!cap)
		return -ENODEV;
	uint16_t ctrl = pci_read16(d, cap + MSI_CTRL);

	pci_write16(d, cap + MSI_CTRL, ctrl & ~(MSI_ENABLE | MSI_MULTI_EN));
	pci_write32(d, cap + 4, (uint32_t)addr);
	if (ctrl & MSI_64BIT) {
		pci_write32(d, cap + 8, addr >> 32);
		pci_write16(d, cap + 12, data);
	} else {
		pci_write16(d, cap + 8, data);
	}
	uint16_t cmd = pci_read16(d, PCI_CFG_COMMAND);

	pci_write16(d, PCI_CFG_COMMAND, cmd | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
	pci_write16(d, cap + MSI_CTRL, (ctrl & ~MSI_MULTI_EN) | MSI_ENABLE);
	return 0;
}

void pci_msi_disable(pci_bdf d)
{
	unsigned cap = pci_find_cap(d, PCI_CAP_MSI, 0);

	if (cap)
		pci_write16(d, cap + MSI_CTRL, pci_read16(d, cap + MSI_CTRL) & ~MSI_ENABLE);
}

#define MSIX_CTRL 2
#define MSIX_TABLE 4
#define MSIX_ENABLE 0x8000
#define MSIX_FMASK 0x4000

int pci_msix_init(pci_bdf d, struct pci_msix *m)
{
	unsigned cap = pci_find_cap(d, PCI_CAP_MSIX, 0);
	uint64_t pa, size;

	if (!cap)
		return -ENODEV;
	uint16_t ctrl = pci_read16(d, cap + MSIX_CTRL);
	uint32_t t = pci_read32(d, cap + MSIX_TABLE);
	unsigned n = (ctrl & 0x7ff) + 1;

	if (pci_bar(d, t & 7, &pa, &size) || !pa || (t & ~7u) + n * 16ull > size)
		return -EINVAL;
	m->table = mmio_map(pa + (t & ~7u), n * 16);
	if (!m->table)
		return -ENOMEM;
	m->d = d;
	m->cap = cap;
	m->size = n;
	/* enabled with the function masked, every vector masked, then the function unmasked:
	 * nothing fires until a vector is set */
	pci_write16(d, cap + MSIX_CTRL, (ctrl & ~MSIX_ENABLE) | MSIX_FMASK);
	for (unsigned i = 0; i < n; i++)
		m->table[i * 4 + 3] = 1;
	uint16_t cmd = pci_read16(d, PCI_CFG_COMMAND);

	pci_write16(d, PCI_CFG_COMMAND, cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
	pci_write16(d, cap + MSIX_CTRL, (ctrl | MSIX_ENABLE) & ~MSIX_FMASK);
	return 0;
}

int pci_msix_set(struct pci_msix *m, unsigned i, uint64_t addr, uint32_t data)
{
	if (i >= m->size)
		return -EINVAL;
	volatile uint32_t *e = m->table + i * 4;

	e[3] = 1;
	e[0] = (uint32_t)addr;
	e[1] = (uint32_t)(addr >> 32);
	e[2] = data;
	e[3] = 0;
	return 0;
}

void pci_msix_mask(struct pci_msix *m, unsigned i)
{
	if (i < m->size)
		m->table[i * 4 + 3] = 1;
}

void pci_msix_disable(struct pci_msix *m)
{
	for (unsigned i = 0; i < m->size; i++)
		m->table[i * 4 + 3] = 1;
	pci_write16(m->d, m->cap + MSIX_CTRL,
		    pci_read16(m->d, m->cap + MSIX_CTRL) & ~MSIX_ENABLE);
}
