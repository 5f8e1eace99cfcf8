/* Bringing memory up, and the kernel-facing API over the pure allocators:
 * 1. the early free ranges (RAM minus the kernel, boot data and modules);
 * 2. the kernel's page tables: the image W^X, a direct map of all RAM (and of what the
 *    firmware tables live in), page-table frames taken from the early ranges;
 * 3. frame metadata, the buddy allocator, the heap;
 * then guarded stacks and device mappings on demand. */
#include "mm/mm.h"

#include <stdarg.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "arch_x86_64/percpu.h"
#include "arch_x86_64/phys.h"
#include "common/console.h"
#include "common/panic.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/spinlock.h"
#include "lib/string.h"
#include "mm/early.h"
#include "mm/frame.h"
#include "mm/heap.h"
#include "mm/vm.h"

#define STACK_SLOT (64 << 10)	/* per stack: a guard page and up to 15 pages */
#define STACK_SLOTS 1024
#define MAX_EARLY_PT 1024

static void mm_panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpanic(fmt, ap);
}

void (*mm_fail)(const char *fmt, ...) = mm_panic;

static const struct paging_ops *pg;
static bool up;		     /* the direct map is live and the allocators run */
static uint64_t direct_upto; /* live-root platforms: frames below this are direct-mapped */
static struct early_mem early;
static uint64_t early_pt[MAX_EARLY_PT]; /* page-table frames taken early, ascending */
static unsigned n_early_pt;
static struct mem_range direct[MEMMAP_MAX]; /* what the direct map covers */
static unsigned n_direct;
static uint64_t max_pfn, meta_frames, kernel_frames;
/* frames in state FRAME_PAGETABLE (counted where they change state: mm_stats read them
 * by a pass over every frame, 1.5 ms of a 512 MiB VM's boot under TCG) */
static uint64_t pagetable_frames;
static struct frame_pool pool;
static struct heap heap;
static struct spinlock slot_lock, mmio_lock;
static uint64_t slot_used[STACK_SLOTS / 64];
/* TLB shootdown without waiting: an unmap bumps tlb_gen; each CPU flushes when it sees a
 * newer one (mm_tlb_sync) and records it; a freed stack slot is reused only when every
 * online CPU has flushed past the generation it was freed in. */
static uint64_t tlb_gen;
static uint64_t tlb_seen[MAX_CPUS];
static uint64_t slot_gen[STACK_SLOTS];
/* (CPU sets are masks: a bit per CPU) */
_Static_assert(MAX_CPUS <= 64 && MM_MAX_CPUS <= 64, "a CPU set is one 64-bit word");

static uint64_t cpus_flushed_through(void)
{
	uint64_t min = UINT64_MAX;

	for (unsigned i = 0; i < MAX_CPUS; i++)
		if (__atomic_load_n(&cpus[i].online, __ATOMIC_ACQUIRE))
			min = MIN(min, __atomic_load_n(&tlb_seen[i], __ATOMIC_ACQUIRE));
	return min == UINT64_MAX ? __atomic_load_n(&tlb_gen, __ATOMIC_ACQUIRE) : min;
}

static void leave_dying_space(unsigned cpu);
static void space_flush(uint64_t va, bool tables);
static void tlb_wait(uint64_t g, uint64_t which);
static uint64_t low_root(void);
static void free_table(uint64_t pfn);
static void low_slot(uint64_t root, unsigned idx, uint64_t e);

/* an address space (below, "Address spaces") */
struct mm_space {
	uint64_t root, user_root; /* user_root 0: user mode runs on root (native; PV HP mode) */
	bool dying;		  /* atomic */
	uint64_t gen;		  /* atomic: bumped at each change a CPU must flush (space_flush) */
	struct mm_space *next;	  /* in `spaces` */
};

static struct mm_space kernel_space;
/* per CPU: the space of the thread running there (NULL: a kernel thread), and the
 * generation of the loaded space its TLB has flushed through (space_flush) */
static struct mm_space *running[MM_MAX_CPUS];
static uint64_t loaded_gen[MM_MAX_CPUS];
/* per CPU: the space it has loaded (NULL: the kernel's root; "Address spaces" below), and
 * while a switch loads another, the one it leaves (its root is still in use until then) */
static struct mm_space *loaded[MM_MAX_CPUS], *leaving[MM_MAX_CPUS];

/* Preemption off: a thread moved to another CPU between the read of its index and the
 * flush would flush the new CPU and record the old one as flushed. */
void mm_tlb_sync(void)
{
	preempt_disable();
	unsigned cpu = arch_cpu_id();
	uint64_t g = __atomic_load_n(&tlb_gen, __ATOMIC_ACQUIRE);

	leave_dying_space(cpu);
	if (__atomic_load_n(&tlb_seen[cpu], __ATOMIC_RELAXED) != g) {
		pg->flush_all();
		__atomic_store_n(&tlb_seen[cpu], g, __ATOMIC_RELEASE);
	}
	preempt_enable();
}
static uint64_t mmio_next = MMIO_BASE;

bool mm_ready(void)
{
	return up;
}

void *mm_frame_va(uint64_t pfn)
{
	if (up || (pg->live_root && pfn < direct_upto))
		return (void *)(DIRECT_BASE + pfn * PAGE_SIZE);
	return pg->early_va(pfn);
}

uint64_t mm_va_pfn(const void *va)
{
	uint64_t a = (uint64_t)va;

	return a >= DIRECT_BASE && a - DIRECT_BASE < max_pfn * PAGE_SIZE ?
		       (a - DIRECT_BASE) / PAGE_SIZE :
		       UINT64_MAX;
}

static bool early_reachable(uint64_t pfn)
{
	return mm_frame_va(pfn) != NULL;
}

static void note_early_pt(uint64_t pfn)
{
	unsigned i = n_early_pt;

	if (n_early_pt == MAX_EARLY_PT)
		panic("mm: more than %d page-table frames before the frame allocator", MAX_EARLY_PT);
	for (; i > 0 && early_pt[i - 1] > pfn; i--)
		early_pt[i] = early_pt[i - 1];
	early_pt[i] = pfn;
	n_early_pt++;
}

/* A zeroed frame made ready to be a page table (vm_env.new_table). */
static int64_t new_table(void)
{
	int64_t pfn;

	if (up) {
		pfn = mm_frame_alloc();
		if (pfn >= 0) {
			pool.f[pfn].state = FRAME_PAGETABLE;
			__atomic_add_fetch(&pagetable_frames, 1, __ATOMIC_RELAXED);
		}
	} else {
		pfn = early_alloc(&early, early_reachable);
		if (pfn >= 0)
			note_early_pt(pfn);
	}
	if (pfn < 0)
		return -ENOMEM;
	memset(mm_frame_va(pfn), 0, PAGE_SIZE);
	if (pg->prepare_table(pfn))
		return -EIO;
	return pfn;
}

static void check(int rc, const char *what)
{
	if (rc)
		panic("mm: %s failed (%d)", what, rc);
}

