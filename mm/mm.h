/* Memory: frames, the kernel heap, guarded kernel stacks and device mappings. One mm for
 * every platform; what differs (native page tables or Xen PV's) is behind the CPU mode's
 * paging operations. Layout: arch_x86_64/layout.h. Design: mm/README.md. */
#ifndef MM_MM_H
#define MM_MM_H

#include "arch_x86_64/bootinfo.h"
#include "lib/compiler.h"

/* Builds the page tables (W^X kernel image, direct map of all RAM), the frame allocator
 * and the heap. Panics with the reason when memory cannot be set up. */
void mm_init(struct boot_info *bi);

/* Physical frames (pfn numbers); contiguous blocks are 2^order frames aligned to size. */
int64_t mm_frame_alloc(void);
void mm_frame_free(uint64_t pfn);
int64_t mm_frames_alloc(unsigned order);
void mm_frames_free(uint64_t pfn, unsigned order);
/* the block's frames, each freed on its own from now on (mm/frame.h: frames_split) */
void mm_frames_split(uint64_t pfn, unsigned order);
/* a frame's address in the direct map, and back (UINT64_MAX if va is not in it) */
void *mm_frame_va(uint64_t pfn);
uint64_t mm_va_pfn(const void *va);

/* The heap. NULL when out of memory; kfree(NULL) is fine; a bad pointer panics. */
void *kmalloc(size_t size);
void *kmalloc_aligned(size_t size, size_t align);
void *kcalloc(size_t n, size_t size);
void kfree(void *p);
/* What a block from kmalloc holds (its size class, at least what was asked); 0 for
 * memory the heap does not hand out (static data, a stack, a frame of its own). */
size_t ksize(const void *p);

/* A kernel stack of `size` bytes (at most 60 KiB) above an unmapped guard page; returns
 * its top, or NULL. */
void *mm_stack_alloc(size_t size);
void mm_stack_free(void *top, size_t size);

/* Other CPUs' TLBs: a CPU calls mm_tlb_sync at every context switch and IPI, and flushes
 * if kernel mappings were removed since its last flush; mm_tlb_kick (set by the scheduler)
 * asks the CPUs of a mask to do that soon (an unmap that waits for them). */
void mm_tlb_sync(void);
extern void (*mm_tlb_kick)(uint64_t cpus); /* (a bit per CPU to kick) */
/* (set by the scheduler too: lets others run while an unmap waits for their flushes) */
extern void (*mm_tlb_yield)(void);

/* App memory (HP mode's low half, below USER_TOP): n zeroed pages at va with PTE flags
 * (0 or a negative error, nothing left mapped on failure); unmapping frees the frames and
 * skips holes. mm_user_frame_va: where the byte at app address va is in the direct map
 * (NULL when unmapped), for writing into pages mapped read-only to the app (never one
 * shared copy on write: a space's own pages only, as an app's loader makes them). */
#define USER_TOP 0x0000800000000000ull
/* with the PTE flags of app memory: MAP_SHARED, a page whose frame a fork shares (both
 * write the same memory) rather than copies on write; kept by mm_user_protect, and by
 * mm_user_discard, which leaves such a page as it is */
#define MM_SHARED (1ull << 9)
int mm_user_map(uint64_t va, uint64_t n, uint64_t flags);
void mm_user_unmap(uint64_t va, uint64_t n);
void *mm_user_frame_va(uint64_t va);
/* n pages of the kernel image at kva (page-aligned, nothing else on them) shared with the
 * app at va, read-only (PTE_W refused): the vDSO and the clock page. Unmaps never free
 * them. 0 or a negative error. */
int mm_user_map_kernel(uint64_t va, const void *kva, uint64_t n, uint64_t flags);
/* A frame held elsewhere (the file tree's page of a program: mm_frame_hold gave the
 * caller a hold on it, which the mapping takes over) mapped at va, read-only to every
 * holder (PTE_W: copy on write, as after a fork). 0 or a negative error (the hold stays
 * the caller's). mm_frame_put lets go of a hold; the last frees the frame. */
int mm_user_map_frame(uint64_t va, uint64_t pfn, uint64_t flags);
void mm_frame_hold(uint64_t pfn);
void mm_frame_put(uint64_t pfn);
/* fn frees memory kept only for speed (the file tree's program pages) and says whether it
 * freed any: tried once when an app page finds no frame, from any context (it must not
 * wait for a lock) */
void mm_set_reclaim(bool (*fn)(void));
/* Pages on first touch (Linux's anonymous memory): n pages at va are reserved with PTE
 * flags, and each gets its zeroed frame when first touched (mm_user_fault, from the page
 * fault handler). 0 or a negative error (nothing left reserved). mm_user_unmap unmaps
 * reserved pages as well as mapped ones. */
