/* Page tables of a kernel in ring 0: plain stores, invlpg, CR3. */
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"

/* EFER.NXE, set by the PVH entry when the CPU has NX (and at every AP's start as on the
 * boot CPU), read once: every entry made asks, and an EFER read is an exit to the
 * hypervisor in a Xen PVH or KVM guest (read each time, a busybox shell loop's command
 * took 115 ms on the nested rig's xen-pvh, 10.4 ms read once) */
static bool native_nx(void)
{
	static int8_t known; /* 0: not read yet, 1: no NX, 2: NX (a race reads it twice) */
	int8_t k = __atomic_load_n(&known, __ATOMIC_RELAXED);

	if (!k)
		__atomic_store_n(&known, k = rdmsr(MSR_EFER) & EFER_NXE ? 2 : 1, __ATOMIC_RELAXED);
	return k == 2;
}

static uint64_t native_flags(uint64_t flags)
{
	return native_nx() ? flags : flags & ~PTE_NX;
}

static uint64_t native_entry(uint64_t pfn, uint64_t flags)
{
	flags = native_flags(flags);
	return pfn << 12 | flags;
}

static uint64_t native_entry_pfn(uint64_t e)
{
	return (e & PTE_ADDR) >> 12;
}

static int native_set(uint64_t *table, uint64_t table_pfn, unsigned idx, unsigned n,
		      const uint64_t *vals)
{
	for (unsigned i = 0; i < n; i++)
		WRITE_ONCE(table[idx + i], vals[i]);
	return 0;
}

static int native_prepare_table(uint64_t pfn)
{
	return 0;
}

static void native_release_table(uint64_t pfn)
{
}

static void native_flush_page(uint64_t va)
{
	__asm__ __volatile__("invlpg (%0)" : : "r"(va) : "memory");
}

static void native_flush_all(void)
{
	uint64_t cr3;

	__asm__ __volatile__("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

static int64_t native_root(int64_t (*alloc)(void))
{
	return alloc();
}

static void native_activate(uint64_t root_pfn)
{
	__asm__ __volatile__("mov %0, %%cr3" : : "r"(root_pfn << 12) : "memory");
}

static int native_pin_root(uint64_t pfn)
{
	return 0;
}

static void native_unpin_root(uint64_t pfn)
{
}

static void native_load(uint64_t root_pfn, uint64_t user_root_pfn)
{
	native_activate(root_pfn);
}

/* the PVH entry maps the low 4 GiB at DIRECT_BASE too */
static void *native_early_va(uint64_t pfn)
{
	return pfn < (4ULL << 30) / PAGE_SIZE ? (void *)(DIRECT_BASE + pfn * PAGE_SIZE) : NULL;
}

/* the entry's tables are left behind when CR3 moves to the new root */
static void native_boot_tables(uint64_t *first, uint64_t *count)
{
	*first = *count = 0;
}

const struct paging_ops paging_native = {
	.name = "native",
	.large_pages = true,
	.ro_tables = false,
	.live_root = false,
	.nx = native_nx,
	.entry = native_entry,
	.flags = native_flags,
	.entry_pfn = native_entry_pfn,
	.set = native_set,
	.prepare_table = native_prepare_table,
	.release_table = native_release_table,
	.flush_page = native_flush_page,
	.flush_all = native_flush_all,
	.root = native_root,
	.activate = native_activate,
	.pin_root = native_pin_root,
	.unpin_root = native_unpin_root,
	.load = native_load,
	.early_va = native_early_va,
	.boot_tables = native_boot_tables,
};
