#include <string.h>

#include "lib/acpi.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

/* A fake physical memory: tables built at known addresses in one buffer. */
static uint8_t mem[0x4000];
#define RSDP 0x100
#define XSDT 0x200
#define RSDT 0x300
#define MADT 0x400
#define FACP 0x800

static const void *map(uint64_t pa, size_t len)
{
	return pa + len <= sizeof(mem) && pa + len >= pa ? mem + pa : NULL;
}

static void fix_sum(uint8_t *p, size_t len, size_t at)
{
	uint8_t s = 0;

	p[at] = 0;
	for (size_t i = 0; i < len; i++)
		s += p[i];
	p[at] = -s;
}

static void sdt(uint32_t pa, const char *sig, uint32_t len)
{
	memcpy(mem + pa, sig, 4);
	memcpy(mem + pa + 4, &len, 4);
	fix_sum(mem + pa, len, 9);
}

static uint32_t madt_entries(const uint8_t *e, uint32_t elen)
{
	memcpy(mem + MADT + 44, e, elen);
	sdt(MADT, "APIC", 44 + elen);
	return 44 + elen;
}

static void build(int rev)
{
	uint64_t x[2] = { FACP, MADT };
	uint32_t r[2] = { FACP, MADT };

	memset(mem, 0, sizeof(mem));
	memcpy(mem + RSDP, "RSD PTR ", 8);
	mem[RSDP + 15] = rev;
	uint32_t rsdt = RSDT, len = 36;
	uint64_t xsdt = XSDT;

	memcpy(mem + RSDP + 16, &rsdt, 4);
	memcpy(mem + RSDP + 20, &len, 4);
	memcpy(mem + RSDP + 24, &xsdt, 8);
	fix_sum(mem + RSDP, 20, 8);
	fix_sum(mem + RSDP, 36, 32);
	memcpy(mem + XSDT + 36, x, 16); /* 8-byte entries at a 4-byte offset: unaligned */
	sdt(XSDT, "XSDT", 36 + 16);
	memcpy(mem + RSDT + 36, r, 8);
	sdt(RSDT, "RSDT", 36 + 8);
	sdt(FACP, "FACP", 36);
}

/* two enabled LAPICs, one disabled, one online-capable x2APIC, an IOAPIC in between */
static const uint8_t entries[] = {
	0, 8, 0, 0, 1, 0, 0, 0,		   /* LAPIC id 0 enabled */
	1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0, /* IOAPIC */
	0, 8, 1, 1, 1, 0, 0, 0,		   /* LAPIC id 1 enabled */
	0, 8, 2, 2, 0, 0, 0, 0,		   /* LAPIC id 2 disabled */
	9, 16, 0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, /* x2APIC id 256 online-capable */
};

TEST(acpi_madt_through_xsdt_and_rsdt)
{
	for (int rev = 0; rev <= 2; rev += 2) {
		const char *why = "";
		uint32_t len, ids[8];

		build(rev);
		madt_entries(entries, sizeof(entries));
		const void *t = acpi_find_table(RSDP, "APIC", map, &len, &why);

		CHECK(t == mem + MADT);
		if (!t)
			return;
		CHECK_EQ(acpi_madt_cpus(t, len, ids, 8, &why), 3);
		CHECK(ids[0] == 0 && ids[1] == 1 && ids[2] == 256);
		CHECK_EQ(acpi_madt_cpus(t, len, ids, 1, &why), 3); /* counts past max */
		CHECK(acpi_find_table(RSDP, "HPET", map, &len, &why) == NULL);
		CHECK_STR(why, "table not listed");
	}
}