int mm_user_reserve(uint64_t va, uint64_t n, uint64_t flags);
/* A not-present fault at app address va, or a write (`write`) to a page shared copy on
 * write (mm_space_copy): 1 when va is a reserved page, mapped now, or a shared page,
 * writable now (or either meanwhile by another thread), so the access can be made again;
 * 0 when it is neither; -ENOMEM when no frame could be had (said once). Any context,
 * interrupts on or off. */
int mm_user_fault(uint64_t va, bool write);
/* whether va's page is reserved and not touched yet */
bool mm_user_lazy(uint64_t va);
/* whether va's page is shared copy on write (not writable until its next write fault) */
bool mm_user_cow(uint64_t va);
/* write faults on pages shared copy on write since boot, and how many of them copied */
void mm_cow_counts(uint64_t *faults, uint64_t *copies);
/* va's page's rights (PTE_W, PTE_U, PTE_NX), mapped or reserved; 0 when it is neither */
uint64_t mm_user_rights(uint64_t va);
/* pages given their frame at first touch, since boot */
uint64_t mm_user_faults(void);
/* A page's rights (PTE flags): mapped or reserved. 0, or -ENOENT when it is neither. */
int mm_user_protect(uint64_t va, uint64_t flags);
/* The frames of n pages go back and the pages are reserved again, with their rights: they
 * read as zero (MADV_DONTNEED). Pages not mapped are left as they are. */
void mm_user_discard(uint64_t va, uint64_t n);
/* A root table that maps the low half as the kernel's does, and nothing of the kernel
 * (for a CPU mode whose user mode has a root of its own: Xen PV). Low-half slots made
 * after this are not in it. Its pfn, or a negative error. */
int64_t mm_user_root(void);
/* Frees such a root once no CPU uses it (each one's user mode switched back). */
void mm_user_root_free(int64_t pfn);
/* Frees the page tables of the low half that map nothing any more (after an app). */
void mm_user_tables_free(void);
/* Unmaps and frees everything in the low half, then its page tables: the end of an app. */
void mm_user_unmap_all(void);
/* ... and keeps the page tables, for the next program in the same space (execve: it
 * maps at the same places, mostly; the tables go with the space or mm_user_tables_free) */
void mm_user_clear(void);
/* Address spaces: a process's low half, in a root table of its own (the kernel's half is
 * the same in every one). The kernel's root is the first (mm_space_kernel: HP mode's app,
 * normal mode's first process). The mm_user_* calls act on the space the calling CPU has
 * loaded: the scheduler loads a thread's own at every switch to it (thread_set_space). */
struct mm_space;
struct mm_space *mm_space_kernel(void);
/* a new space, its low half empty (Xen PV: and its user-mode root, both pinned): 0,
 * -ENOMEM or -EIO */
int mm_space_new(struct mm_space **out);
/* Copies the loaded space's low half into dst (fork), copy on write: each page's frame
 * shared by both, read-only in both where it is writable, until a write fault gives the
 * writer a copy (mm_user_fault); pages not touched yet stay so in each, the kernel's pages
 * (the vDSO) shared. 0, or -ENOMEM (dst holds part of it: free it). The caller keeps the
 * source's memory calls out meanwhile. */
int mm_space_copy(struct mm_space *dst);
/* s's low half: pages with a frame, and pages reserved without one yet (/proc's RSS and
 * VSZ). The caller keeps s's memory calls out and s alive meanwhile. */
void mm_space_pages(struct mm_space *s, uint64_t *present, uint64_t *reserved);
/* Loads s on this CPU (the scheduler, interrupts off; NULL: keep what is loaded). */
void mm_space_switch(struct mm_space *s);
/* Frees a space no thread uses any more: every CPU leaves it, then its frames, tables and
 * root go back. (The kernel's is never freed.) */
void mm_space_free(struct mm_space *s);
/* spaces made and not freed yet (the kernel's not counted) */
uint64_t mm_spaces_live(void);
/* Device registers at physical pa, mapped uncached; NULL where the platform has none. */
void *mm_map_mmio(uint64_t pa, size_t len);

struct mm_stats {
	uint64_t usable_kib, free_kib, kernel_kib, meta_kib, pagetable_kib;
	uint64_t heap_slabs[8], heap_objects[8], heap_large_blocks, heap_large_kib;
};
void mm_stats(struct mm_stats *s);
/* the RAM the frame allocator manages, in KiB; what of it is free now (O(1): mm_stats
 * walks every frame to count page tables, some 10 ms in a 512 MiB VM under TCG) */
uint64_t mm_usable_kib(void);
uint64_t mm_free_kib(void);
void mm_stats_print(void);
/* the frame allocator's lists against its metadata: NULL, or what is wrong (tests) */
const char *mm_frames_check(void);
/* Returns this CPU's caches and empty slabs to the frame allocator, for exact accounting
 * (sched_mm_stats_exact: every CPU's). */
void mm_trim(void);
bool mm_ready(void);

#endif
