/* The I/O APICs (82093AA register model, as QEMU and KVM emulate it): legacy and PCI INTx
 * lines (GSIs) to a vector on one CPU. Found through the ACPI MADT, which also says how
 * each ISA IRQ is wired (lib/acpi.h). Only the kvm and qemu platforms have them. */
#ifndef ARCH_IOAPIC_H
#define ARCH_IOAPIC_H

#include "lib/acpi.h"
#include "lib/compiler.h"

/* Maps every I/O APIC the MADT lists and masks all their lines. Returns how many GSIs
 * there are in all (0: none, which is not an error on its own). */
unsigned ioapic_init(const struct acpi_irqs *irqs);
/* Where ISA IRQ `irq` (0-15) arrives: its GSI and ACPI_IRQ_* flags. */
void ioapic_isa_gsi(unsigned irq, uint32_t *gsi, unsigned *flags);
/* Routes `gsi` to `vector` on the CPU with `apic_id`, fixed delivery, physical mode, with
 * ACPI_IRQ_* flags; left masked. -EINVAL: no such GSI or vector. */
int ioapic_route(uint32_t gsi, uint8_t vector, uint32_t apic_id, unsigned flags);
void ioapic_mask(uint32_t gsi, bool masked);
/* How many GSIs, for reports. */
unsigned ioapic_gsis(void);

#endif
