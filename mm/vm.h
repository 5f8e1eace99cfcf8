/* Kernel mappings: the one page-table walker, on top of the CPU mode's paging operations
 * (arch_x86_64/paging.h). Maps with 2 MiB pages where the platform allows and the range
 * is aligned, 4 KiB otherwise, and splits a 2 MiB page when a change needs 4 KiB. */
#ifndef MM_VM_H
#define MM_VM_H

#include "arch_x86_64/paging.h"

/* The tables' memory: where a page-table frame can be read (and, natively, written), and
 * where a fresh, zeroed, prepared table frame comes from. mm.c provides both. */
struct vm_env {
	const struct paging_ops *pg;
	uint64_t root; /* the kernel's root table */
	/* the root the low half is walked from: the current address space's (NULL: root) */
	uint64_t (*low_root)(void);
	/* told when a root's low-half slot is linked or unlinked (NULL: nobody): Xen PV's
	 * user-mode root mirrors its space's low half */
	void (*low_slot)(uint64_t root, unsigned idx, uint64_t e);
	void *(*frame_va)(uint64_t pfn);
	int64_t (*new_table)(void);
};

extern struct vm_env vm;

/* Maps n pages at va to frames pfn.. with PTE flags (PTE_P implied); large pages when
 * `large` and the platform allows. Returns 0 or a negative error. */
int vm_map(uint64_t va, uint64_t pfn, uint64_t n, uint64_t flags, bool large);
int vm_unmap(uint64_t va, uint64_t n);
/* Changes the rights of n mapped pages to `flags`, keeping the frames they map (whatever
 * those are: on Xen PV a page may hold a frame the guest does not own, like shared_info). */
int vm_protect(uint64_t va, uint64_t n, uint64_t flags);
/* Makes sure the 4 KiB-level tables for [va, va + n pages) exist, so that a following
 * vm_map(..., large = false) of that range needs no new page-table frame. */
int vm_prepare(uint64_t va, uint64_t n);
/* Unlinks the low half's level-1 and level-2 tables that map nothing (an app's, once its
 * pages are gone) and puts their frames in pfns (at most max); returns how many. The
 * caller frees them once no TLB can hold them. The level-3 tables stay (a Xen PV app's
 * user root links them too). */
unsigned vm_unlink_empty_low(uint64_t *pfns, unsigned max);
/* Unlinks every table of root's low half, whatever it holds, level-3 ones included (an
 * address space's end, once no CPU uses it and its frames are freed), into pfns (at most
 * max, at least 3): how many; call again until 0. */
unsigned vm_unlink_low_tables(uint64_t root, uint64_t *pfns, unsigned max);
/* Calls fn for every 4 KiB-level entry of root's low half that is not 0 (present, or a
 * not-present value of the caller's), in address order, until fn returns non-zero (which
 * it returns). */
int vm_each_low(uint64_t root, int (*fn)(uint64_t va, uint64_t e, void *arg), void *arg);
/* Clears every 4 KiB-level entry of root's low half that is not 0, a level-1 table at a
 * time: fn is told each entry first, then the table's entries are zeroed in one write,
 * then after(arg) is called (NULL: not). The tables stay. For a space no thread uses
 * meanwhile (nothing else changes its entries). 0 or -EIO. */
int vm_clear_low(uint64_t root, void (*fn)(uint64_t va, uint64_t e, void *arg),
		 void (*after)(void *arg), void *arg);
/* Writes entry e (as vm_each_low gave it: present or not) at low-half va in root's tables,
 * making them. 0 or a negative error. */
int vm_set_in(uint64_t root, uint64_t va, uint64_t e);
/* Makes the level-3 table for high-half va in the kernel's root (mm_init). */
int vm_prepare_slot(uint64_t va);
/* The 4 KiB-level entry for va as it is, present or not (0 when there is no such table, or
 * a 2 MiB page covers va). */
uint64_t vm_entry_4k(uint64_t va);
/* How many pages from va on, up to max, have 4 KiB-level entries e with (e & mask) == want,
 * within va's leaf table (a run never crosses into the next one); 0 when va has no leaf
 * table or a 2 MiB page covers it. One walk for the run, where vm_entry_4k is a walk a
 * page: an unmap clears a run of entries with one write (vm_set_absent). */
unsigned vm_leaf_run(uint64_t va, unsigned max, uint64_t mask, uint64_t want);
/* The first page address in [va, end) that a 4 KiB-level table (or a 2 MiB page) covers:
 * va itself unless there is none there; end when none covers any of it. Skips, a level at
 * a time, what no table covers, so that a walk of a large, mostly empty range (an unmap of
 * a reservation never touched) costs its tables, not its pages. */
uint64_t vm_next_table(uint64_t va, uint64_t end);
/* Writes the not-present value val (PTE_P clear: the caller's own marks, no frame) into
 * the 4 KiB-level entries of n pages at va, making the tables; what was mapped there is
 * simply dropped (the caller frees its frames). 0 or a negative error. */
int vm_set_absent(uint64_t va, uint64_t n, uint64_t val);
/* The leaf entry mapping va (0 when unmapped), and its level (1: 4 KiB, 2: 2 MiB). */
uint64_t vm_lookup(uint64_t va, int *level);

#endif
