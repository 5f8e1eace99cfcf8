/* The CPUs the firmware lists in the ACPI MADT (QEMU, and Xen for PVH guests). */
#ifndef ARCH_ACPI_CPUS_H
#define ARCH_ACPI_CPUS_H

#include "arch_x86_64/bootinfo.h"

/* Returns the number of usable CPUs and stores up to max APIC ids; negative with *why
 * when there is no usable MADT. */
int acpi_count_cpus(const struct boot_info *bi, uint32_t *apic_ids, unsigned max,
		    const char **why);

#endif
