#include "arch_x86_64/acpi_cpus.h"

#include "arch_x86_64/phys.h"
#include "lib/acpi.h"

int acpi_count_cpus(const struct boot_info *bi, uint32_t *apic_ids, unsigned max,
		    const char **why)
{
	uint64_t rsdp = bi->rsdp_paddr ? bi->rsdp_paddr : acpi_scan_rsdp(phys_map);
	const void *madt;
	uint32_t len;

	*why = "no RSDP";
	if (!rsdp || !(madt = acpi_find_table(rsdp, "APIC", phys_map, &len, why)))
		return -1;
	return acpi_madt_cpus(madt, len, apic_ids, max, why);
}
