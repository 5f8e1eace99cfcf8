/* Page tables of a Xen PV kernel (xen/xen.h, "MMU updates"): entries hold machine frames,
 * every write is an mmu_update hypercall that Xen validates, and a page may become a page
 * table only when no writable mapping of it exists. We keep the tables Xen's domain
 * builder made (already pinned and live) and extend them. */
#include <stdint.h>

#include <xen/xen.h>

#include "arch_x86_64/bootinfo.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "common/panic.h"
#include "hv_xen/hypercall.h"
#include "lib/errno.h"

#define BATCH 128

static const uint64_t *p2m; /* pfn -> mfn, from start_info.mfn_list */
static uint64_t nr_pages, root_pfn, nr_pt_frames;
/* frames below this are in the builder's bootstrap mapping at KERNEL_VBASE + pa */
static uint64_t bootstrap_end;

void paging_xenpv_setup(const struct boot_info *bi)
{
	p2m = (const uint64_t *)bi->xen_pv.mfn_list;
	nr_pages = bi->xen_pv.nr_pages;
	root_pfn = bi->xen_pv.pt_pfn;
	nr_pt_frames = bi->xen_pv.nr_pt_frames;
	/* xen/xen.h: the mapping reaches at least 512 KiB past the boot stack, which follows
	 * the page tables */
	bootstrap_end = root_pfn + nr_pt_frames + 1 + (512 << 10) / PAGE_SIZE;
	if (bootstrap_end > nr_pages)
		bootstrap_end = nr_pages;
}

/* CPUID's NX bit, read once (every entry made asks; a PV guest's cpuid may trap to Xen) */
static bool xenpv_nx(void)
{
	static int8_t known; /* 0: not read yet, 1: no NX, 2: NX */
	int8_t k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (!k)
		__atomic_store_n(&known, k = cpuid(0x80000001, 0).edx & (1u << 20) ? 2 : 1,
				 __ATOMIC_RELAXED);
	return k == 2;
}

static uint64_t xenpv_flags(uint64_t flags)
{
	return xenpv_nx() ? flags : flags & ~PTE_NX;
}

static uint64_t xenpv_entry(uint64_t pfn, uint64_t flags)
{
	flags = xenpv_flags(flags);
	return pfn < nr_pages ? p2m[pfn] << 12 | flags : 0;
}

static uint64_t xenpv_entry_pfn(uint64_t e)
{
	return machine_to_phys_mapping[(e & PTE_ADDR) >> 12];
}

static int xenpv_set(uint64_t *table, uint64_t table_pfn, unsigned idx, unsigned n,
		     const uint64_t *vals)
{
	struct mmu_update req[BATCH];
	uint64_t base = p2m[table_pfn] << 12;

	while (n) {
		unsigned k = n < BATCH ? n : BATCH, done = 0;

		for (unsigned i = 0; i < k; i++)
			req[i] = (struct mmu_update){ (base + (idx + i) * 8) | MMU_NORMAL_PT_UPDATE,
						      vals[i] };
		long rc = xen_mmu_update(req, k, &done);

		if (rc < 0 || done != k)
			return rc < 0 ? (int)rc : -1;
		idx += k;
		vals += k;
		n -= k;
	}
	return 0;
}

/* Read-only in both places a frame can be mapped: the builder's initial mapping at
 * KERNEL_VBASE + pa, and the direct map. Where an alias does not exist Xen says so and
 * that is fine; a writable alias that remains makes linking the table fail, loudly. */
static int xenpv_prepare_table(uint64_t pfn)
{
	uint64_t ro = xenpv_entry(pfn, PTE_P | PTE_A | PTE_NX);

	xen_update_va_mapping(KERNEL_VBASE + pfn * PAGE_SIZE, ro, UVMF_INVLPG | UVMF_LOCAL);
	xen_update_va_mapping(DIRECT_BASE + pfn * PAGE_SIZE, ro, UVMF_INVLPG | UVMF_LOCAL);
	return 0;
}

/* The inverse: writable again in both places (Xen refuses while the frame is still a page
 * table somewhere: then it stays read-only, and the frame only ever holds zeroes to us) */
