#include "lib/acpi.h"

#include "lib/errno.h"
#include "lib/unaligned.h"

#define SDT_HEADER_LEN 36
#define SDT_MAX_LEN (1u << 20)

static bool sum_ok(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s == 0;
}

static bool rsdp_ok(const uint8_t *p)
{
	if (__builtin_memcmp(p, "RSD PTR ", 8) || !sum_ok(p, 20))
		return false;
	return p[15] < 2 || (ld32(p + 20) >= 36 && sum_ok(p, 36));
}

uint64_t acpi_scan_rsdp(acpi_map_fn map)
{
	const uint8_t *bda = map(0x400, 0x100);
	uint64_t areas[2][2] = { { 0, 1024 }, { 0xe0000, 0x20000 } };

	if (bda)
		areas[0][0] = (uint64_t)(bda[0x0e] | bda[0x0f] << 8) << 4;
	for (unsigned a = 0; a < 2; a++) {
		if (!areas[a][0])
			continue;
		const uint8_t *p = map(areas[a][0], areas[a][1]);

		for (uint64_t off = 0; p && off + 36 <= areas[a][1]; off += 16)
			if (rsdp_ok(p + off))
				return areas[a][0] + off;
	}
	return 0;
}

/* Maps and validates one SDT; NULL with *why on any inconsistency. */
static const uint8_t *map_sdt(uint64_t pa, acpi_map_fn map, uint32_t *len, const char **why)
{
	const uint8_t *h = map(pa, SDT_HEADER_LEN);

	if (!h) {
		*why = "table not mappable";
		return NULL;
	}
	*len = ld32(h + 4);
	if (*len < SDT_HEADER_LEN || *len > SDT_MAX_LEN) {
		*why = "table length out of range";
		return NULL;
	}
	h = map(pa, *len);
	if (!h || !sum_ok(h, *len)) {
		*why = h ? "table checksum wrong" : "table not mappable";
		return NULL;
	}
	return h;
}

const void *acpi_find_table(uint64_t rsdp_pa, const char sig[4], acpi_map_fn map,
			    uint32_t *len, const char **why)
{
	const uint8_t *rsdp = map(rsdp_pa, 36);
	uint32_t rlen;

	if (!rsdp || !rsdp_ok(rsdp)) {
		*why = "no valid RSDP";
		return NULL;
	}
	bool x = rsdp[15] >= 2 && ld64(rsdp + 24);
	const uint8_t *root = map_sdt(x ? ld64(rsdp + 24) : ld32(rsdp + 16), map, &rlen, why);

	if (!root)
		return NULL;
	if (__builtin_memcmp(root, x ? "XSDT" : "RSDT", 4)) {
		*why = "root table signature wrong";
		return NULL;
	}
	unsigned step = x ? 8 : 4;

	for (uint32_t off = SDT_HEADER_LEN; off + step <= rlen; off += step) {
		uint64_t pa = x ? ld64(root + off) : ld32(root + off);
		const uint8_t *h = map(pa, SDT_HEADER_LEN);

		if (!h || __builtin_memcmp(h, sig, 4))
			continue;
		return map_sdt(pa, map, len, why);
	}
	*why = "table not listed";
	return NULL;
}

/* MPS INTI flags: polarity bits 1:0 (0 bus default, 1 high, 3 low), trigger bits 3:2
 * (0 bus default, 1 edge, 3 level); the ISA default is edge, active high */
static uint8_t inti_flags(uint16_t f)
{
	return ((f & 3) == 3 ? ACPI_IRQ_ACTIVE_LOW : 0) | ((f >> 2 & 3) == 3 ? ACPI_IRQ_LEVEL : 0);
}

int acpi_madt_irqs(const void *madt, uint32_t len, struct acpi_irqs *out, const char **why)
{
	const uint8_t *t = madt;

	__builtin_memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ACPI_ISA_IRQS; i++)
		out->isa_gsi[i] = i;
	if (len < 44 || __builtin_memcmp(t, "APIC", 4)) {
		*why = "not a MADT";
		return -EINVAL;
	}
	for (uint32_t off = 44; off < len;) {
		uint8_t type, elen;

		if (off + 2 > len || (elen = t[off + 1]) < 2 || off + elen > len) {
			*why = "MADT entry runs past the table";
			return -EINVAL;
		}
		type = t[off];
		if (type == 1 && elen >= 12 && out->n_ioapics < ACPI_MAX_IOAPICS) {
			struct acpi_ioapic *a = &out->ioapic[out->n_ioapics++];

			a->id = t[off + 2];
			a->addr = ld32(t + off + 4);
			a->gsi_base = ld32(t + off + 8);
		} else if (type == 2 && elen >= 10 && t[off + 2] == 0 && t[off + 3] < ACPI_ISA_IRQS) {
			out->isa_gsi[t[off + 3]] = ld32(t + off + 4);
			out->isa_flags[t[off + 3]] = inti_flags(ld16(t + off + 8));
			out->isa_overridden |= 1u << t[off + 3];
		}
		off += elen;
	}
	return 0;
}

