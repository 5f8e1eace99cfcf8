/* x86-64 4-level page tables, written through the CPU mode's operations: a native kernel
 * stores entries and uses invlpg; a Xen PV kernel asks Xen (mmu_update), entries hold
 * machine frames, and every page-table page must be read-only wherever it is mapped. The
 * generic walker is mm/vm.c. */
#ifndef ARCH_PAGING_H
#define ARCH_PAGING_H

#include "lib/compiler.h"

#define PTE_P (1ull << 0)
#define PTE_W (1ull << 1)
#define PTE_U (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
#define PTE_FLAGS (~PTE_ADDR)

struct boot_info;

struct paging_ops {
	const char *name;
	bool large_pages; /* 2 MiB leaves allowed (Xen PV guests may not use them) */
	/* page-table pages must never be mapped writable (Xen PV) */
	bool ro_tables;
	/* root() returns the tables already in use: a mapping takes effect when it is made */
	bool live_root;
	/* whether the NX bit takes effect (entry() drops it where it would not) */
	bool (*nx)(void);
	/* an entry mapping frame pfn (native: pfn; PV: its machine frame) */
	uint64_t (*entry)(uint64_t pfn, uint64_t flags);
	/* the flags as an entry may carry them (NX dropped where it does not exist) */
	uint64_t (*flags)(uint64_t flags);
	/* the frame an entry maps (PV: back through the machine-to-phys table) */
	uint64_t (*entry_pfn)(uint64_t entry);
	/* writes n consecutive entries of table `table_pfn` from index idx; `table` is where
	 * the table can be read (native writes there too) */
	int (*set)(uint64_t *table, uint64_t table_pfn, unsigned idx, unsigned n,
		   const uint64_t *vals);
	/* a zeroed page becomes a page table: PV makes it read-only in every mapping of it */
	int (*prepare_table)(uint64_t pfn);
	/* a page table that nothing links any more (and no TLB holds) becomes a plain page
	 * again: PV maps it writable where prepare_table made it read-only */
	void (*release_table)(uint64_t pfn);
	void (*flush_page)(uint64_t va);
	void (*flush_all)(void);
	/* the root table (pfn) the kernel starts from: native: a new empty one (from alloc);
	 * PV: the live one Xen built, which we extend */
	int64_t (*root)(int64_t (*alloc)(void));
	/* starts using root: native loads CR3; PV is already on it */
	void (*activate)(uint64_t root_pfn);
	/* An address space's roots (mm's spaces): pin makes a prepared, filled frame a root
	 * that stays one while unused (PV: MMUEXT_PIN_L4_TABLE; native: nothing), unpin the
	 * inverse, before release_table; load switches this CPU to root, with user_root for
	 * user mode where the CPU mode has one (PV: both baseptrs; native: CR3 = root). */
	int (*pin_root)(uint64_t pfn);
	void (*unpin_root)(uint64_t pfn);
	void (*load)(uint64_t root_pfn, uint64_t user_root_pfn);
	/* before the direct map: where frame pfn can be read and written, or NULL (native:
	 * the boot tables' alias of the low 4 GiB; PV: the builder's bootstrap mapping) */
	void *(*early_va)(uint64_t pfn);
	/* the page-table frames the kernel was handed at boot (PV: the builder's) */
	void (*boot_tables)(uint64_t *first_pfn, uint64_t *count);
};

extern const struct paging_ops paging_native, paging_xenpv;

/* PV only: what the PV paging ops need from start_info (p2m list, bootstrap page tables) */
void paging_xenpv_setup(const struct boot_info *bi);

#endif
