/* arch_x86_64/boot_xenpv.c: Xen PV's start_info (xen/xen.h) as a domain builder could
 * fill it. Input: the start_info's pseudo-physical address, then the structure's bytes, in
 * which the virtual addresses (pt_base, mfn_list, and mod_start without SIF_MOD_START_PFN)
 * are offsets from the domain's virtual base; the harness adds the base, which it derives
 * from where the structure really is, so that inputs replay the same. The structure is a
 * heap block of exactly its size. An accepted boot_info must describe memory that exists:
 * the domain's RAM as nr_pages says, a module that does not wrap, and a reserved bootstrap
 * area inside the domain that holds the page tables and the boot stack page. */
#include <stdint.h>

#include <xen/xen.h>

#include "arch_x86_64/bootinfo.h"
#include "fuzz/fuzz.h"
#include "lib/errno.h"

static void check_accepted(const struct boot_info *bi, const struct start_info *si, uint64_t si_pa,
			   uint64_t vb)
{
	size_t n = strnlen((const char *)si->cmd_line, MAX_GUEST_CMDLINE);

	FUZZ_CHECK(bi->error == NULL && bi->entry == BOOT_XEN_PV);
	FUZZ_CHECK(!strncmp(si->magic, "xen-", 4) && memchr(si->magic, 0, sizeof(si->magic)) &&
		   strstr(si->magic, "x86_64"));

	/* the command line as given, cut to what boot_info holds */
	FUZZ_CHECK(memchr(bi->cmdline, 0, sizeof(bi->cmdline)));
	FUZZ_CHECK(bi->cmdline_truncated == (n >= sizeof(bi->cmdline)));
	FUZZ_CHECK(!memcmp(bi->cmdline, si->cmd_line, strlen(bi->cmdline)));
	FUZZ_CHECK(strlen(bi->cmdline) == (n < sizeof(bi->cmdline) ? n : sizeof(bi->cmdline) - 1));

	/* the domain's RAM: exactly nr_pages pages */
	FUZZ_CHECK(si->nr_pages && bi->mem_count == 1 && bi->mem[0].base == 0);
	FUZZ_CHECK(bi->mem[0].type == MEM_RAM && bi->mem[0].len / PAGE_SIZE == si->nr_pages);
	uint64_t ram = bi->mem[0].len;

	FUZZ_CHECK(bi->xen_pv.is_dom0 == !!(si->flags & SIF_INITDOMAIN));
	FUZZ_CHECK(bi->xen_pv.nr_pages == si->nr_pages && bi->xen_pv.mfn_list == si->mfn_list);
	if (bi->xen_pv.is_dom0)
		FUZZ_CHECK(bi->xen_pv.console_mfn == 0 && bi->xen_pv.console_evtchn == 0);

	FUZZ_CHECK(bi->mod_count <= 1);
	if (bi->mod_count) {
		FUZZ_CHECK(si->mod_start && si->mod_len == bi->mods[0].len);
		FUZZ_CHECK(!(si->flags & SIF_MULTIBOOT_MOD));
		FUZZ_CHECK(bi->mods[0].paddr + bi->mods[0].len >= bi->mods[0].paddr);
	} else {
		FUZZ_CHECK(!si->mod_start || !si->mod_len);
	}

	/* the bootstrap area: inside the domain, from start_info or the p2m list (whichever
	 * is first) through the page tables and the boot stack page after them */
	FUZZ_CHECK(bi->reserved_count == 1);
	const struct mem_range *r = &bi->reserved[0];
	uint64_t pt_off = si->pt_base - vb, npt = bi->xen_pv.nr_pt_frames;

	FUZZ_CHECK(r->type == MEM_RESERVED && r->len > 0);
	FUZZ_CHECK(r->base <= ram && r->len <= ram - r->base);
	FUZZ_CHECK(r->base <= si_pa && r->base <= si->mfn_list - vb);
	FUZZ_CHECK(npt == si->nr_pt_frames && bi->xen_pv.pt_pfn == pt_off / PAGE_SIZE);
	FUZZ_CHECK(pt_off >= r->base && npt < ram / PAGE_SIZE);
	FUZZ_CHECK(pt_off + (npt + 1) * PAGE_SIZE <= r->base + r->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct boot_info bi;
	struct fz f = {data, size};
	struct start_info *si = calloc(1, sizeof(*si));
	uint64_t si_pa = fz_u64(&f);
	uint64_t vb = (uint64_t)(uintptr_t)si - si_pa;

	fz_bytes(&f, si, sizeof(*si));
	si->pt_base += vb;
	si->mfn_list += vb;
	if (!(si->flags & SIF_MOD_START_PFN))
		si->mod_start += vb;
	memset(&bi, 0, sizeof(bi));
	int rc = boot_parse_xenpv(&bi, si, vb);

	if (rc == 0) {
		check_accepted(&bi, si, si_pa, vb);
	} else {
		FUZZ_CHECK(rc == -EINVAL && bi.error == bi.error_buf);
		FUZZ_CHECK(memchr(bi.error_buf, 0, sizeof(bi.error_buf)) && bi.error_buf[0]);
	}
	free(si);
	return 0;
}