int acpi_madt_cpus(const void *madt, uint32_t len, uint32_t *apic_ids, unsigned max,
		   const char **why)
{
	const uint8_t *t = madt;
	int n = 0;

	if (len < 44 || __builtin_memcmp(t, "APIC", 4)) {
		*why = "not a MADT";
		return -EINVAL;
	}
	for (uint32_t off = 44; off < len;) {
		uint8_t type, elen;
		uint32_t id, flags;

		if (off + 2 > len || (elen = t[off + 1]) < 2 || off + elen > len) {
			*why = "MADT entry runs past the table";
			return -EINVAL;
		}
		type = t[off];
		if (type == 0 && elen >= 8) { /* processor local APIC */
			id = t[off + 3];
			flags = ld32(t + off + 4);
		} else if (type == 9 && elen >= 16) { /* processor local x2APIC */
			id = ld32(t + off + 4);
			flags = ld32(t + off + 8);
		} else {
			off += elen;
			continue;
		}
		off += elen;
		if (!(flags & 3)) /* neither enabled nor online-capable */
			continue;
		if ((unsigned)n < max)
			apic_ids[n] = id;
		n++;
	}
	return n;
}

const void *acpi_find_dsdt(uint64_t rsdp_pa, acpi_map_fn map, uint32_t *len, const char **why)
{
	uint32_t flen;
	const uint8_t *f = acpi_find_table(rsdp_pa, "FACP", map, &flen, why);
	uint64_t pa = 0;

	if (!f)
		return NULL;
	if (flen >= 148)
		pa = ld64(f + 140); /* X_DSDT */
	if (!pa && flen >= 44)
		pa = ld32(f + 40);
	if (!pa) {
		*why = "the FADT names no DSDT";
		return NULL;
	}
	const uint8_t *d = map_sdt(pa, map, len, why);

	if (d && __builtin_memcmp(d, "DSDT", 4)) {
		*why = "the FADT's DSDT has another signature";
		return NULL;
	}
	return d;
}

#define HID_SCAN 256 /* bytes after a _HID in which its _CRS must lie */

int acpi_dsdt_virtio_mmio(const void *dsdt, uint32_t len, struct acpi_mmio_dev *out,
			  unsigned max)
{
	const uint8_t *p = dsdt;
	unsigned n = 0;

	for (uint32_t i = SDT_HEADER_LEN; i + 8 <= len; i++) {
		if (__builtin_memcmp(p + i, "LNRO0005", 8))
			continue;
		uint32_t end = len - i > HID_SCAN ? i + HID_SCAN : len;
		struct acpi_mmio_dev d = { 0 };
		bool mem = false, irq = false;

		for (uint32_t j = i + 8; j < end && !(mem && irq); j++) {
			if (j + 8 <= len && !__builtin_memcmp(p + j, "LNRO0005", 8))
				break; /* the next device: this one had no usable _CRS */
			/* Memory32Fixed: 0x86, length 9, info, base, size (ACPI 6.4, 6.4.3.4) */
			if (!mem && j + 12 <= end && p[j] == 0x86 && ld16(p + j + 1) == 9) {
				d.base = ld32(p + j + 4);
				d.size = ld32(p + j + 8);
				mem = d.base && d.size;
			}
			/* Extended Interrupt: 0x89, length >= 6, flags, count >= 1, GSIs (6.4.3.6) */
			if (!irq && j + 9 <= end && p[j] == 0x89 && ld16(p + j + 1) >= 6 && p[j + 4]) {
				d.edge = p[j + 3] & 2;
				d.active_low = p[j + 3] & 4;
				d.gsi = ld32(p + j + 5);
				irq = true;
			}
		}
		if (!mem || !irq)
			continue;
		if (n < max)
			out[n] = d;
		n++;
		i += 7;
	}
	return (int)n;
}
