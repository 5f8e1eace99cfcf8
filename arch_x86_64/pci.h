/* PCI configuration space through the PC's configuration mechanism #1 (ports 0xcf8/0xcfc),
 * and what every PCI driver needs on top: finding a device, its BARs, its capabilities and
 * MSI. virtio/ builds its PCI transport on this. Only PCs (kvm, qemu) have PCI here. */
#ifndef ARCH_PCI_H
#define ARCH_PCI_H

#include "lib/compiler.h"

/* bus << 8 | device << 3 | function */
typedef uint16_t pci_bdf;
#define PCI_BDF(bus, dev, fn) ((pci_bdf)((bus) << 8 | (dev) << 3 | (fn)))

#define PCI_CFG_VENDOR 0x00
#define PCI_CFG_DEVICE 0x02
#define PCI_CFG_COMMAND 0x04
#define PCI_CFG_STATUS 0x06
#define PCI_CFG_BAR0 0x10
#define PCI_CMD_IO 0x1
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_OFF 0x400
#define PCI_CAP_MSI 0x05
#define PCI_CAP_VENDOR 0x09
#define PCI_CAP_MSIX 0x11

uint32_t pci_read32(pci_bdf d, unsigned off);
uint16_t pci_read16(pci_bdf d, unsigned off);
uint8_t pci_read8(pci_bdf d, unsigned off);
void pci_write32(pci_bdf d, unsigned off, uint32_t v);
void pci_write16(pci_bdf d, unsigned off, uint16_t v);

/* Walks every bus reachable from bus 0 (through PCI-to-PCI bridges): for each function
 * present, fn(bdf, vendor, device, arg); a non-zero return stops the walk and is returned. */
int pci_scan(int (*fn)(pci_bdf d, uint16_t vendor, uint16_t device, void *arg), void *arg);
/* The first function with this vendor and device id: 0 and *out, or -ENODEV. */
int pci_find(uint16_t vendor, uint16_t device, pci_bdf *out);
/* Offset of the first capability `id` at or after capability offset `from` (0: from the
 * start), or 0. The list is walked at most 48 steps, so a looping list cannot hang us. */
unsigned pci_find_cap(pci_bdf d, uint8_t id, unsigned from);
/* BAR i's physical address and size (sized by writing all ones with decoding off);
 * 64-bit BARs take two slots. -EINVAL: unimplemented or I/O BAR. */
int pci_bar(pci_bdf d, unsigned i, uint64_t *pa, uint64_t *size);
/* I/O BAR i's port and size; -EINVAL for a memory or unimplemented BAR. */
int pci_io_bar(pci_bdf d, unsigned i, uint16_t *port, uint16_t *size);
/* Gives every memory BAR the firmware left at 0 an address in [lo, hi), above any BAR
 * already there, naturally aligned. Returns how many it assigned,
 * or -ENOSPC when the window ran out (those BARs stay 0). I/O BARs at 0 get ports in
 * 0xc000-0xffff the same way. For firmware that assigns none (qboot). */
int pci_assign_bars(uint64_t lo, uint64_t hi);
/* Points the device's MSI capability (single message) at addr/data and enables it, with
 * bus mastering on and INTx off. -ENODEV: no MSI capability. */
int pci_msi_enable(pci_bdf d, uint64_t addr, uint32_t data);
void pci_msi_disable(pci_bdf d);

/* MSI-X: the table mapped, MSI-X enabled with every vector masked (and bus mastering on,
 * INTx off). pci_msix_set points vector i at addr/data and unmasks it. */
struct pci_msix {
	volatile uint32_t *table;
	unsigned size, cap;
	pci_bdf d;
};
int pci_msix_init(pci_bdf d, struct pci_msix *m);
int pci_msix_set(struct pci_msix *m, unsigned i, uint64_t addr, uint32_t data);
void pci_msix_mask(struct pci_msix *m, unsigned i);
void pci_msix_disable(struct pci_msix *m);

#endif