/* what QEMU's q35 MADT says, plus a second I/O APIC, odd overrides and truncation */
TEST(acpi_madt_irqs_ioapics_and_overrides)
{
	static const uint8_t irq_entries[] = {
		0, 8, 0, 0, 1, 0, 0, 0,				 /* LAPIC */
		1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0,	 /* IOAPIC 0 at 0xfec00000, GSI 0 */
		2, 10, 0, 0, 2, 0, 0, 0, 0, 0,			 /* ISA 0 -> GSI 2, defaults */
		2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0,		 /* ISA 9: level, active high */
		2, 10, 0, 5, 5, 0, 0, 0, 0x0f, 0,		 /* ISA 5: level, active low */
		2, 10, 1, 3, 40, 0, 0, 0, 0x0f, 0,		 /* bus 1: not ISA, ignored */
		2, 10, 0, 20, 40, 0, 0, 0, 0x0f, 0,		 /* IRQ 20: not ISA, ignored */
		1, 12, 1, 0, 0, 0x10, 0xc0, 0xfe, 24, 0, 0, 0, /* IOAPIC 1, GSI 24 */
		2, 9, 0, 7, 7, 0, 0, 0, 0,			 /* too short: ignored */
	};
	const char *why = "";
	uint32_t len;
	struct acpi_irqs irqs;

	build(2);
	madt_entries(irq_entries, sizeof(irq_entries));
	const void *t = acpi_find_table(RSDP, "APIC", map, &len, &why);

	CHECK_EQ(acpi_madt_irqs(t, len, &irqs, &why), 0);
	CHECK_EQ(irqs.n_ioapics, 2);
	CHECK(irqs.ioapic[0].id == 0 && irqs.ioapic[0].addr == 0xfec00000 &&
	      irqs.ioapic[0].gsi_base == 0);
	CHECK(irqs.ioapic[1].id == 1 && irqs.ioapic[1].addr == 0xfec01000 &&
	      irqs.ioapic[1].gsi_base == 24);
	CHECK(irqs.isa_gsi[0] == 2 && irqs.isa_flags[0] == 0);
	CHECK(irqs.isa_gsi[9] == 9 && irqs.isa_flags[9] == ACPI_IRQ_LEVEL);
	CHECK(irqs.isa_gsi[5] == 5 && irqs.isa_flags[5] == (ACPI_IRQ_LEVEL | ACPI_IRQ_ACTIVE_LOW));
	CHECK(irqs.isa_gsi[3] == 3 && irqs.isa_flags[3] == 0);
	CHECK(irqs.isa_gsi[7] == 7 && irqs.isa_flags[7] == 0);
	CHECK(irqs.isa_gsi[8] == 8 && irqs.isa_flags[8] == 0);
	CHECK_EQ(irqs.isa_overridden, (1u << 0) | (1u << 9) | (1u << 5));

	/* more I/O APICs than we keep: the first ones, no overflow */
	uint8_t many[12 * (ACPI_MAX_IOAPICS + 3)];

	for (unsigned i = 0; i < ACPI_MAX_IOAPICS + 3; i++) {
		uint8_t e[12] = { 1, 12, (uint8_t)i, 0, 0, 0, 0xc0, 0xfe, (uint8_t)(24 * i), 0, 0, 0 };

		memcpy(many + 12 * i, e, 12);
	}
	len = madt_entries(many, sizeof(many));
	CHECK_EQ(acpi_madt_irqs(mem + MADT, len, &irqs, &why), 0);
	CHECK_EQ(irqs.n_ioapics, ACPI_MAX_IOAPICS);
	CHECK_EQ(irqs.ioapic[ACPI_MAX_IOAPICS - 1].gsi_base, 24 * (ACPI_MAX_IOAPICS - 1));

	/* an entry running past the end */
	static const uint8_t bad[] = { 1, 12, 0, 0, 0, 0, 0xc0, 0xfe, 0, 0, 0, 0, 2, 20, 0, 0 };

	len = madt_entries(bad, sizeof(bad));
	CHECK_EQ(acpi_madt_irqs(mem + MADT, len, &irqs, &why), -EINVAL);
	CHECK_STR(why, "MADT entry runs past the table");
	CHECK_EQ(acpi_madt_irqs(mem + FACP, 36, &irqs, &why), -EINVAL);
}

TEST(acpi_rejects_broken_tables)
{
	const char *why = "";
	uint32_t len, ids[4];

	build(2);
	madt_entries(entries, sizeof(entries));
	mem[MADT + 50] ^= 1; /* checksum now wrong */
	CHECK(acpi_find_table(RSDP, "APIC", map, &len, &why) == NULL);
	CHECK_STR(why, "table checksum wrong");

	build(2);
	mem[RSDP + 1] ^= 1;
	CHECK(acpi_find_table(RSDP, "APIC", map, &len, &why) == NULL);
	CHECK_STR(why, "no valid RSDP");

	build(2);
	uint32_t huge = 0x7fffffff;

	madt_entries(entries, sizeof(entries));
	memcpy(mem + MADT + 4, &huge, 4);
	CHECK(acpi_find_table(RSDP, "APIC", map, &len, &why) == NULL);
	CHECK_STR(why, "table length out of range");

	/* an entry whose length runs past the table, and one with length 0 */
	static const uint8_t bad[] = { 0, 8, 0, 0, 1, 0, 0, 0, 0, 20, 1, 1 };
	static const uint8_t zero[] = { 0, 0, 0, 0 };

	build(2);
	len = madt_entries(bad, sizeof(bad));
	CHECK_EQ(acpi_madt_cpus(mem + MADT, len, ids, 4, &why), -EINVAL);
	len = madt_entries(zero, sizeof(zero));
	CHECK_EQ(acpi_madt_cpus(mem + MADT, len, ids, 4, &why), -EINVAL);
	CHECK_EQ(acpi_madt_cpus(mem + FACP, 36, ids, 4, &why), -EINVAL);
}

