/* What the PC platforms' files (kvm.c, irq.c) share. Private to hv_kvm/. */
#ifndef HV_KVM_PC_H
#define HV_KVM_PC_H

#include "arch_x86_64/percpu.h"
#include "common/hal.h"

/* cpu i's local APIC id (the MADT's order, the boot CPU first) */
extern uint32_t apic_ids[MAX_CPUS];
/* The end of an interrupt: PV EOI when the host allows, else the APIC's EOI. */
void pc_eoi(void);

/* After the memory manager: the I/O APICs from the MADT under rsdp, and addresses for
 * the PCI BARs the firmware left unassigned, above low_top (the end of RAM below 4 GiB). Returns what went wrong, or "". */
const char *pc_devices_init(uint64_t rsdp, uint64_t low_top);
int pc_irq_bind(struct irq *irq);
int pc_irq_mask(struct irq *irq, bool masked);
void pc_irq_unbind(struct irq *irq);
/* test=irq */
bool pc_selftest(const char *name, struct result *r);

#endif
