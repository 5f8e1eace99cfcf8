/* Just enough ACPI to find tables and read the CPUs out of the MADT (ACPI 6.4 §5.2).
 * Every table is checked (signature, length bounds, checksum) before a field is read. */
#ifndef LIB_ACPI_H
#define LIB_ACPI_H

#include "lib/compiler.h"

/* Returns a readable pointer to len bytes at physical address pa, or NULL. */
typedef const void *(*acpi_map_fn)(uint64_t pa, size_t len);

/* Finds the RSDP in the legacy BIOS areas (EBDA, 0xe0000-0xfffff); 0 when absent. */
uint64_t acpi_scan_rsdp(acpi_map_fn map);
/* Finds table `sig` through the RSDP's XSDT (or RSDT); returns it and its length, or NULL
 * with *why set. */
const void *acpi_find_table(uint64_t rsdp_pa, const char sig[4], acpi_map_fn map,
			    uint32_t *len, const char **why);
/* Reads the usable CPUs (enabled or online-capable local APIC / x2APIC entries) from a
 * MADT: stores up to max APIC ids, returns how many CPUs there are, or -EINVAL. */
int acpi_madt_cpus(const void *madt, uint32_t len, uint32_t *apic_ids, unsigned max,
		   const char **why);

#endif