static uint8_t bios[0x100000];

static const void *bmap(uint64_t pa, size_t len)
{
	return pa + len <= sizeof(bios) ? bios + pa : NULL;
}

TEST(acpi_scan_finds_rsdp_in_bios_area)
{
	memset(bios, 0, sizeof(bios));
	CHECK(acpi_scan_rsdp(bmap) == 0);
	memcpy(bios + 0xf5a10, "RSD PTR ", 8);
	fix_sum(bios + 0xf5a10, 20, 8);
	CHECK(acpi_scan_rsdp(bmap) == 0xf5a10);
	bios[0xf5a10 + 8]++; /* bad checksum: not an RSDP */
	CHECK(acpi_scan_rsdp(bmap) == 0);
}

#define DSDT 0x1000

/* Two virtio-mmio devices as QEMU's microvm writes them (Device, Name(_HID, "LNRO0005"),
 * Name(_CRS, ResourceTemplate { Memory32Fixed; Interrupt })), and one without a _CRS */
static uint32_t put_dev(uint32_t at, uint32_t base, uint32_t gsi, bool crs)
{
	static const uint8_t hid[] = { 0x08, '_', 'H', 'I', 'D', 0x0d, 'L', 'N', 'R', 'O',
				       '0', '0', '0', '5', 0 };
	uint8_t *p = mem + at;

	memcpy(p, hid, sizeof(hid));
	p += sizeof(hid);
	if (crs) {
		uint8_t res[] = { 0x08, '_', 'C', 'R', 'S', 0x11, 0x1a, 0x0a, 0x17,
				  0x86, 0x09, 0x00, 0x01, 0, 0, 0, 0, 0x00, 0x02, 0, 0,
				  0x89, 0x06, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0x79, 0x00 };

		memcpy(res + 13, &base, 4);
		memcpy(res + 26, &gsi, 4);
		memcpy(p, res, sizeof(res));
		p += sizeof(res);
	}
	return (uint32_t)(p - mem);
}

TEST(acpi_dsdt_virtio_mmio_devices)
{
	uint32_t len;
	const char *why = NULL;

	build(2);
	uint64_t dsdt = DSDT;

	memcpy(mem + FACP + 140, &dsdt, 8);
	sdt(FACP, "FACP", 148);
	uint32_t at = put_dev(DSDT + 36, 0xfeb00000, 16, true);

	at = put_dev(at, 0xfeb00200, 17, false); /* no _CRS: skipped */
	at = put_dev(at, 0xfeb00400, 18, true);
	sdt(DSDT, "DSDT", at - DSDT);
	const void *d = acpi_find_dsdt(RSDP, map, &len, &why);

	CHECK(d == mem + DSDT);
	CHECK_EQ(len, at - DSDT);
	struct acpi_mmio_dev dev[4];

	CHECK_EQ(acpi_dsdt_virtio_mmio(d, len, dev, 4), 2);
	CHECK_EQ(dev[0].base, 0xfeb00000);
	CHECK_EQ(dev[0].size, 0x200);
	CHECK_EQ(dev[0].gsi, 16);
	CHECK(!dev[0].edge && !dev[0].active_low);
	CHECK_EQ(dev[1].base, 0xfeb00400);
	CHECK_EQ(dev[1].gsi, 18);
	CHECK_EQ(acpi_dsdt_virtio_mmio(d, len, dev, 1), 2); /* counts beyond max */
	/* cut short inside the last device's _CRS: it is not reported */
	CHECK_EQ(acpi_dsdt_virtio_mmio(d, len - 6, dev, 4), 1);
	/* a FADT without a DSDT */
	memset(mem + FACP + 36, 0, 148 - 36);
	sdt(FACP, "FACP", 148);
	CHECK(acpi_find_dsdt(RSDP, map, &len, &why) == NULL);
	CHECK(why != NULL);
}
