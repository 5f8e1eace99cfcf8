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

/* The MADT's interrupt routing: the I/O APICs and the ISA interrupt source overrides. */
#define ACPI_MAX_IOAPICS 8
#define ACPI_ISA_IRQS 16
#define ACPI_IRQ_ACTIVE_LOW 1 /* polarity and trigger of a GSI (MPS INTI flags, decoded) */
#define ACPI_IRQ_LEVEL 2

struct acpi_ioapic {
	uint32_t id, addr, gsi_base;
};

struct acpi_irqs {
	unsigned n_ioapics;
	struct acpi_ioapic ioapic[ACPI_MAX_IOAPICS];
	/* ISA IRQ i arrives at GSI isa_gsi[i] with isa_flags[i]: identity, edge, active high
	 * unless an override says otherwise */
	uint32_t isa_gsi[ACPI_ISA_IRQS];
	uint8_t isa_flags[ACPI_ISA_IRQS];
	uint16_t isa_overridden; /* bit i: an override named IRQ i */
};

/* Reads the I/O APICs (type 1) and the overrides (type 2) from a MADT: 0 or -EINVAL (with
 * *why). I/O APICs beyond ACPI_MAX_IOAPICS are left out; an override of a non-ISA bus or
 * an IRQ above 15 is ignored. */
int acpi_madt_irqs(const void *madt, uint32_t len, struct acpi_irqs *out, const char **why);

/* The DSDT the FADT points at (X_DSDT, else DSDT), checked like any table; NULL with *why. */
const void *acpi_find_dsdt(uint64_t rsdp_pa, acpi_map_fn map, uint32_t *len, const char **why);

/* virtio-mmio devices (_HID "LNRO0005") in a DSDT: each one's register window and its
 * interrupt, from the Memory32Fixed and Extended Interrupt descriptors of its _CRS. There
 * is no AML interpreter: this is a bounded scan of the bytes after each _HID (QEMU's
 * microvm writes static device objects). Stores up to max, returns how many there are. */
struct acpi_mmio_dev {
	uint64_t base;
	uint32_t size;
	uint32_t gsi;
	bool edge, active_low;
};
int acpi_dsdt_virtio_mmio(const void *dsdt, uint32_t len, struct acpi_mmio_dev *out,
			  unsigned max);

#endif
