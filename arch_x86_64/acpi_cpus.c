#include "arch_x86_64/acpi_cpus.h"

#include "arch_x86_64/phys.h"
#include "lib/errno.h"

uint64_t acpi_rsdp(const struct boot_info *bi)
{
	return bi->rsdp_paddr ? bi->rsdp_paddr : acpi_scan_rsdp(phys_map);
}

static const void *madt(uint64_t rsdp, uint32_t *len, const char **why)
{
	*why = "no RSDP";
	return rsdp ? acpi_find_table(rsdp, "APIC", phys_map, len, why) : NULL;
}

int acpi_count_cpus(const struct boot_info *bi, uint32_t *apic_ids, unsigned max,
		    const char **why)
{
	uint32_t len;
	const void *t = madt(acpi_rsdp(bi), &len, why);

	return t ? acpi_madt_cpus(t, len, apic_ids, max, why) : -1;
}

int acpi_irq_routing(uint64_t rsdp, struct acpi_irqs *out, const char **why)
{
	uint32_t len;
	const void *t = madt(rsdp, &len, why);

	return t ? acpi_madt_irqs(t, len, out, why) : -ENODEV;
}
