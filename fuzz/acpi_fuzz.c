/* lib/acpi.c: the RSDP scan, the table search through the XSDT/RSDT, the FADT's DSDT, the
 * MADT (CPUs, I/O APICs, overrides) and the DSDT's virtio-mmio devices, over firmware
 * memory the input writes. The fake physical memory is the BIOS data area, naming an EBDA
 * at 0x9fc00, and the EBDA: the input at its start, zeros after it up to 64 KiB; nothing
 * else is readable. Every map() hands out a fresh heap copy of exactly the bytes asked
 * for, so ASan catches a parser reading more of a table than it mapped. The MADT and DSDT
 * parsers also get the raw input as a table. */
#include "fuzz/fuzz.h"
#include "lib/acpi.h"
#include "lib/errno.h"

#define BDA	0x400ull
#define WIN	0x9fc00ull
#define WIN_LEN 0x10000ull

static uint8_t bda[0x100] = {[0x0e] = (WIN >> 4) & 0xff, [0x0f] = WIN >> 12};
static uint8_t mem[WIN_LEN];
static size_t dirty;
static void **maps;
static size_t nmaps, capmaps;

static const void *map(uint64_t pa, size_t len)
{
	const uint8_t *src;

	if (pa >= BDA && pa - BDA <= sizeof(bda) && len <= sizeof(bda) - (pa - BDA))
		src = bda + (pa - BDA);
	else if (pa >= WIN && pa - WIN <= WIN_LEN && len <= WIN_LEN - (pa - WIN))
		src = mem + (pa - WIN);
	else
		return NULL;
	void *p = malloc(len ? len : 1);

	memcpy(p, src, len);
	if (nmaps == capmaps) {
		capmaps = capmaps ? 2 * capmaps : 64;
		maps = realloc(maps, capmaps * sizeof(*maps));
	}
	maps[nmaps++] = p;
	return p;
}

static uint32_t ld32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

FUZZ_NOCOV static bool sums_to_zero(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	for (size_t i = 0; i < len; i++)
		s += p[i];
	return s == 0;
}

/* a table the finder returns: what was asked for, whole and checked */
static void check_table(const uint8_t *t, uint32_t len, const char *sig)
{
	FUZZ_CHECK(!memcmp(t, sig, 4));
	FUZZ_CHECK(len >= 36 && len <= (1u << 20) && ld32(t + 4) == len);
	FUZZ_CHECK(sums_to_zero(t, len));
}

static void check_madt(const uint8_t *t, uint32_t len, unsigned max)
{
	static uint32_t ids[64], all[256];
	const char *why = NULL;
	struct acpi_irqs irqs;
	int n = acpi_madt_cpus(t, len, ids, max, &why);
	int n_all = acpi_madt_cpus(t, len, all, 256, &why);
	int rc = acpi_madt_irqs(t, len, &irqs, &why);

	/* one walk, one verdict: the CPUs and the IRQs of a table are both read or neither */
	FUZZ_CHECK(n == n_all && (n < 0) == (rc < 0));
	if (n < 0) {
		FUZZ_CHECK(n == -EINVAL && rc == -EINVAL && why);
		return;
	}
	FUZZ_CHECK((unsigned)n <= (len - 44) / 8); /* an APIC entry is at least 8 bytes */
	for (int i = 0; i < n && (unsigned)i < max && i < 256; i++)
		FUZZ_CHECK(ids[i] == all[i]);
	FUZZ_CHECK(rc == 0 && irqs.n_ioapics <= ACPI_MAX_IOAPICS);
	for (unsigned i = 0; i < ACPI_ISA_IRQS; i++) {
		FUZZ_CHECK(irqs.isa_flags[i] <= (ACPI_IRQ_ACTIVE_LOW | ACPI_IRQ_LEVEL));
		if (!(irqs.isa_overridden >> i & 1))
			FUZZ_CHECK(irqs.isa_gsi[i] == i && irqs.isa_flags[i] == 0);
	}
}

static void check_dsdt(const uint8_t *t, uint32_t len, unsigned max)
{
	struct acpi_mmio_dev devs[8];
	int n = acpi_dsdt_virtio_mmio(t, len, devs, max);

	FUZZ_CHECK(n >= 0 && n == acpi_dsdt_virtio_mmio(t, len, NULL, 0));
	FUZZ_CHECK(len < 36 || (unsigned)n <= (len - 36) / 8); /* one _HID each */
	for (int i = 0; i < n && (unsigned)i < max; i++)
		FUZZ_CHECK(devs[i].base && devs[i].size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = size < WIN_LEN ? size : WIN_LEN;
	unsigned max = size ? data[size - 1] % 9 : 0;
	const char *why = NULL;
	uint32_t tlen = 0;

	memset(mem, 0, dirty);
	memcpy(mem, data, len);
	dirty = len;

	/* the raw input as a MADT and as a DSDT */
	uint8_t *raw = malloc(size ? size : 1);

	memcpy(raw, data, size);
	if (size <= UINT32_MAX) {
		check_madt(raw, (uint32_t)size, max);
		check_dsdt(raw, (uint32_t)size, max);
	}
	free(raw);

	uint64_t rsdp = acpi_scan_rsdp(map);

	if (rsdp) {
		const uint8_t *r = mem + (rsdp - WIN);

		/* in the EBDA's first KiB, on a 16-byte boundary */
		FUZZ_CHECK(rsdp >= WIN && rsdp + 36 <= WIN + 1024 && (rsdp - WIN) % 16 == 0);
		FUZZ_CHECK(!memcmp(r, "RSD PTR ", 8) && sums_to_zero(r, 20));
		FUZZ_CHECK(r[15] < 2 || (ld32(r + 20) >= 36 && sums_to_zero(r, 36)));
	} else {
		rsdp = WIN; /* let the finder judge the start of the input all the same */
	}
	const uint8_t *t = acpi_find_table(rsdp, "APIC", map, &tlen, &why);

	if (t) {
		check_table(t, tlen, "APIC");
		check_madt(t, tlen, max);
	} else {
		FUZZ_CHECK(why);
	}
	why = NULL;
	t = acpi_find_dsdt(rsdp, map, &tlen, &why);
	if (t) {
		check_table(t, tlen, "DSDT");
		check_dsdt(t, tlen, max);
	} else {
		FUZZ_CHECK(why);
	}
	for (size_t i = 0; i < nmaps; i++)
		free(maps[i]);
	nmaps = 0;
	return 0;
}
