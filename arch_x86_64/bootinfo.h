/* What an entry hands to boot_main(): the one normalised description of the boot, so that
 * nothing after the entry reads hvm_start_info or start_info itself. */
#ifndef ARCH_BOOTINFO_H
#define ARCH_BOOTINFO_H

#include "lib/compiler.h"
#include "lib/memmap.h"

enum boot_entry {
	BOOT_PVH = 1,	 /* 32-bit XEN_ELFNOTE_PHYS32_ENTRY: QEMU/KVM and Xen PVH */
	BOOT_XEN_PV = 2, /* XEN_ELFNOTE_ENTRY: Xen PV, kernel deprivileged */
};

#define BOOT_CMDLINE_MAX 1024
#define BOOT_MODS_MAX 8
#define BOOT_RESERVED_MAX 8

struct boot_module {
	uint64_t paddr;
	uint64_t len;
};

struct boot_info {
	enum boot_entry entry;
	/* set when the boot structure was unusable: boot_main reports it and fails */
	const char *error;
	char error_buf[160];
	char cmdline[BOOT_CMDLINE_MAX];
	bool cmdline_truncated;
	struct mem_range mem[MEMMAP_MAX];
	unsigned mem_count;
	/* physical ranges in use at entry besides the modules (kernel image, boot data) */
	struct mem_range reserved[BOOT_RESERVED_MAX];
	unsigned reserved_count;
	struct boot_module mods[BOOT_MODS_MAX];
	unsigned mod_count;
	unsigned mods_dropped;
	uint64_t rsdp_paddr; /* 0: none given */
	/* Xen PV only: the pages and ports start_info names (machine frame numbers) */
	struct {
		bool is_dom0;
		uint64_t nr_pages;
		uint64_t shared_info_maddr;
		uint64_t store_mfn, console_mfn;
		uint32_t store_evtchn, console_evtchn;
		uint64_t mfn_list; /* virtual address of the pfn -> mfn array */
		uint64_t pt_pfn, nr_pt_frames; /* the builder's page tables (root first) */
	} xen_pv;
};

/* Parsers (pure code, host-tested). They fill *bi and return 0, or return -EINVAL with
 * bi->error saying what was wrong. `map` gives a readable pointer to physical memory. */
int boot_parse_pvh(struct boot_info *bi, uint64_t start_info_pa,
		   const void *(*map)(uint64_t pa, size_t len));
struct start_info;
int boot_parse_xenpv(struct boot_info *bi, const struct start_info *si, uint64_t virt_base);

#endif