static void xenpv_release_table(uint64_t pfn)
{
	uint64_t rw = xenpv_entry(pfn, PTE_P | PTE_W | PTE_A | PTE_D | PTE_NX);

	xen_update_va_mapping(KERNEL_VBASE + pfn * PAGE_SIZE, rw, UVMF_INVLPG | UVMF_LOCAL);
	/* (Xen refuses while the frame is still a page table somewhere: a root still loaded
	 * or pinned, a table still linked. Said here, not at the next writer's fault.) */
	long rc = xen_update_va_mapping(DIRECT_BASE + pfn * PAGE_SIZE, rw, UVMF_INVLPG | UVMF_LOCAL);

	if (rc < 0)
		panic("xen-pv: page table %#lx freed while Xen still uses it (%ld)",
		      (unsigned long)pfn, rc);
}

static void mmuext(unsigned cmd, uint64_t va)
{
	struct mmuext_op op = { .cmd = cmd, .arg1.linear_addr = va };
	unsigned done;

	xen_mmuext_op(&op, 1, &done);
}

static void xenpv_flush_page(uint64_t va)
{
	mmuext(MMUEXT_INVLPG_LOCAL, va);
}

static void xenpv_flush_all(void)
{
	mmuext(MMUEXT_TLB_FLUSH_LOCAL, 0);
}

static int64_t xenpv_root(int64_t (*alloc)(void))
{
	return (int64_t)root_pfn;
}

static void xenpv_activate(uint64_t pfn)
{
	xenpv_flush_all();
}

static int xenpv_pin_root(uint64_t pfn)
{
	struct mmuext_op op = { .cmd = MMUEXT_PIN_L4_TABLE, .arg1.mfn = p2m[pfn] };
	unsigned done = 0;
	long rc = xen_mmuext_op(&op, 1, &done);

	return rc < 0 ? (int)rc : done == 1 ? 0 : -EIO;
}

static void xenpv_unpin_root(uint64_t pfn)
{
	struct mmuext_op op = { .cmd = MMUEXT_UNPIN_TABLE, .arg1.mfn = p2m[pfn] };
	unsigned done;

	xen_mmuext_op(&op, 1, &done);
}

/* both baseptrs in one call: the kernel's root, and the one Xen's user mode runs on */
static void xenpv_load(uint64_t root_pfn, uint64_t user_root_pfn)
{
	struct mmuext_op op[2] = {
		{ .cmd = MMUEXT_NEW_BASEPTR, .arg1.mfn = p2m[root_pfn] },
		{ .cmd = MMUEXT_NEW_USER_BASEPTR, .arg1.mfn = p2m[user_root_pfn] },
	};
	unsigned done = 0;
	long rc = xen_mmuext_op(op, 2, &done);

	if (rc < 0 || done != 2)
		panic("xen-pv: switching to root %#lx (user %#lx) failed (%ld, %u done)",
		      (unsigned long)root_pfn, (unsigned long)user_root_pfn, rc, done);
}

static void *xenpv_early_va(uint64_t pfn)
{
	return pfn < bootstrap_end ? (void *)(KERNEL_VBASE + pfn * PAGE_SIZE) : NULL;
}

static void xenpv_boot_tables(uint64_t *first, uint64_t *count)
{
	*first = root_pfn;
	*count = nr_pt_frames;
}

const struct paging_ops paging_xenpv = {
	.name = "xen-pv",
	.large_pages = false,
	.ro_tables = true,
	.live_root = true,
	.nx = xenpv_nx,
	.entry = xenpv_entry,
	.flags = xenpv_flags,
	.entry_pfn = xenpv_entry_pfn,
	.set = xenpv_set,
	.prepare_table = xenpv_prepare_table,
	.release_table = xenpv_release_table,
	.flush_page = xenpv_flush_page,
	.flush_all = xenpv_flush_all,
	.root = xenpv_root,
	.activate = xenpv_activate,
	.pin_root = xenpv_pin_root,
	.unpin_root = xenpv_unpin_root,
	.load = xenpv_load,
	.early_va = xenpv_early_va,
	.boot_tables = xenpv_boot_tables,
};
