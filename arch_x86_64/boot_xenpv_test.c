#include <stdint.h>
#include <string.h>

#include <xen/xen.h>

#include "arch_x86_64/bootinfo.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

/* The start_info page sits 0x105000 bytes into the domain's pseudo-physical space, as
 * libxc lays it out after a 1 MiB kernel at pfn 0x100. */
static union {
	struct start_info si;
	uint8_t page[4096];
} page;
#define SI_PA 0x105000ULL

static uint64_t virt_base(void)
{
	return (uint64_t)&page.si - SI_PA;
}

static void good(void)
{
	memset(&page, 0, sizeof(page));
	strcpy(page.si.magic, "xen-3.0-x86_64");
	page.si.nr_pages = 8192;
	page.si.console.domU.mfn = 0x1234;
	page.si.console.domU.evtchn = 2;
	page.si.store_mfn = 0x1235;
	page.si.store_evtchn = 1;
	page.si.pt_base = virt_base() + 0x10a000;
	page.si.nr_pt_frames = 4;
	page.si.mfn_list = virt_base() + 0x106000;
	strcpy((char *)page.si.cmd_line, "test=boot");
}

TEST(xenpv_parses_a_good_start_info)
{
	struct boot_info bi = { 0 };

	good();
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), 0);
	CHECK(bi.error == NULL);
	CHECK_EQ(bi.entry, BOOT_XEN_PV);
	CHECK_STR(bi.cmdline, "test=boot");
	CHECK(bi.mem_count == 1 && bi.mem[0].len == 8192ULL * 4096);
	CHECK_EQ(bi.xen_pv.console_mfn, 0x1234);
	CHECK_EQ(bi.xen_pv.console_evtchn, 2);
	CHECK(!bi.xen_pv.is_dom0);
	/* start_info .. page tables + boot stack */
	CHECK(bi.reserved_count == 1 && bi.reserved[0].base == SI_PA &&
	      bi.reserved[0].base + bi.reserved[0].len == 0x10a000 + 5 * 4096);
	/* with the p2m list before start_info (libxc's order) the area starts at the list */
	memset(&bi, 0, sizeof(bi));
	page.si.mfn_list = virt_base() + 0x103000;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), 0);
	CHECK(bi.reserved_count == 1 && bi.reserved[0].base == 0x103000 &&
	      bi.reserved[0].base + bi.reserved[0].len == 0x10a000 + 5 * 4096);
}

TEST(xenpv_rejects_bad_start_info)
{
	struct boot_info bi = { 0 };

	good();
	strcpy(page.si.magic, "hello");
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "magic"));

	good();
	memset(page.si.magic, 'x', sizeof(page.si.magic)); /* unterminated */
	memcpy(page.si.magic, "xen-", 4);
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);

	good();
	page.si.nr_pages = 0;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(strstr(bi.error, "nr_pages"));

	good();
	page.si.pt_base = virt_base() + 8192ULL * 4096; /* beyond the domain */
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(strstr(bi.error, "page tables"));

	good();
	page.si.flags = SIF_MULTIBOOT_MOD;
	page.si.mod_start = 0x200;
	page.si.mod_len = 10;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
}

TEST(xenpv_modules_dom0_and_long_cmdline)
{
	struct boot_info bi = { 0 };

	good();
	page.si.flags = SIF_MOD_START_PFN | SIF_INITDOMAIN;
	page.si.mod_start = 0x300;
	page.si.mod_len = 5000;
	memset(page.si.cmd_line, 'a', MAX_GUEST_CMDLINE); /* no terminator */
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), 0);
	CHECK(bi.mod_count == 1 && bi.mods[0].paddr == 0x300000 && bi.mods[0].len == 5000);
	CHECK(bi.xen_pv.is_dom0 && bi.xen_pv.console_mfn == 0);
	CHECK(bi.cmdline_truncated);
	CHECK_EQ(strlen(bi.cmdline), BOOT_CMDLINE_MAX - 1);

	memset(&bi, 0, sizeof(bi));
	good();
	page.si.mod_start = virt_base() + 0x400000; /* a virtual address without the flag */
	page.si.mod_len = 1;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), 0);
	CHECK_EQ(bi.mods[0].paddr, 0x400000);
}

/* The module start_info names must lie wholly in the domain's memory, away from the kernel
 * and the bootstrap area; anything else is refused with a message, never passed on. */
