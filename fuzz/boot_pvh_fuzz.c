/* arch_x86_64/boot_pvh.c: hvm_start_info (xen/arch-x86/hvm/start_info.h) and everything
 * it points to, as a boot loader could lay it out. The input is guest-physical memory at
 * MEM_BASE, the start info at its start; nothing else is readable. Every map() hands out a
 * fresh heap copy of exactly the bytes asked for, so ASan catches a read past a mapping.
 * An accepted boot_info must say what the memory says: the command line as written (or
 * cut and flagged), every module counted, and a normalised memory map. */
#include <stdint.h>

#include <xen/arch-x86/hvm/start_info.h>

#include "arch_x86_64/bootinfo.h"
#include "fuzz/fuzz.h"
#include "lib/errno.h"

#define MEM_BASE 0x1000ull

static const uint8_t *mem;
static size_t mem_len;
static void **maps;
static size_t nmaps, capmaps;

/* the bytes at pa..pa+len in the input, or NULL */
static const uint8_t *at(uint64_t pa, size_t len)
{
	if (pa < MEM_BASE || pa - MEM_BASE > mem_len || len > mem_len - (pa - MEM_BASE))
		return NULL;
	return mem + (pa - MEM_BASE);
}

/* a copy of a structure in the input (which need not be aligned there) */
static bool read_at(uint64_t pa, void *dst, size_t len)
{
	const uint8_t *src = at(pa, len);

	if (src)
		memcpy(dst, src, len);
	return src != NULL;
}

static const void *map(uint64_t pa, size_t len)
{
	const uint8_t *src = at(pa, len);

	if (!src)
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

static void check_cmdline(const struct boot_info *bi, uint64_t pa)
{
	size_t i;

	FUZZ_CHECK(memchr(bi->cmdline, 0, sizeof(bi->cmdline)));
	if (!pa) {
		FUZZ_CHECK(!bi->cmdline[0] && !bi->cmdline_truncated);
		return;
	}
	for (i = 0; i < sizeof(bi->cmdline) - 1; i++) {
		const uint8_t *c = at(pa + i, 1);

		FUZZ_CHECK(c); /* accepted, so it was all readable */
		FUZZ_CHECK(bi->cmdline[i] == (char)*c);
		if (!*c)
			break;
	}
	FUZZ_CHECK(bi->cmdline_truncated == (i == sizeof(bi->cmdline) - 1));
}

static void check_accepted(const struct boot_info *bi, const struct hvm_start_info *si)
{
	FUZZ_CHECK(bi->error == NULL && bi->entry == BOOT_PVH);
	check_cmdline(bi, si->cmdline_paddr);
	FUZZ_CHECK(bi->rsdp_paddr == si->rsdp_paddr);
	FUZZ_CHECK(bi->reserved_count == 1 && bi->reserved[0].base == 0 &&
		   bi->reserved[0].len == 1 << 20);

	FUZZ_CHECK(bi->mod_count <= BOOT_MODS_MAX);
	FUZZ_CHECK(bi->mod_count + bi->mods_dropped == si->nr_modules);
	/* the kept entries are the first BOOT_MODS_MAX, in order, less the empty ones */
	unsigned kept = 0;

	for (unsigned i = 0; i < si->nr_modules && i < BOOT_MODS_MAX; i++) {
		struct hvm_modlist_entry m;

		FUZZ_CHECK(read_at(si->modlist_paddr + i * sizeof(m), &m, sizeof(m)));
		if (!m.size)
			continue;
		FUZZ_CHECK(kept < bi->mod_count);
		FUZZ_CHECK(bi->mods[kept].paddr == m.paddr && bi->mods[kept].len == m.size);
		FUZZ_CHECK(bi->mods[kept].paddr + bi->mods[kept].len >= bi->mods[kept].paddr);
		kept++;
	}
	FUZZ_CHECK(kept == bi->mod_count);

	if (si->version < 1 || !si->memmap_entries) {
		FUZZ_CHECK(bi->mem_count == 0);
		return;
	}
	uint64_t ram_in = 0;
	bool wrapped = false;

	FUZZ_CHECK(bi->mem_count <= si->memmap_entries * 2 && bi->mem_count <= MEMMAP_MAX);
	for (unsigned i = 0; i < si->memmap_entries; i++) {
		struct hvm_memmap_table_entry e;

		FUZZ_CHECK(read_at(si->memmap_paddr + i * sizeof(e), &e, sizeof(e)));
		if (e.type == MEM_RAM) {
			wrapped |= ram_in + e.size < ram_in;
			ram_in += e.size;
		}
	}
	for (unsigned i = 0; i < bi->mem_count; i++) {
		const struct mem_range *r = &bi->mem[i];

		FUZZ_CHECK(r->len && r->base + r->len - 1 >= r->base);
		if (i)
			FUZZ_CHECK(bi->mem[i - 1].base + bi->mem[i - 1].len <= r->base);
	}
	/* RAM can only shrink: overlaps go to the stricter type */
	uint64_t ram_out = memmap_total(bi->mem, bi->mem_count, MEM_RAM);

	FUZZ_CHECK(wrapped || ram_out <= ram_in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boot_info bi;
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	mem = copy;
	mem_len = size;
	memset(&bi, 0, sizeof(bi));
	int rc = boot_parse_pvh(&bi, MEM_BASE, map);

	if (rc == 0) {
		struct hvm_start_info si;

		FUZZ_CHECK(read_at(MEM_BASE, &si, sizeof(si)));
		check_accepted(&bi, &si);
	} else {
		FUZZ_CHECK(rc == -EINVAL && bi.error == bi.error_buf);
		FUZZ_CHECK(memchr(bi.error_buf, 0, sizeof(bi.error_buf)) && bi.error_buf[0]);
	}
	for (size_t i = 0; i < nmaps; i++)
		free(maps[i]);
	nmaps = 0;
	free(copy);
	return 0;
}
