/* hvm_start_info (xen/arch-x86/hvm/start_info.h) -> boot_info. Pure code: everything is read
 * through `map`, every pointer and count is checked, nothing is trusted. */
#include <stdint.h>

#include <xen/arch-x86/hvm/start_info.h>

#include "arch_x86_64/bootinfo.h"
#include "lib/errno.h"
#include "lib/format.h"

static int fail(struct boot_info *bi, const char *fmt, uint64_t a, uint64_t b)
{
	ksnprintf(bi->error_buf, sizeof(bi->error_buf), fmt, a, b);
	bi->error = bi->error_buf;
	return -EINVAL;
}

/* Copies a NUL-terminated string of at most max-1 bytes from physical memory. */
static bool copy_str(char *dst, size_t max, uint64_t pa,
		     const void *(*map)(uint64_t pa, size_t len), bool *truncated)
{
	size_t i;

	*truncated = false;
	for (i = 0; i + 1 < max; i++) {
		const char *c = map(pa + i, 1);

		if (!c)
			return false;
		dst[i] = *c;
		if (!*c)
			return true;
	}
	dst[i] = 0;
	*truncated = true;
	return true;
}

/* A module is the app the kernel runs and its frames stay reserved, so it must be RAM (per
 * the memory map, when there is one) and clear of the kernel and the first MiB; one that
 * is not is refused: a loader that says so is broken, and part of a module is no module. */
static int add_module(struct boot_info *bi, uint32_t i, uint64_t pa, uint64_t len)
{
	if (pa + len < pa)
		return fail(bi, "PVH module %lu wraps around (size %#lx)", i, len);
	if (bi->mem_count && !memmap_covers(bi->mem, bi->mem_count, pa, len, MEM_RAM))
		return fail(bi, "PVH module at %#lx (%lu bytes) is not all RAM", pa, len);
	for (unsigned r = 0; r < bi->reserved_count; r++) {
		const struct mem_range *k = &bi->reserved[r];

		if (pa < k->base + k->len && k->base < pa + len)
			return fail(bi, "PVH module at %#lx overlaps the kernel or the first MiB "
				    "(reserved %#lx)", pa, k->base);
	}
	bi->mods[bi->mod_count++] = (struct boot_module){ pa, len };
	return 0;
}

int boot_parse_pvh(struct boot_info *bi, uint64_t pa, const void *(*map)(uint64_t pa, size_t len))
{
	const struct hvm_start_info *si = pa ? map(pa, sizeof(*si)) : NULL;

	bi->entry = BOOT_PVH;
	if (!si)
		return fail(bi, "PVH start info at %#lx is not readable", pa, 0);
	if (si->magic != XEN_HVM_START_MAGIC_VALUE)
		return fail(bi, "bad PVH start info magic 0x%lx (expected 0x%lx): not a PVH boot",
			    si->magic, XEN_HVM_START_MAGIC_VALUE);

	if (si->cmdline_paddr &&
	    !copy_str(bi->cmdline, sizeof(bi->cmdline), si->cmdline_paddr, map,
		      &bi->cmdline_truncated))
		return fail(bi, "PVH command line at %#lx is not readable", si->cmdline_paddr, 0);

	/* a PC's first MiB: BIOS data, EBDA, option ROMs, and room for the AP trampoline */
	if (bi->reserved_count < BOOT_RESERVED_MAX)
		bi->reserved[bi->reserved_count++] = (struct mem_range){ 0, 1 << 20, MEM_RESERVED };

	/* the memory map exists from version 1; without it the platform must supply one */
	if (si->version >= 1 && si->memmap_entries) {
		const struct hvm_memmap_table_entry *e;

		if (si->memmap_entries > MEMMAP_MAX)
			return fail(bi, "PVH memory map has %lu entries (at most %lu supported)",
				    si->memmap_entries, MEMMAP_MAX);
		e = si->memmap_paddr ? map(si->memmap_paddr, si->memmap_entries * sizeof(*e)) :
				       NULL;
		if (!e)
			return fail(bi, "PVH memory map at %#lx is not readable", si->memmap_paddr,
				    0);
		for (uint32_t i = 0; i < si->memmap_entries; i++) {
			if (e[i].addr + e[i].size < e[i].addr)
				return fail(bi, "PVH memory map entry %lu wraps around (size %#lx)",
					    i, e[i].size);
			bi->mem[i] = (struct mem_range){ e[i].addr, e[i].size, e[i].type };
		}
		int n = memmap_normalise(bi->mem, si->memmap_entries, MEMMAP_MAX);

		if (n < 0)
			return fail(bi, "PVH memory map cannot be normalised (%ld)", n, 0);
		bi->mem_count = n;
	}

	if (si->nr_modules) {
		/* only the entries we keep are read: a huge count must not make us touch (or
		 * map) gigabytes of whatever lies after the list */
		uint32_t keep = MIN(si->nr_modules, (uint32_t)BOOT_MODS_MAX);
		const struct hvm_modlist_entry *m =
			si->modlist_paddr ? map(si->modlist_paddr, keep * sizeof(*m)) : NULL;

		if (!m)
			return fail(bi, "PVH module list at %#lx (%lu entries) is not readable",
				    si->modlist_paddr, si->nr_modules);
		bi->mods_dropped = si->nr_modules - keep;
		for (uint32_t i = 0; i < keep; i++) {
			int rc = m[i].size ? add_module(bi, i, m[i].paddr, m[i].size) : 0;

			if (rc)
				return rc;
			bi->mods_dropped += !m[i].size; /* an empty one is no app */
		}
	}
	bi->rsdp_paddr = si->rsdp_paddr;
	return 0;
}