TEST(xenpv_refuses_modules_out_of_bounds)
{
	struct boot_info bi;
	const struct mem_range kernel = { 0x100000, 0x5000, MEM_RESERVED };
	struct {
		uint32_t flags;
		uint64_t start, len;
		const char *why;
	} bad[] = {
		/* past the 32 MiB Xen gave, at the end or by a length that wraps */
		{ SIF_MOD_START_PFN, 0x1fff, 0x2000, "past the domain" },
		{ SIF_MOD_START_PFN, 0x300, UINT64_MAX - 0x1000, "past the domain" },
		{ SIF_MOD_START_PFN, 1ull << 60, 1, "past the domain" },
		{ SIF_MOD_START_PFN, 0x2000, 1, "past the domain" },
		{ 0, 0x3000000, 1, "past the domain" }, /* a virtual address past the end */
		{ 0, 1, 1, "below the kernel" }, /* as is: below virt_base, would wrap */
		/* over the kernel, or over start_info and the page tables */
		{ SIF_MOD_START_PFN, 0xff, 0x2000, "overlaps" },
		{ SIF_MOD_START_PFN, 0x104, 0x2000, "overlaps" },
		{ SIF_MOD_START_PFN, 0x10e, 0x10, "overlaps" },
	};

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&bi, 0, sizeof(bi));
		bi.reserved[0] = kernel; /* as the entry (start.c) puts it */
		bi.reserved_count = 1;
		good();
		page.si.flags = bad[i].flags;
		page.si.mod_start = bad[i].flags || bad[i].start == 1 ? bad[i].start :
								       virt_base() + bad[i].start;
		page.si.mod_len = bad[i].len;
		CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
		CHECK(bi.mod_count == 0 && bi.error && strstr(bi.error, bad[i].why));
		if (!bi.error || !strstr(bi.error, bad[i].why))
			printf("  case %u: %s\n", i, bi.error ? bi.error : "(accepted)");
	}
	/* right up to the end of memory, just after the bootstrap area: fine */
	memset(&bi, 0, sizeof(bi));
	bi.reserved[0] = kernel;
	bi.reserved_count = 1;
	good();
	page.si.flags = SIF_MOD_START_PFN;
	page.si.mod_start = 0x10f;
	page.si.mod_len = (8192 - 0x10f) * 4096ull;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), 0);
	CHECK(bi.mod_count == 1 && bi.mods[0].paddr == 0x10f000);
}

TEST(xenpv_refuses_a_page_table_count_that_wraps)
{
	struct boot_info bi = { 0 };

	good();
	page.si.nr_pt_frames = (UINT64_MAX >> 12); /* (n + 1) * 4096 wraps to 0 */
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "page tables"));
	good();
	page.si.nr_pages = UINT64_MAX / 2;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
}

/* Found by fuzz/boot_xenpv_fuzz.c: sizes whose byte counts wrap around 2^64 passed the
 * bounds check, giving a RAM range that is not nr_pages long and a bootstrap area that
 * misses the page tables. */
TEST(xenpv_rejects_sizes_that_wrap)
{
	struct boot_info bi = { 0 };

	good();
	page.si.nr_pages = 1ULL << 52 | 8192; /* * 4096 wraps to 32 MiB */
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "nr_pages"));

	memset(&bi, 0, sizeof(bi));
	good();
	page.si.nr_pt_frames = (1ULL << 52) - 1; /* (frames + 1) * 4096 wraps to 0 */
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "page tables"));

	memset(&bi, 0, sizeof(bi));
	good();
	page.si.nr_pt_frames = 8191; /* they and the stack page run past the domain */
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
}

/* Found by fuzz/boot_xenpv_fuzz.c: a module that wraps around the address space was
 * accepted (the PVH parser refuses one); its last page would then seem to lie below its
 * first. */
TEST(xenpv_rejects_a_module_that_wraps)
{
	struct boot_info bi = { 0 };

	good();
	page.si.flags = SIF_MOD_START_PFN;
	page.si.mod_start = 0x300;
	page.si.mod_len = UINT64_MAX - 0x1000;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
	CHECK(bi.error && strstr(bi.error, "module"));

	memset(&bi, 0, sizeof(bi));
	good();
	page.si.mod_start = virt_base() - 0x1000; /* below the kernel's base: no address */
	page.si.mod_len = 0x2000;
	CHECK_EQ(boot_parse_xenpv(&bi, &page.si, virt_base()), -EINVAL);
}
