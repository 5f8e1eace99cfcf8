/* Xen PV start_info (xen/xen.h) -> boot_info. Pure code. Addresses in boot_info are
 * pseudo-physical: on PV the initial mapping is virt = VIRT_BASE + pfn * 4096. */
#include <stdint.h>

#include <xen/xen.h>

#include "arch_x86_64/bootinfo.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"

static int fail(struct boot_info *bi, const char *fmt, uint64_t a)
{
	ksnprintf(bi->error_buf, sizeof(bi->error_buf), fmt, a);
	bi->error = bi->error_buf;
	return -EINVAL;
}

/* The one module start_info names (the initrd slot: mod_start, mod_len). Its frames are
 * reserved for good and an app is loaded from them, so a module that is not wholly inside the domain's memory, or that overlaps the
 * kernel or the bootstrap area (page tables, start_info, p2m list), is refused rather than
 * clamped: a builder that says so is broken, and part of a module is no module. */
static int add_module(struct boot_info *bi, const struct start_info *si, uint64_t virt_base,
		      uint64_t mem_end)
{
	uint64_t pa;

	if (si->flags & SIF_MULTIBOOT_MOD)
		return fail(bi, "Xen PV multiboot module lists are not supported", 0);
	if (si->flags & SIF_MOD_START_PFN) {
		if (si->mod_start > mem_end / PAGE_SIZE)
			return fail(bi, "Xen PV module at pfn %#lx is past the domain's memory",
				    si->mod_start);
		pa = si->mod_start * PAGE_SIZE;
	} else {
		if (si->mod_start < virt_base)
			return fail(bi, "Xen PV module at %#lx is below the kernel's mapping",
				    si->mod_start);
		pa = si->mod_start - virt_base;
	}
	if (pa > mem_end || si->mod_len > mem_end - pa)
		return fail(bi, "Xen PV module of %lu bytes runs past the domain's memory",
			    si->mod_len);
	for (unsigned i = 0; i < bi->reserved_count; i++) {
		const struct mem_range *r = &bi->reserved[i];

		if (pa < r->base + r->len && r->base < pa + si->mod_len)
			return fail(bi, "Xen PV module at %#lx overlaps the kernel or its boot data",
				    pa);
	}
	bi->mods[0] = (struct boot_module){ pa, si->mod_len };
	bi->mod_count = 1;
	return 0;
}

int boot_parse_xenpv(struct boot_info *bi, const struct start_info *si, uint64_t virt_base)
{
	bi->entry = BOOT_XEN_PV;
	/* "xen-<version>-<platform>", e.g. "xen-3.0-x86_64" */
	if (strncmp(si->magic, "xen-", 4) || strnlen(si->magic, sizeof(si->magic)) == sizeof(si->magic) ||
	    !strstr(si->magic, "x86_64"))
		return fail(bi, "bad Xen PV start_info magic (not xen-*-x86_64)", 0);
	/* nr_pages bounds every address below, so it must not overflow as bytes */
	if (!si->nr_pages || si->nr_pages > UINT64_MAX / PAGE_SIZE)
		return fail(bi, "Xen PV start_info says nr_pages = %lu", si->nr_pages);
	uint64_t mem_end = si->nr_pages * PAGE_SIZE;

	bi->xen_pv.is_dom0 = si->flags & SIF_INITDOMAIN;
	bi->xen_pv.nr_pages = si->nr_pages;
	bi->xen_pv.shared_info_maddr = si->shared_info;
	bi->xen_pv.store_mfn = si->store_mfn;
	bi->xen_pv.store_evtchn = si->store_evtchn;
	if (!bi->xen_pv.is_dom0) {
		bi->xen_pv.console_mfn = si->console.domU.mfn;
		bi->xen_pv.console_evtchn = si->console.domU.evtchn;
	}
	bi->xen_pv.mfn_list = si->mfn_list;

	size_t n = strnlen((const char *)si->cmd_line, MAX_GUEST_CMDLINE);

	bi->cmdline_truncated = n == MAX_GUEST_CMDLINE || n >= sizeof(bi->cmdline);
	n = n < sizeof(bi->cmdline) - 1 ? n : sizeof(bi->cmdline) - 1;
	memcpy(bi->cmdline, si->cmd_line, n);
	bi->cmdline[n] = 0;

	bi->mem[0] = (struct mem_range){ 0, mem_end, MEM_RAM };
	bi->mem_count = 1;

	/* The builder's bootstrap area follows the kernel: the p2m list, start_info, xenstore
	 * and console pages, page tables, then one page of boot stack (xen/xen.h; libxc puts
	 * the p2m list first). All of it stays in use. */
	uint64_t first = MIN((uint64_t)si, si->mfn_list);
	uint64_t start = first - virt_base, pt = si->pt_base - virt_base;

	/* pt + (nr_pt_frames + 1) pages <= mem_end, written so that nothing can wrap */
	if (first < virt_base || si->pt_base < first || pt > mem_end ||
	    si->nr_pt_frames >= (mem_end - pt) / PAGE_SIZE)
		return fail(bi, "Xen PV page tables at %#lx lie outside the bootstrap area",
			    si->pt_base);
	uint64_t end = pt + (si->nr_pt_frames + 1) * PAGE_SIZE;

	bi->xen_pv.pt_pfn = pt / PAGE_SIZE;
	bi->xen_pv.nr_pt_frames = si->nr_pt_frames;
	if (bi->reserved_count < BOOT_RESERVED_MAX)
		bi->reserved[bi->reserved_count++] =
			(struct mem_range){ start, end - start, MEM_RESERVED };
	return si->mod_start && si->mod_len ? add_module(bi, si, virt_base, mem_end) : 0;
}