static bool is_table(uint64_t pfn)
{
	uint64_t first, count;
	unsigned lo = 0, hi = n_early_pt;

	pg->boot_tables(&first, &count);
	if (pfn - first < count)
		return true;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (early_pt[mid] == pfn)
			return true;
		if (early_pt[mid] < pfn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* The direct map's rights for the run of frames starting at pfn, and where the run ends:
 * the kernel image's text and rodata are read-only there too (W^X holds for the alias), and
 * so are page tables where the platform demands it. */
static uint64_t direct_run(uint64_t pfn, uint64_t end, uint64_t *run_end)
{
	uint64_t ro_lo = kernel_pa(__text_start) / PAGE_SIZE, ro_hi = kernel_pa(__data_start) / PAGE_SIZE;
	uint64_t e = pfn + 1;

	if (pfn >= ro_lo && pfn < ro_hi) {
		*run_end = MIN(end, ro_hi);
		return PTE_NX;
	}
	if (pg->ro_tables && is_table(pfn)) {
		while (e < end && is_table(e))
			e++;
		*run_end = e;
		return PTE_NX;
	}
	while (e < end && !(e >= ro_lo && e < ro_hi) && !(pg->ro_tables && is_table(e)))
		e++;
	*run_end = e;
	return PTE_W | PTE_NX;
}

static void map_direct(uint64_t base, uint64_t len)
{
	uint64_t pfn = base / PAGE_SIZE, end = (base + len) / PAGE_SIZE;

	while (pfn < end) {
		/* a window at most one page table wide: its tables come first, so that on
		 * read-only-table platforms none of them lands inside a run mapped writable */
		uint64_t wend = MIN(end, (pfn | 511) + 1), run_end;

		if (!pg->large_pages)
			check(vm_prepare(DIRECT_BASE + pfn * PAGE_SIZE, wend - pfn), "direct map tables");
		else
			wend = end;
		while (pfn < wend) {
			uint64_t flags = direct_run(pfn, wend, &run_end);

			check(vm_map(DIRECT_BASE + pfn * PAGE_SIZE, pfn, run_end - pfn, flags, true),
			      "direct map");
			pfn = run_end;
		}
		direct_upto = MAX(direct_upto, wend);
	}
}

/* What the direct map covers: RAM and the ACPI ranges, what the boot reserved (e.g. the
 * first MiB of a PC boot), and whatever firmware tables were read before it existed. */
static void plan_direct(const struct boot_info *bi)
{
	unsigned nearly;
	const struct mem_range *er = phys_early_ranges(&nearly);

	n_direct = 0;
	for (unsigned i = 0; i < bi->mem_count; i++) {
		uint32_t t = bi->mem[i].type;

		if (t == MEM_RAM || t == MEM_ACPI || t == MEM_NVS)
			direct[n_direct++] = bi->mem[i];
		if (t == MEM_RAM)
			max_pfn = MAX(max_pfn, (bi->mem[i].base + bi->mem[i].len) / PAGE_SIZE);
	}
	for (unsigned i = 0; i < bi->reserved_count && n_direct < MEMMAP_MAX; i++)
		direct[n_direct++] = bi->reserved[i];
	for (unsigned i = 0; i < nearly && n_direct < MEMMAP_MAX; i++)
		direct[n_direct++] = er[i];
	for (unsigned i = 0; i < n_direct; i++) {
		uint64_t lo = ALIGN_DOWN(direct[i].base, PAGE_SIZE);

		direct[i].len = ALIGN_UP(direct[i].base + direct[i].len, PAGE_SIZE) - lo;
		direct[i].base = lo;
		direct[i].type = MEM_RAM; /* so that normalising merges them */
	}
	int n = memmap_normalise(direct, n_direct, MEMMAP_MAX);

	if (n < 0)
		panic("mm: the direct map plan has too many ranges (%d)", n);
	n_direct = n;
}

/* The image W^X: text read-only and executable, rodata read-only, data and bss writable
 * and not executable. Where the root is live the image is already mapped (Xen PV), and only
 * the rights change: some of its pages may map other frames on purpose (shared_info). */
static void map_kernel(void)
{
	const struct {
		char *start, *end;
		uint64_t flags;
		const char *what;
	} part[] = {
		{ __text_start, __rodata_start, 0, "text" },
		{ __rodata_start, __data_start, PTE_NX, "rodata" },
		{ __data_start, __kernel_end, PTE_W | PTE_NX, "data" },
	};

	for (unsigned i = 0; i < ARRAY_SIZE(part); i++) {
		uint64_t va = (uint64_t)part[i].start, n = (part[i].end - part[i].start) / PAGE_SIZE;
		int rc = pg->live_root ? vm_protect(va, n, part[i].flags) :
					 vm_map(va, kernel_pa(part[i].start) / PAGE_SIZE, n,
						part[i].flags, false);

		if (rc)
			panic("mm: mapping the kernel %s failed (%d)", part[i].what, rc);
	}
}

static const void *late_phys_map(uint64_t pa, size_t len);
static void *late_mmio_map(uint64_t pa, size_t len);

void mm_init(struct boot_info *bi)
{
	struct mem_range res[BOOT_RESERVED_MAX + BOOT_MODS_MAX];
	unsigned nres = 0;

	pg = arch->paging;
	for (unsigned i = 0; i < bi->reserved_count; i++)
		res[nres++] = bi->reserved[i];
	for (unsigned i = 0; i < bi->mod_count; i++)
		res[nres++] = (struct mem_range){ bi->mods[i].paddr, bi->mods[i].len, MEM_RESERVED };
	check(early_init(&early, bi->mem, bi->mem_count, res, nres), "reading the memory map");
	kernel_frames = (kernel_pa(__kernel_end) - kernel_pa(__kernel_start)) / PAGE_SIZE;

	vm = (struct vm_env){ .pg = pg, .frame_va = mm_frame_va, .new_table = new_table,
			      .low_slot = low_slot };
	int64_t root = pg->root(new_table);

	if (root < 0)
		panic("mm: no frame for the root page table");
	vm.root = root;
	plan_direct(bi);
	map_kernel();
	for (unsigned i = 0; i < n_direct; i++)
		map_direct(direct[i].base, direct[i].len);
	pg->activate(vm.root);
	up = true;

	/* frame metadata, then every frame still free seeds the buddy allocator */
	meta_frames = ALIGN_UP(max_pfn * sizeof(struct frame), PAGE_SIZE) / PAGE_SIZE;
	int64_t meta = early_alloc_range(&early, meta_frames);

	if (meta < 0)
		panic("mm: no room for %lu KiB of frame metadata", meta_frames * 4);
	frames_init(&pool, mm_frame_va(meta), max_pfn);
	for (unsigned i = 0; i < early.n; i++)
		frames_add_free(&pool, early.r[i].base / PAGE_SIZE, early.r[i].len / PAGE_SIZE);
	for (unsigned i = 0; i < n_early_pt; i++)
		if (early_pt[i] < max_pfn) {
			pool.f[early_pt[i]].state = FRAME_PAGETABLE;
			pagetable_frames++;
		}
	heap_init(&heap, &pool, mm_frame_va, mm_va_pfn);
	phys_set_late(late_phys_map, late_mmio_map);
	/* every page table of the stack area now: later, CPUs mapping stacks at the same time
	 * only ever write their own leaf entries, never create a table twice */
	check(vm_prepare(STACK_BASE, (uint64_t)STACK_SLOTS * STACK_SLOT / PAGE_SIZE),
	      "the stack area's page tables");
	/* and the level-3 tables of every root slot the kernel may still map into (device
	 * windows, the direct map's first 512 GiB): the kernel's half of the root never
	 * changes from here on, so an address space's copy of it (mm_space_new) stays true */
	for (uint64_t va = MMIO_BASE; va < MMIO_BASE + MMIO_AREA; va += 1ull << 39)
		check(vm_prepare_slot(va), "the device window's page tables");
	check(vm_prepare_slot(DIRECT_BASE), "the direct map's page tables");
}

/* The per-CPU parts below must stay on one CPU: preemption is off around them. Interrupt
 * handlers never allocate (sched/README.md), so interrupts may stay on. */
int64_t mm_frame_alloc(void)
{
	preempt_disable();
	int64_t pfn = frame_alloc(&pool, arch_cpu_id());

	preempt_enable();
	return pfn;
}

void mm_frame_free(uint64_t pfn)
{
	preempt_disable();
	frame_free(&pool, arch_cpu_id(), pfn);
	preempt_enable();
}

/* The pool's spinlock is held with preemption off, as for single frames: a thread
 * preempted while holding it left the next taker on its CPU spinning for ever (with
 * preemption off, so the holder never ran again). Blocks were only taken at boot
 * (virtio rings) until net/core.c's TSO packets; ten busy TCP connections then hung
 * 4 boots in 5 with both CPUs in spin_wait. */
int64_t mm_frames_alloc(unsigned order)
{
	preempt_disable();
	int64_t pfn = frames_alloc(&pool, order);

	preempt_enable();
	return pfn;
}

void mm_frames_free(uint64_t pfn, unsigned order)
{
	preempt_disable();
	frames_free(&pool, pfn, order);
	preempt_enable();
}

void mm_frames_split(uint64_t pfn, unsigned order)
{
	preempt_disable();
	frames_split(&pool, pfn, order);
	preempt_enable();
}

void *kmalloc(size_t size)
{
	preempt_disable();
	void *p = heap_alloc(&heap, arch_cpu_id(), size, 0);

	preempt_enable();
	return p;
}

void *kmalloc_aligned(size_t size, size_t align)
{
	preempt_disable();
	void *p = heap_alloc(&heap, arch_cpu_id(), size, align);

	preempt_enable();
	return p;
}

void *kcalloc(size_t n, size_t size)
{
	preempt_disable();
	void *p = heap_calloc(&heap, arch_cpu_id(), n, size);

	preempt_enable();
	return p;
}

void kfree(void *p)
{
	preempt_disable();
	heap_free(&heap, arch_cpu_id(), p);
	preempt_enable();
}

size_t ksize(const void *p)
{
	return heap_size(&heap, p);
}

void *mm_stack_alloc(size_t size)
{
	uint64_t pages = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;
	int slot = -1;

	if (!pages || pages >= STACK_SLOT / PAGE_SIZE)
		return NULL;
	/* a free slot that no TLB reaches any more; if every free one may still be reached
	 * (CPUs flush at their next switch or IPI: a freed stack kicks nobody), the oldest
	 * free one once every CPU has flushed past its generation */
	for (int round = 0; round < 2 && slot < 0; round++) {
		uint64_t safe = cpus_flushed_through(), oldest = UINT64_MAX;

		spin_lock(&slot_lock);
		for (int i = 0; i < STACK_SLOTS && slot < 0; i++) {
			if (slot_used[i / 64] & (1ull << (i % 64)))
				continue;
			if (slot_gen[i] <= safe) {
				slot_used[i / 64] |= 1ull << (i % 64);
				slot = i;
			}
			oldest = MIN(oldest, slot_gen[i]);
		}
		spin_unlock(&slot_lock);
		if (slot < 0 && oldest != UINT64_MAX && !round)
			tlb_wait(oldest, ~0ull);
	}
	if (slot < 0)
		return NULL;
	/* the stack ends at the top of its slot; every page below it is unmapped */
	uint64_t top = STACK_BASE + (uint64_t)(slot + 1) * STACK_SLOT;

	for (uint64_t i = 1; i <= pages; i++) {
		int64_t pfn = mm_frame_alloc();

		if (pfn < 0 || vm_map(top - i * PAGE_SIZE, pfn, 1, PTE_W | PTE_NX, false)) {
			if (pfn >= 0)
				mm_frame_free(pfn);
			mm_stack_free((void *)top, (i - 1) * PAGE_SIZE);
			return NULL;
		}
		pool.f[pfn].state = FRAME_STACK;
		/* zeroed: under TCG, code QEMU once translated from this frame (an app's, before
		 * it went back) stays until the bytes under it are written, and until then every
		 * write to the frame takes QEMU's slow path; a stack writes only its top part, so
		 * a syscall on such a stack was some 20 times slower (pipe ping-pong after a
		 * shell loop: 110-340 µs a round trip instead of 10) */
		memset(mm_frame_va((uint64_t)pfn), 0, PAGE_SIZE);
	}
	return (void *)top;
}

void mm_stack_free(void *top, size_t size)
{
	uint64_t t = (uint64_t)top, pages = ALIGN_UP(size, PAGE_SIZE) / PAGE_SIZE;
	unsigned slot = (t - STACK_BASE) / STACK_SLOT - 1;

	/* on one CPU from the first invlpg to the generation it records: a thread that moved
	 * in between would record, for its new CPU, flushes that CPU never made */
	preempt_disable();
	for (uint64_t i = 1; i <= pages; i++) {
		int level;
		uint64_t e = vm_lookup(t - i * PAGE_SIZE, &level);

		if (!e)
			continue;
		uint64_t pfn = pg->entry_pfn(e);

		check(vm_unmap(t - i * PAGE_SIZE, 1), "unmapping a stack");
		pool.f[pfn].state = FRAME_USED;
		mm_frame_free(pfn);
	}
	/* this CPU flushed those pages (invlpg); the others learn of it by generation. The
	 * generation it records claims every earlier one flushed too: if it had not flushed
	 * them all (an app's unmap on another CPU bumped one, whose waiter is still waiting
	 * for this CPU), it flushes everything first, or that waiter would take this record
	 * for a flush never made and free frames this TLB still reaches. */
	unsigned cpu = arch_cpu_id();
	uint64_t g = __atomic_add_fetch(&tlb_gen, 1, __ATOMIC_ACQ_REL);

	if (__atomic_load_n(&tlb_seen[cpu], __ATOMIC_RELAXED) + 1 < g)
		pg->flush_all();
	__atomic_store_n(&tlb_seen[cpu], g, __ATOMIC_RELEASE);
	preempt_enable();
	spin_lock(&slot_lock);
	slot_gen[slot] = g;
	slot_used[slot / 64] &= ~(1ull << (slot % 64));
	spin_unlock(&slot_lock);
}

void (*mm_tlb_kick)(uint64_t cpus);
void (*mm_tlb_yield)(void);

/* whether n pages at va lie in the low half (va page-aligned) */
static bool user_pages(uint64_t va, uint64_t n)
{
	return !(va & (PAGE_SIZE - 1)) && va < USER_TOP && n <= (USER_TOP - va) / PAGE_SIZE;
}

/* What frees memory that is only kept for speed (mm_set_reclaim), tried once when an app
 * page finds no frame. */
static bool (*reclaim)(void);

void mm_set_reclaim(bool (*fn)(void))
{
	reclaim = fn;
}

static int64_t user_frame_alloc(void)
{
	int64_t pfn = mm_frame_alloc();

	if (pfn < 0 && reclaim && reclaim())
		pfn = mm_frame_alloc();
	return pfn;
}

/* App memory: the low half. Every page gets its own zeroed frame. */
int mm_user_map(uint64_t va, uint64_t n, uint64_t flags)
{
	if (!user_pages(va, n))
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++) {
		int64_t pfn = user_frame_alloc();
		int rc = -ENOMEM;

		if (pfn >= 0) {
			memset(mm_frame_va(pfn), 0, PAGE_SIZE);
			rc = vm_map(va + i * PAGE_SIZE, pfn, 1, flags, false);
			if (rc)
				mm_frame_free(pfn);
		}
		if (rc) {
			mm_user_unmap(va, i);
			return rc;
		}
	}
	return 0;
}

/* Pages on first touch. mm_user_reserve writes a not-present entry that says what the page
 * will be: LAZY and its rights in bits the CPU ignores when P is clear, no frame and no
 * address bits (Xen PV takes any not-present entry; one without address bits is also
 * safe from L1TF). The page fault handler gives such a page a zeroed frame
 * (mm_user_fault). lazy_lock, with interrupts off, orders the fault's look-and-map
 * against what else changes a page that may be lazy: unmaps, rights, discards. Reserving
 * needs no lock: its pages are not in use yet. */
#define LAZY   (1ull << 9)
#define LAZY_W (1ull << 10)
#define LAZY_U (1ull << 11)
#define LAZY_X (1ull << 52)
/* MAP_SHARED: a page whose frame a fork shares writable, not copy on write: MM_SHARED
 * (bit 9, which the CPU and Xen PV leave to the kernel) in a present entry, LAZY_S in a
 * reserved one */
#define LAZY_S (1ull << 53)

static struct spinlock lazy_lock;
static uint64_t lazy_faults, lazy_nomem;

static uint64_t lazy_entry(uint64_t flags)
{
	return LAZY | (flags & PTE_W ? LAZY_W : 0) | (flags & PTE_U ? LAZY_U : 0) |
	       (flags & PTE_NX ? 0 : LAZY_X) | (flags & MM_SHARED ? LAZY_S : 0);
}

static uint64_t lazy_flags(uint64_t e)
{
	return (e & LAZY_W ? PTE_W : 0) | (e & LAZY_U ? PTE_U : 0) | (e & LAZY_X ? 0 : PTE_NX) |
	       (e & LAZY_S ? MM_SHARED : 0);
}

static bool is_lazy(uint64_t e)
{
	return !(e & PTE_P) && (e & LAZY);
}

/* Copy on write (fork, mm_space_copy). A private page that two spaces hold is mapped
 * read-only in both, and COW_W (a bit the CPU ignores) marks each entry that the app may
 * write: its write fault gives that space a copy of the frame, or the frame itself,
 * writable, once no other space holds it (mm_user_fault). A frame's other holders are
 * counted in its metadata (struct frame's spare word: 0, one holder); the last to let go
 * frees it (user_frame_put). The counts change under lazy_lock where a fault might look
 * (fork's sharing, a fault's taking), so a fault that sees none is the frame's only
 * holder. */
#define COW_W (1ull << 10)

static uint64_t cow_faults, cow_copies, cow_nomem;

static uint64_t *holders(uint64_t pfn)
{
	return &pool.f[pfn].spare;
}

/* a present entry's rights, as the app has them (and MM_SHARED) */
static uint64_t entry_rights(uint64_t e)
{
	return (e & (PTE_U | PTE_NX | MM_SHARED)) | (e & (PTE_W | COW_W) ? PTE_W : 0);
}

/* the frame of an app page a space lets go of: freed unless another space holds it */
static void user_frame_put(uint64_t pfn)
{
	if (pfn >= pool.nframes || pool.f[pfn].state == FRAME_RESERVED)
		return; /* (the kernel's: the vDSO) */
	uint64_t *h = holders(pfn), n = __atomic_load_n(h, __ATOMIC_ACQUIRE);

	while (n && !__atomic_compare_exchange_n(h, &n, n - 1, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
		;
	if (!n)
		mm_frame_free(pfn);
}

/* Frames that something besides the spaces holds (the file tree's pages of a program,
 * which exec maps rather than copies): another holder each (mm_frame_hold), let go by
 * mm_frame_put as a space lets go of its pages. */
void mm_frame_hold(uint64_t pfn)
{
	check(pfn < pool.nframes && pool.f[pfn].state == FRAME_USED ? 0 : -EINVAL,
	      "holding a frame that is not in use");
	__atomic_add_fetch(holders(pfn), 1, __ATOMIC_ACQ_REL);
}

void mm_frame_put(uint64_t pfn)
{
	user_frame_put(pfn);
}

/* The rights a present page gets: W only if no other space holds its frame (COW_W
 * instead). */
static uint64_t rights_for(uint64_t pfn, uint64_t flags)
{
	if ((flags & PTE_W) && !(flags & MM_SHARED) && pfn < pool.nframes &&
	    __atomic_load_n(holders(pfn), __ATOMIC_ACQUIRE))
		return (flags & ~PTE_W) | COW_W;
	return flags;
}

/* A not-present fault on a page that is present now: another thread's fault mapped it
 * since, and the access is made again (1). The same address faulting so again at once on
 * this CPU is not that race (a root table that does not link the page, say): 0, the
 * fault stands, rather than a loop for ever. */
static uint64_t retried_va[MM_MAX_CPUS];

static int retry_present(uint64_t va)
{
	unsigned cpu = arch_cpu_id();

	if (cpu >= MM_MAX_CPUS || retried_va[cpu] == va + 1) {
		if (cpu < MM_MAX_CPUS)
			retried_va[cpu] = 0;
		return 0;
	}
	retried_va[cpu] = va + 1;
	return 1;
}

static uint64_t lazy_take(void)
{
	uint64_t on = irq_save();

	spin_lock(&lazy_lock);
	return on;
}

static void lazy_drop(uint64_t on)
{
	spin_unlock(&lazy_lock);
	irq_restore(on);
}

int mm_user_reserve(uint64_t va, uint64_t n, uint64_t flags)
{
	if (!user_pages(va, n))
		return -EINVAL;
	int rc = vm_set_absent(va, n, lazy_entry(flags));

	if (rc)
		mm_user_unmap(va, n);
	return rc;
}

/* A write to a page shared copy on write (mm_user_fault): its own copy, or the frame
 * itself once no other space holds it. The copy is made before the lock (a frame shared
 * so is read-only everywhere: it cannot change meanwhile); under it the entry is looked at
 * again. The old frame is let go only once no CPU can reach it through this space. */
static int cow_fault(uint64_t va, uint64_t e)
{
	uint64_t pfn = pg->entry_pfn(e);
	int64_t copy = -1;

	if (pfn >= pool.nframes)
		return 0;
	if (__atomic_load_n(holders(pfn), __ATOMIC_ACQUIRE)) {
		copy = user_frame_alloc();
		if (copy < 0) {
			if (!__atomic_fetch_add(&cow_nomem, 1, __ATOMIC_RELAXED))
				kprintf("mm: no memory for an app page's copy at its first write "
					"since a fork (%#lx)\n",
					(unsigned long)va);
			return -ENOMEM;
		}
		memcpy(mm_frame_va((uint64_t)copy), mm_frame_va(pfn), PAGE_SIZE);
	}
	const uint64_t same = PTE_ADDR | PTE_P | COW_W;
	uint64_t on = lazy_take(), now = vm_entry_4k(va);
	bool copied = false;
	int rc = 1; /* (changed meanwhile, or shared again: the access is made again) */

	if ((now & same) == (e & same)) {
		if (!__atomic_load_n(holders(pfn), __ATOMIC_ACQUIRE)) {
			rc = vm_protect(va, 1, entry_rights(e)) ? -ENOMEM : 1;
		} else if (copy >= 0) {
			rc = vm_map(va, (uint64_t)copy, 1, entry_rights(e), false) ? -ENOMEM : 1;
			copied = rc == 1;
		}
	}
	lazy_drop(on);
	if (copied) {
		space_flush(va, false);
		user_frame_put(pfn);
		__atomic_add_fetch(&cow_copies, 1, __ATOMIC_RELAXED);
	} else if (copy >= 0) {
		mm_frame_free((uint64_t)copy);
	}
	__atomic_add_fetch(&cow_faults, 1, __ATOMIC_RELAXED);
	return rc;
}

int mm_user_fault(uint64_t va, bool write)
{
	if (va >= USER_TOP || !mm_ready())
		return 0;
	va &= ~(uint64_t)(PAGE_SIZE - 1);
	uint64_t e = vm_entry_4k(va);

	if ((e & PTE_P) && write && !(e & PTE_W))
		return e & COW_W ? cow_fault(va, e) : 0;
	if (e & PTE_P)
		return retry_present(va);
	if (!is_lazy(e))
		return 0;
	int64_t pfn = user_frame_alloc();

	if (pfn < 0) {
		if (!__atomic_fetch_add(&lazy_nomem, 1, __ATOMIC_RELAXED))
			kprintf("mm: no memory for an app page at its first touch (%#lx)\n",
				(unsigned long)va);
		return -ENOMEM;
	}
	memset(mm_frame_va(pfn), 0, PAGE_SIZE);
	uint64_t on = lazy_take();
	bool used = false;

	e = vm_entry_4k(va);
	int rc = 1; /* (mapped meanwhile by another thread's fault: the access is made again) */

	if (is_lazy(e)) {
		rc = vm_map(va, (uint64_t)pfn, 1, lazy_flags(e), false) ? -ENOMEM : 1;
		used = rc == 1;
	} else if (!(e & PTE_P)) {
		rc = 0; /* unmapped meanwhile */
	}
	lazy_drop(on);
	if (!used)
		mm_frame_free((uint64_t)pfn);
	else
		__atomic_add_fetch(&lazy_faults, 1, __ATOMIC_RELAXED);
	if (arch_cpu_id() < MM_MAX_CPUS)
		retried_va[arch_cpu_id()] = 0;
	return rc;
}

bool mm_user_lazy(uint64_t va)
{
	return va < USER_TOP && is_lazy(vm_entry_4k(va & ~(uint64_t)(PAGE_SIZE - 1)));
}

bool mm_user_cow(uint64_t va)
{
	uint64_t e = va < USER_TOP ? vm_entry_4k(va & ~(uint64_t)(PAGE_SIZE - 1)) : 0;

	return (e & PTE_P) && (e & COW_W);
}

void mm_cow_counts(uint64_t *faults, uint64_t *copies)
{
	*faults = __atomic_load_n(&cow_faults, __ATOMIC_RELAXED);
	*copies = __atomic_load_n(&cow_copies, __ATOMIC_RELAXED);
}

uint64_t mm_user_rights(uint64_t va)
{
	if (va >= USER_TOP)
		return 0;
	uint64_t e = vm_entry_4k(va & ~(uint64_t)(PAGE_SIZE - 1));

	return e & PTE_P ? entry_rights(e) : is_lazy(e) ? lazy_flags(e) : 0;
}

uint64_t mm_user_faults(void)
{
	return __atomic_load_n(&lazy_faults, __ATOMIC_RELAXED);
}

int mm_user_protect(uint64_t va, uint64_t flags)
{
	uint64_t on = lazy_take();
	uint64_t e = vm_entry_4k(va);
	int rc = -ENOENT;

	/* (a MAP_SHARED page stays one) */
	if (is_lazy(e))
		rc = vm_set_absent(va, 1, lazy_entry(flags | (e & LAZY_S ? MM_SHARED : 0)));
	else if (e & PTE_P)
		rc = vm_protect(va, 1, rights_for(pg->entry_pfn(e), flags | (e & MM_SHARED)));
	lazy_drop(on);
	if (!rc && (e & PTE_P))
		space_flush(va, false); /* (rights taken away: no TLB may keep them) */
	return rc;
}

/* the CPUs of `which` not flushed through generation g yet */
static uint64_t behind(uint64_t g, uint64_t which)
{
	uint64_t m = 0;

	for (unsigned i = 0; i < MAX_CPUS; i++)
		if ((which >> i & 1) && __atomic_load_n(&cpus[i].online, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&tlb_seen[i], __ATOMIC_ACQUIRE) < g)
			m |= 1ull << i;
	return m;
}

/* Waits until every online CPU of `which` has flushed its TLB past generation g, kicking
 * those behind (a CPU flushes at an IPI: mm_tlb_sync). The kick is sent again after 64,
 * 128, 256, ... looks, as a nested hypervisor may drop one; a fixed rate would flood a
 * slow (nested) vCPU. */
static void tlb_wait(uint64_t g, uint64_t which)
{
	uint64_t late = behind(g, which);

	if (late && mm_tlb_kick)
		mm_tlb_kick(late);
	unsigned long spins = 0;

	for (unsigned n = 1; (late = behind(g, which)); n++) {
		if (n >= 64 && !(n & (n - 1)) && mm_tlb_kick)
			mm_tlb_kick(late);
		if (mm_tlb_yield)
			mm_tlb_yield();
		spin_wait(&spins);
	}
}

/* After unmaps: returns once no TLB (or paging-structure cache) of the CPUs of `which`
 * can still reach what they removed. This CPU flushes its whole TLB, so the generation it
 * records covers earlier unmaps too. */
static void tlb_shootdown_cpus(uint64_t which)
{
	uint64_t g = __atomic_add_fetch(&tlb_gen, 1, __ATOMIC_ACQ_REL);

	mm_tlb_sync();
	tlb_wait(g, which);
}

/* ... of every CPU (kernel mappings; an app frame freed by a thread with no space) */
static void tlb_shootdown(void)
{
	tlb_shootdown_cpus(~0ull);
}

/* After the calling thread's own space lost rights or frames at va (~0: anywhere), or
 * page tables (`tables`): returns once no CPU can use the old entries. Only the CPUs
 * running a thread of that space now need it at once (a shootdown of those alone); one
 * that has it loaded with a kernel thread, or loads it later, flushes at its next switch
 * to one of its threads, as the space's generation has moved on (mm_space_switch), and a
 * kernel thread touches no app memory meanwhile. Page tables freed must also be out of
 * the paging-structure caches of the CPUs that have the space loaded at all (a
 * speculative walk may go through them): those are shot down too. The generation's bump
 * and the other CPUs' `running` are read in the opposite order to the switch's, both
 * sequentially consistent: either this sees that CPU running the space, or that CPU sees
 * the new generation. A kernel thread (no space of its own) shoots down everywhere. A
 * fork, an exec or an exit of a one-thread process sends no IPI. */
static void space_flush(uint64_t va, bool tables)
{
	preempt_disable();
	unsigned cpu = arch_cpu_id();
	struct mm_space *s = cpu < MM_MAX_CPUS ? __atomic_load_n(&running[cpu], __ATOMIC_RELAXED)
					       : NULL;

	if (!s) {
		preempt_enable();
		tlb_shootdown();
		return;
	}
	const struct mm_space *as_loaded = s == &kernel_space ? NULL : s;
	uint64_t g = __atomic_add_fetch(&s->gen, 1, __ATOMIC_SEQ_CST), others = 0;

	if (loaded_gen[cpu] == g - 1)
		loaded_gen[cpu] = g;
	if (va == ~0ull)
		pg->flush_all();
	else
		pg->flush_page(va);
	for (unsigned c = 0; c < MM_MAX_CPUS; c++)
		if (c != cpu && __atomic_load_n(&cpus[c].online, __ATOMIC_ACQUIRE) &&
		    (__atomic_load_n(&running[c], __ATOMIC_SEQ_CST) == s ||
		     (tables && __atomic_load_n(&loaded[c], __ATOMIC_SEQ_CST) == as_loaded)))
			others |= 1ull << c;
	preempt_enable();
	if (others)
		tlb_shootdown_cpus(others);
}

/* the pages a run of entries not made yet is cleared in (user_unmap) under lazy_lock, which
 * keeps interrupts off: a write of this many entries (vm.c's CHUNK) */
#define UNMAP_RUN 64u

/* Unmaps and frees app pages. A frame goes back only once no CPU's TLB can still reach it
 * (another thread of the app may run elsewhere, and would otherwise write into a frame the
 * kernel has reused): unmap a batch, flush everywhere, then free the batch. keep_lazy:
 * the pages stay reserved (lazy again: zero at the next touch); otherwise reserved pages
 * are unmapped too. */
static void user_unmap(uint64_t va, uint64_t n, bool keep_lazy)
{
	uint64_t batch[256], end = va + n * PAGE_SIZE;

	for (uint64_t i = 0; i < n;) {
		unsigned nb = 0;

		for (; i < n && nb < ARRAY_SIZE(batch); i++) {
			uint64_t p = va + i * PAGE_SIZE, on = lazy_take(), e;

			/* at each table's start, past what no table covers (a reservation never
			 * touched, or PROT_NONE: Go reserves and gives back 64 MiB at a time) */
			if (!i || !(p & (PAGE_SIZE * 512 - 1))) {
				uint64_t next = vm_next_table(p, end);

				if (next != p) {
					lazy_drop(on);
					i = (next - va) / PAGE_SIZE - 1; /* (the loop adds 1) */
					continue;
				}
			}
			e = vm_entry_4k(p);
			if ((e & PTE_P) && keep_lazy && (e & MM_SHARED)) {
				; /* (MADV_DONTNEED keeps a MAP_SHARED page's contents, as Linux) */
			} else if (e & PTE_P) {
				int rc = keep_lazy ? vm_set_absent(p, 1, lazy_entry(entry_rights(e)))
						   : vm_unmap(p, 1);

				check(rc, "unmapping app memory");
				batch[nb++] = pg->entry_pfn(e);
			} else {
				/* a run of pages not made yet (cleared by an unmap, kept by a
				 * discard) or of empty entries (left): one walk and one write for
				 * the run, not one a page (a 1 GiB reservation is 262,144) */
				uint64_t want = is_lazy(e) ? LAZY : 0;
				unsigned r = vm_leaf_run(p, n - i < UNMAP_RUN ? (unsigned)(n - i)
									    : UNMAP_RUN,
							 PTE_P | LAZY, want);

				r = r ? r : 1; /* (no leaf table: a 2 MiB page) */
				if (want && !keep_lazy)
					check(vm_set_absent(p, r, 0), "unmapping app memory");
				i += r - 1; /* (the loop adds 1) */
			}
			lazy_drop(on);
		}
		if (!nb)
			continue;
		space_flush(~0ull, false);
		for (unsigned j = 0; j < nb; j++)
			user_frame_put(batch[j]);
	}
}

int mm_user_map_kernel(uint64_t va, const void *kva, uint64_t n, uint64_t flags)
{
	if (!user_pages(va, n) || ((uint64_t)kva & (PAGE_SIZE - 1)) || flags & PTE_W)
		return -EINVAL;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t pfn = kernel_pa((const char *)kva + i * PAGE_SIZE) / PAGE_SIZE;

		if (pfn >= pool.nframes || pool.f[pfn].state != FRAME_RESERVED) {
			mm_user_unmap(va, i);
			return -EINVAL;
		}
		int rc = vm_map(va + i * PAGE_SIZE, pfn, 1, flags, false);

		if (rc) {
			mm_user_unmap(va, i);
			return rc;
		}
	}
	return 0;
}

int mm_user_map_frame(uint64_t va, uint64_t pfn, uint64_t flags)
{
	if (!user_pages(va, 1) || pfn >= pool.nframes || pool.f[pfn].state != FRAME_USED)
		return -EINVAL;
	return vm_map(va, pfn, 1, rights_for(pfn, flags), false);
}

void mm_user_unmap(uint64_t va, uint64_t n)
{
	user_unmap(va, n, false);
}

void mm_user_discard(uint64_t va, uint64_t n)
{
	user_unmap(va, n, true);
}

/* mm_user_unmap_all: the loaded low half's entries cleared in one walk over its tables
 * (vm_each_low: a page-by-page search walked every reserved page from the root, some
 * 1.5 ms of an exec under TCG), the frames let go of a batch at a time once no TLB
 * reaches them */
struct clearing {
	unsigned n;
	uint64_t frames[512]; /* (a level-1 table's) */
};

/* the batch's frames let go of (their entries are cleared) */
static void clearing_put(void *arg)
{
	struct clearing *c = arg;

	for (unsigned i = 0; i < c->n; i++)
		user_frame_put(c->frames[i]);
	c->n = 0;
}

/* ... once no CPU running the loaded space can reach them */
static void clearing_flush(void *arg)
{
	struct clearing *c = arg;

	if (!c->n)
		return;
	space_flush(~0ull, false);
	clearing_put(c);
}

static void clear_entry(uint64_t va, uint64_t e, void *arg)
{
	struct clearing *c = arg;

	(void)va;
	if ((e & PTE_P) && c->n < ARRAY_SIZE(c->frames))
		c->frames[c->n++] = pg->entry_pfn(e);
}

/* (no memory for clear's batch: a page at a time) */
static int clear_one(uint64_t va, uint64_t e, void *arg)
{
	(void)arg;
	if (e & PTE_P)
		mm_user_unmap(va, 1);
	else
		check(vm_set_absent(va, 1, 0), "unmapping app memory");
	return 0;
}

void mm_user_clear(void)
{
	struct clearing *c = kmalloc(sizeof(*c));
	uint64_t root = vm.low_root ? low_root() : vm.root;

	if (!c) {
		vm_each_low(root, clear_one, NULL);
		return;
	}
	c->n = 0;
	check(vm_clear_low(root, clear_entry, clearing_flush, c), "unmapping app memory");
	kfree(c);
}

void mm_user_unmap_all(void)
{
	mm_user_clear();
	mm_user_tables_free();
}

void mm_user_tables_free(void)
{
	uint64_t pfns[64];
	unsigned n;

	while ((n = vm_unlink_empty_low(pfns, ARRAY_SIZE(pfns)))) {
		space_flush(~0ull, true); /* no CPU may walk them any more */
		for (unsigned i = 0; i < n; i++) {
			check(pool.f[pfns[i]].state == FRAME_PAGETABLE ? 0 : -EINVAL,
			      "freeing an app's page table");
			pg->release_table(pfns[i]);
			pool.f[pfns[i]].state = FRAME_USED;
			__atomic_sub_fetch(&pagetable_frames, 1, __ATOMIC_RELAXED);
			mm_frame_free(pfns[i]);
		}
	}
}

int64_t mm_user_root(void)
{
	int64_t pfn = mm_frame_alloc();

	if (pfn < 0)
		return pfn;
	uint64_t *t = mm_frame_va(pfn);

	memset(t, 0, PAGE_SIZE);
	memcpy(t, vm.frame_va(vm.root), 256 * sizeof(uint64_t));
	if (pg->prepare_table(pfn)) {
		mm_frame_free(pfn);
		return -EIO;
	}
	kernel_space.root = vm.root;
	kernel_space.user_root = (uint64_t)pfn; /* (slots linked from now on: low_slot) */
	return pfn;
}

void mm_user_root_free(int64_t pfn)
{
	if (kernel_space.user_root == (uint64_t)pfn)
		kernel_space.user_root = 0;
	pg->release_table((uint64_t)pfn);
	mm_frame_free((uint64_t)pfn);
}

/* Address spaces (mm.h). A space is a root table: its own low half, the kernel's half
 * copied from the kernel's root (which never changes after mm_init); on Xen PV also a
 * user-mode root holding the same low half and nothing of the kernel's (Xen's user mode
 * runs on it), kept in step by vm_env.low_slot, both pinned. `loaded` is what each CPU
 * runs on (NULL: the kernel's root); the walker takes the low half from it
 * (vm_env.low_root), so a thread's memory calls act on the space its CPU has loaded: the
 * scheduler loads a thread's space at every switch to it (mm_space_switch). A kernel
 * thread (no space) runs on whatever is loaded; a space being freed is left by every CPU
 * at its next mm_tlb_sync, which the free waits for. */
static struct mm_space *spaces; /* every one made and not freed, under spaces_lock */
static struct spinlock spaces_lock;
static uint64_t spaces_live; /* atomic: made and not freed yet */

/* Preemption off: a thread that moved to another CPU between reading its CPU's number and
 * that CPU's space would read the space of whatever runs there now (seen: exec's pages
 * mapped into another process's space, and a NULL where its own should have been).
 * Wherever the thread runs, its own space is the one loaded. */
static uint64_t low_root(void)
{
	preempt_disable();
	unsigned cpu = arch_cpu_id();
	struct mm_space *s = cpu < MM_MAX_CPUS ? __atomic_load_n(&loaded[cpu], __ATOMIC_RELAXED)
					       : NULL;
	uint64_t root = s ? s->root : vm.root;

	preempt_enable();
	return root;
}

static void load(const struct mm_space *s)
{
	pg->load(s->root, s->user_root ? s->user_root : s->root);
}

/* vm_env.low_slot: a low-half slot of a space's root changed: its user root's too */
static void low_slot(uint64_t root, unsigned idx, uint64_t e)
{
	struct mm_space *s = root == vm.root ? &kernel_space : NULL;
	uint64_t on = irq_save();

	spin_lock(&spaces_lock);
	for (struct mm_space *p = spaces; p && !s; p = p->next)
		if (p->root == root)
			s = p;
	uint64_t u = s ? s->user_root : 0;

	spin_unlock(&spaces_lock);
	irq_restore(on);
	if (u)
		check(pg->set(mm_frame_va(u), u, idx, 1, &e), "a user root's slot");
}

struct mm_space *mm_space_kernel(void)
{
	kernel_space.root = vm.root;
	return &kernel_space;
}

/* a root for a space: zeroed, the kernel's half copied (kernel: PV leaves out Xen's own
 * slots, 256-271, which Xen fills), made a table and pinned. Its pfn, or -ENOMEM. */
static int64_t new_root(bool kernel)
{
	int64_t pfn = mm_frame_alloc();

	if (pfn < 0)
		return -ENOMEM;
	uint64_t *t = mm_frame_va((uint64_t)pfn);

	memset(t, 0, PAGE_SIZE);
	if (kernel) {
		unsigned from = pg->ro_tables ? 272 : 256;

		memcpy(t + from, (const uint64_t *)mm_frame_va(vm.root) + from,
		       (512 - from) * sizeof(uint64_t));
	}
	pool.f[pfn].state = FRAME_PAGETABLE;
	__atomic_add_fetch(&pagetable_frames, 1, __ATOMIC_RELAXED);
	if (pg->prepare_table((uint64_t)pfn) || pg->pin_root((uint64_t)pfn)) {
		free_table((uint64_t)pfn);
		return -EIO;
	}
	return pfn;
}

static void free_root(uint64_t pfn)
{
	pg->unpin_root(pfn);
	free_table(pfn);
}

int mm_space_new(struct mm_space **out)
{
	struct mm_space *s = kcalloc(1, sizeof(*s));
	int64_t root = s ? new_root(true) : -ENOMEM;
	int64_t user = root >= 0 && pg->ro_tables ? new_root(false) : 0;

	if (root < 0 || user < 0) {
		if (root >= 0)
			free_root((uint64_t)root);
		kfree(s);
		return root < 0 ? (int)root : (int)user;
	}
	s->root = (uint64_t)root;
	s->user_root = (uint64_t)user;
	uint64_t on = irq_save();

	spin_lock(&spaces_lock);
	s->next = spaces;
	spaces = s;
	spin_unlock(&spaces_lock);
	irq_restore(on);
	vm.low_root = low_root; /* (from the first space on: until then all is the kernel's) */
	__atomic_add_fetch(&spaces_live, 1, __ATOMIC_RELAXED);
	*out = s;
	return 0;
}

struct space_copy {
	const struct mm_space *dst;
	uint64_t src;	 /* the loaded space's root */
	bool protected; /* a page of the source made read-only */
};

/* One entry of the loaded low half, into the copy (mm_space_copy). A page with a frame
 * becomes shared, copy on write where it is writable: its holders counted first, then its
 * entries (under lazy_lock, as a fault of another thread of the source looks at them). */
static int copy_entry(uint64_t va, uint64_t e, void *arg)
{
	struct space_copy *c = arg;

	if (!(e & PTE_P) && !(is_lazy(e) && (e & LAZY_S)))
		return is_lazy(e) ? vm_set_in(c->dst->root, va, e) : 0;
	uint64_t pfn = pg->entry_pfn(e);

	if ((e & PTE_P) && (pfn >= pool.nframes || pool.f[pfn].state == FRAME_RESERVED))
		return vm_set_in(c->dst->root, va, e); /* the kernel's page (the vDSO): shared */
	/* a MAP_SHARED page not touched yet gets its frame now, in the source, so that both
	 * share it */
	int64_t fresh = !(e & PTE_P) ? mm_frame_alloc() : -1;

	if (!(e & PTE_P) && fresh < 0)
		return -ENOMEM;
	if (fresh >= 0)
		memset(mm_frame_va((uint64_t)fresh), 0, PAGE_SIZE);
	uint64_t on = lazy_take(), now = vm_entry_4k(va);
	int rc = 0;

	if (fresh >= 0 && is_lazy(now) && (now & LAZY_S)) {
		uint64_t f = lazy_flags(now) | PTE_P | PTE_A | (now & LAZY_W ? PTE_D : 0);

		rc = vm_set_in(c->src, va, pg->entry((uint64_t)fresh, f));
		if (!rc) {
			now = vm_entry_4k(va);
			fresh = -1;
		}
	}
	if ((now & PTE_P) && (now & MM_SHARED)) {
		/* MAP_SHARED: the same frame, writable in both where it is */
		pfn = pg->entry_pfn(now);
		__atomic_add_fetch(holders(pfn), 1, __ATOMIC_ACQ_REL);
		rc = vm_set_in(c->dst->root, va, now);
		if (rc)
			user_frame_put(pfn); /* (not its last holder: the source holds it) */
	} else if (now & PTE_P) {
		uint64_t f = (now & PTE_FLAGS & ~(PTE_W | PTE_D)) | (now & (PTE_W | COW_W) ? COW_W : 0);

		pfn = pg->entry_pfn(now);
		__atomic_add_fetch(holders(pfn), 1, __ATOMIC_ACQ_REL);
		if (now & PTE_W) {
			rc = vm_set_in(c->src, va, pg->entry(pfn, f));
			c->protected = true;
		}
		if (!rc)
			rc = vm_set_in(c->dst->root, va, pg->entry(pfn, f));
		if (rc)
			user_frame_put(pfn); /* (cannot be its last holder: the source holds it) */
	} else if (is_lazy(now) && !rc) {
		rc = vm_set_in(c->dst->root, va, now); /* (unmapped meanwhile: nothing) */
	}
	lazy_drop(on);
	if (fresh >= 0)
		mm_frame_free((uint64_t)fresh); /* (the page changed meanwhile) */
	return rc;
}

struct space_pages {
	uint64_t present, reserved;
};

static int count_entry(uint64_t va, uint64_t e, void *arg)
{
	struct space_pages *c = arg;

	(void)va;
	c->present += (e & PTE_P) != 0;
	c->reserved += is_lazy(e);
	return 0;
}

void mm_space_pages(struct mm_space *s, uint64_t *present, uint64_t *reserved)
{
	struct space_pages c = {0, 0};

	vm_each_low(s->root, count_entry, &c);
	*present = c.present;
	*reserved = c.reserved;
}

int mm_space_copy(struct mm_space *dst)
{
	struct space_copy c = {.dst = dst, .src = vm.low_root ? low_root() : vm.root};

	if (c.src == dst->root)
		return -EINVAL;
	int rc = vm_each_low(c.src, copy_entry, &c);

	if (c.protected)
		space_flush(~0ull, false); /* (no CPU may write a shared frame through an old entry) */
	return rc;
}

/* `running` is stored before the space's generation is read (space_flush reads them the
 * other way round), and `loaded` before the root is loaded: a CPU whose TLB may hold a
 * space's entries is one that shows it. The generation is looked at whether or not any
 * space but the kernel's exists yet: an HP-mode app's threads run on the kernel's, and a
 * CPU that ran one, went idle (no IPI from space_flush) and runs one again must flush
 * here. (It once returned early while no other space existed, so a munmap and a new
 * mapping at the same address while another CPU idled left that CPU reading the old
 * frame: memcached's new thread read its start argument as 0, SIGSEGV, 2 of ~85 runs.) */
void mm_space_switch(struct mm_space *s)
{
	unsigned cpu = arch_cpu_id();

	if (cpu >= MM_MAX_CPUS)
		return;
	__atomic_store_n(&running[cpu], s, __ATOMIC_SEQ_CST);
	if (!s)
		return;
	struct mm_space *want = s == &kernel_space ? NULL : s;
	uint64_t g = __atomic_load_n(&s->gen, __ATOMIC_SEQ_CST);

	if (__atomic_load_n(&loaded[cpu], __ATOMIC_RELAXED) != want) {
		__atomic_store_n(&leaving[cpu], loaded[cpu], __ATOMIC_SEQ_CST);
		__atomic_store_n(&loaded[cpu], want, __ATOMIC_SEQ_CST);
		load(s);
		__atomic_store_n(&leaving[cpu], NULL, __ATOMIC_RELEASE);
	} else if (loaded_gen[cpu] != g) {
		pg->flush_all();
	}
	loaded_gen[cpu] = g;
}

static void leave_dying_space(unsigned cpu)
{
	struct mm_space *s = cpu < MM_MAX_CPUS ? __atomic_load_n(&loaded[cpu], __ATOMIC_ACQUIRE)
					       : NULL;

	if (s && __atomic_load_n(&s->dying, __ATOMIC_ACQUIRE)) {
		load(&kernel_space);
		__atomic_store_n(&loaded[cpu], NULL, __ATOMIC_RELEASE);
		loaded_gen[cpu] = ~0ull; /* (flushed at the next switch to a thread of it) */
	}
}

/* (no memory for the batch: an entry at a time) */
static int free_entry(uint64_t va, uint64_t e, void *arg)
{
	const struct mm_space *s = arg;

	check(vm_set_in(s->root, va, 0), "clearing a space's page");
	if (e & PTE_P)
		user_frame_put(pg->entry_pfn(e));
	return 0;
}

static void free_table(uint64_t pfn)
{
	check(pool.f[pfn].state == FRAME_PAGETABLE ? 0 : -EINVAL, "freeing a space's page table");
	pg->release_table(pfn);
	pool.f[pfn].state = FRAME_USED;
	__atomic_sub_fetch(&pagetable_frames, 1, __ATOMIC_RELAXED);
	mm_frame_free(pfn);
}

void mm_space_free(struct mm_space *s)
{
	if (!s || s == &kernel_space)
		return;
	/* every CPU off it (each leaves it at its next sync) and its TLB flushed since: the
	 * ones that have it loaded (no thread of it is left to load it again), or are leaving
	 * it in a switch (`loaded` names the next space before the root is loaded: its root
	 * in use there, unpinned and made writable, made a Xen PV guest's page-table frame
	 * writable while still a baseptr, and a later memset of it faulted); those that loaded
	 * another since have flushed at that load */
	__atomic_store_n(&s->dying, true, __ATOMIC_SEQ_CST);
	preempt_disable();
	leave_dying_space(arch_cpu_id());
	preempt_enable();
	uint64_t holding = 0;

	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		if (__atomic_load_n(&loaded[cpu], __ATOMIC_SEQ_CST) == s ||
		    __atomic_load_n(&leaving[cpu], __ATOMIC_SEQ_CST) == s)
			holding |= 1ull << cpu;
	if (holding)
		tlb_shootdown_cpus(holding);
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		if (__atomic_load_n(&loaded[cpu], __ATOMIC_ACQUIRE) == s ||
		    __atomic_load_n(&leaving[cpu], __ATOMIC_ACQUIRE) == s)
			panic("mm: cpu%u still has a freed address space loaded", cpu);
	struct clearing *c = kmalloc(sizeof(*c));

	if (c) {
		c->n = 0;
		/* its entries cleared a table at a time, then their frames let go of (no CPU
		 * has it loaded; Xen PV: a frame still mapped writable somewhere could not
		 * become another space's table) */
		check(vm_clear_low(s->root, clear_entry, clearing_put, c), "clearing a space");
		kfree(c);
	} else {
		vm_each_low(s->root, free_entry, s);
	}
	uint64_t pfns[64];
	unsigned n;

	while ((n = vm_unlink_low_tables(s->root, pfns, ARRAY_SIZE(pfns))))
		for (unsigned i = 0; i < n; i++)
			free_table(pfns[i]);
	uint64_t on = irq_save();

	spin_lock(&spaces_lock);
	for (struct mm_space **pp = &spaces; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	spin_unlock(&spaces_lock);
	irq_restore(on);
	if (s->user_root)
		free_root(s->user_root);
	free_root(s->root);
	__atomic_sub_fetch(&spaces_live, 1, __ATOMIC_RELAXED);
	kfree(s);
}

uint64_t mm_spaces_live(void)
{
	return __atomic_load_n(&spaces_live, __ATOMIC_RELAXED);
}

void *mm_user_frame_va(uint64_t va)
{
	int level;
	uint64_t e = va < USER_TOP ? vm_lookup(va & ~(uint64_t)(PAGE_SIZE - 1), &level) : 0;

	return e && level == 1 ? (uint8_t *)mm_frame_va(pg->entry_pfn(e)) + (va & (PAGE_SIZE - 1))
			       : NULL;
}

/* Device registers go in their own window, uncached and never executable. */
void *mm_map_mmio(uint64_t pa, size_t len)
{
	uint64_t off = pa & (PAGE_SIZE - 1);
	uint64_t pages = ALIGN_UP(off + len, PAGE_SIZE) / PAGE_SIZE;

	if (!pg->large_pages || !len)
		return NULL; /* Xen PV has no device registers to map */
	/* under the lock: the window's page tables are made as it grows */
	spin_lock(&mmio_lock);
	uint64_t va = mmio_next;
	int rc = va + pages * PAGE_SIZE > MMIO_BASE + MMIO_AREA ?
			 -ENOSPC :
			 vm_map(va, pa / PAGE_SIZE, pages, PTE_W | PTE_NX | PTE_PCD | PTE_PWT, false);

	if (!rc)
		mmio_next += (pages + 1) * PAGE_SIZE; /* a gap page between mappings */
	spin_unlock(&mmio_lock);
	return rc ? NULL : (void *)(va + off);
}

/* After mm_init, reading physical memory means the direct map. */
static const void *late_phys_map(uint64_t pa, size_t len)
{
	return memmap_covers(direct, n_direct, pa, len, MEM_RAM) ? (void *)(DIRECT_BASE + pa) :
								    NULL;
}

static void *late_mmio_map(uint64_t pa, size_t len)
{
	return mm_map_mmio(pa, len);
}

/* This CPU's caches only (sched_mm_stats_exact runs it on each CPU). It drained every
 * CPU's frame cache, with preemption on: another CPU's cache under that CPU's lock-free
 * fast path, and the pool's spinlock held by a thread that could be preempted, leaving
 * the next taker on its CPU spinning for ever with preemption off, and then every CPU
 * (both vCPUs spinning before "hp: running": nm_http_many and nm_go_http, 2 boots in
 * some thousands). */
void mm_trim(void)
{
	preempt_disable();
	heap_trim(&heap, arch_cpu_id());
	frame_cache_drain(&pool, arch_cpu_id());
	preempt_enable();
}

uint64_t mm_usable_kib(void)
{
	return pool.nusable * 4;
}

const char *mm_frames_check(void)
{
	preempt_disable();
	spin_lock(&pool.lock);
	const char *why = frames_check(&pool);

	spin_unlock(&pool.lock);
	preempt_enable();
	return why;
}

uint64_t mm_free_kib(void)
{
	return frames_free_count(&pool) * 4;
}

void mm_stats(struct mm_stats *s)
{
	*s = (struct mm_stats){
		.usable_kib = pool.nusable * 4,
		.free_kib = frames_free_count(&pool) * 4,
		.kernel_kib = kernel_frames * 4,
		.meta_kib = meta_frames * 4,
		.pagetable_kib = __atomic_load_n(&pagetable_frames, __ATOMIC_RELAXED) * 4,
	};
	for (unsigned cpu = 0; cpu < MM_MAX_CPUS; cpu++)
		for (unsigned c = 0; c < HEAP_CLASSES; c++) {
			s->heap_slabs[c] += heap.cpu[cpu].stats[c].slabs;
			s->heap_objects[c] += heap.cpu[cpu].stats[c].objects;
		}
	s->heap_large_blocks = heap.large_blocks;
	s->heap_large_kib = heap.large_frames * 4;
}

void mm_stats_print(void)
{
	struct mm_stats s;

	if (!up)
		return;
	mm_stats(&s);
	kprintf("memory: %lu KiB free of %lu KiB (%lu KiB used); kernel %lu KiB, frame metadata %lu KiB, page tables %lu KiB\n",
		s.free_kib, s.usable_kib, s.usable_kib - s.free_kib, s.kernel_kib, s.meta_kib,
		s.pagetable_kib);
	kprintf("heap:");
	for (unsigned c = 0; c < HEAP_CLASSES; c++)
		kprintf(" %u:%lu/%lu", heap_class_size(c), s.heap_objects[c], s.heap_slabs[c]);
	kprintf(" (objects/slabs by size); large %lu blocks, %lu KiB\n", s.heap_large_blocks,
		s.heap_large_kib);
}
