/* What the firmware's ACPI MADT says about CPUs and interrupt routing (QEMU, and Xen for
 * PVH guests). */
#ifndef ARCH_ACPI_CPUS_H
#define ARCH_ACPI_CPUS_H

#include "arch_x86_64/bootinfo.h"
#include "lib/acpi.h"

/* The RSDP: from the boot structure, else found in the BIOS areas; 0 when there is none. */
uint64_t acpi_rsdp(const struct boot_info *bi);
/* Returns the number of usable CPUs and stores up to max APIC ids; negative with *why
 * when there is no usable MADT. */
int acpi_count_cpus(const struct boot_info *bi, uint32_t *apic_ids, unsigned max,
		    const char **why);
/* The I/O APICs and ISA overrides of the MADT under `rsdp`: 0, or negative with *why. */
int acpi_irq_routing(uint64_t rsdp, struct acpi_irqs *out, const char **why);

#endif
