/* Guest tests of the memory manager (test=mm, mm_wx, mm_badfree), run on every platform. */
#include "arch_x86_64/arch.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "common/console.h"
#include "common/selftest.h"
#include "mm/mm.h"
#include "mm/vm.h"
#include "sched/sched.h"

#define STAMP 0x214d4d6968706d61ULL /* "amphiMM!" */
#define BLOCK_ORDER 3
#define LIVE 256
#define HEAP_OPS 4000

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

/* Takes single frames until there are none, stamps each, checks and frees them all. */
static uint64_t frames_until_oom(struct result *r)
{
	int64_t head = -1, pfn;
	uint64_t n = 0, bad = 0;

	while ((pfn = mm_frame_alloc()) >= 0) {
		uint64_t *p = mm_frame_va(pfn);

		p[0] = (uint64_t)head;
		p[1] = (uint64_t)pfn ^ STAMP;
		head = pfn;
		n++;
	}
	while (head >= 0) {
		uint64_t *p = mm_frame_va(head);
		int64_t next = (int64_t)p[0];

		bad += p[1] != ((uint64_t)head ^ STAMP);
		mm_frame_free(head);
		head = next;
	}
	EXPECT(r, !bad, "%lu frames lost their stamp", bad);
	return n;
}

/* The same with contiguous blocks: each aligned, stamped in its first and last frame. */
static uint64_t blocks_until_oom(struct result *r)
{
	const uint64_t frames = 1u << BLOCK_ORDER;
	int64_t head = -1, pfn;
	uint64_t n = 0, bad = 0;

	while ((pfn = mm_frames_alloc(BLOCK_ORDER)) >= 0) {
		uint64_t *first = mm_frame_va(pfn), *last = mm_frame_va(pfn + frames - 1);

		bad += (uint64_t)pfn % frames != 0;
		first[0] = (uint64_t)head;
		first[1] = last[1] = (uint64_t)pfn ^ STAMP;
		head = pfn;
		n++;
	}
	while (head >= 0) {
		uint64_t *first = mm_frame_va(head), *last = mm_frame_va(head + frames - 1);
		int64_t next = (int64_t)first[0];

		bad += first[1] != ((uint64_t)head ^ STAMP) || last[1] != first[1];
		mm_frames_free(head, BLOCK_ORDER);
		head = next;
	}
	EXPECT(r, !bad, "%lu blocks misaligned or not contiguous", bad);
	return n;
}

/* a pattern in every 256th byte and the last one: cheap, yet any overlap shows */
static void stamp(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i + 1 < n; i += 256)
		p[i] = (uint8_t)(seed + i / 256);
	if (n)
		p[n - 1] = (uint8_t)(seed ^ 0x5a);
}

static bool stamped(const uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i + 1 < n; i += 256)
		if (p[i] != (uint8_t)(seed + i / 256))
			return false;
	return !n || p[n - 1] == (uint8_t)(seed ^ 0x5a);
}

/* Random sizes (mostly small, some large) and alignments, random frees, patterns checked
 * at every free; everything freed at the end. */
static void heap_stress(struct result *r)
{
	static struct {
		uint8_t *p;
		size_t n;
		uint64_t seed;
	} live[LIVE];
	uint64_t s = 42, fails = 0, bad = 0;
	int n = 0;

	for (int op = 0; op < HEAP_OPS; op++) {
		if (n < LIVE && (rnd(&s) % 2 || !n)) {
			size_t size = rnd(&s) % 16 ? rnd(&s) % 2100 : rnd(&s) % 70000;
			size_t align = rnd(&s) % 4 ? 0 : 1ul << (rnd(&s) % 13);
			uint8_t *p = kmalloc_aligned(size, align);

			if (!p) {
				fails++;
				continue;
			}
			bad += align && ((uint64_t)p & (align - 1));
			stamp(p, size, op);
			live[n].p = p;
			live[n].n = size;
			live[n++].seed = op;
		} else {
			int k = rnd(&s) % n;

			bad += !stamped(live[k].p, live[k].n, live[k].seed);
			kfree(live[k].p);
			live[k] = live[--n];
		}
	}
	kprintf("heap at its fullest, %d objects live:\n", n);
	mm_stats_print();
	while (n--) {
		bad += !stamped(live[n].p, live[n].n, live[n].seed);
		kfree(live[n].p);
	}
	EXPECT(r, !bad, "%lu heap objects misaligned or overwritten", bad);
	EXPECT(r, !fails, "%lu allocations failed with memory to spare", fails);
	void *zero = kmalloc(0);

	EXPECT(r, zero != NULL, "kmalloc(0) returned NULL");
	kfree(zero);
	EXPECT(r, kmalloc((size_t)-1) == NULL, "kmalloc(SIZE_MAX) did not fail");
	EXPECT(r, kcalloc((size_t)1 << 62, 8) == NULL, "kcalloc did not catch the overflow");
}

static const uint8_t rodata_ret[16] = { 0xc3 }; /* ret */
static uint8_t data_ret[16] = { 0xc3 };

static bool split;

/* W^X and the guard pages, by probing (a fault here is the expected answer). */
static void protection(struct result *r)
{
	const void *text = (const void *)selftest_mm;
	uint8_t *text_alias =
		(uint8_t *)mm_frame_va(kernel_pa(text) / PAGE_SIZE) + (kernel_pa(text) % PAGE_SIZE);

	EXPECT(r, arch_probe_write((void *)text) == 14, "kernel text is writable");
	EXPECT(r, arch_probe_write((void *)rodata_ret) == 14, "rodata is writable");
	EXPECT(r, arch_probe_write(text_alias) == 14, "the direct map's alias of text is writable");
	EXPECT(r, arch_probe_exec(rodata_ret) == (arch->paging->nx() ? 14 : 0),
	       "rodata executability is wrong");
	EXPECT(r, arch_probe_exec(data_ret) == (arch->paging->nx() ? 14 : 0),
	       "data executability is wrong");
	EXPECT(r, arch_probe_read((void *)8) == 14, "page 0 is mapped");
	EXPECT(r, arch_probe_write(data_ret) == 0, "data is not writable");

	/* one page inside a 2 MiB block made read-only and back: splits a large page where
	 * the direct map has them */
	int64_t blk = mm_frames_alloc(9);
	int level = 0;

	EXPECT(r, blk >= 0, "no 2 MiB block");
	if (blk >= 0) {
		uint8_t *va = mm_frame_va(blk);

		vm_lookup((uint64_t)va, &level);
		EXPECT(r, vm_protect((uint64_t)va + 3 * PAGE_SIZE, 1, PTE_NX) == 0, "protect failed");
		EXPECT(r, arch_probe_write(va + 3 * PAGE_SIZE) == 14 &&
				  arch_probe_write(va + 4 * PAGE_SIZE) == 0 &&
				  arch_probe_write(va + 2 * PAGE_SIZE) == 0,
		       "one read-only page inside a 2 MiB block did not come out right");
		EXPECT(r, vm_protect((uint64_t)va + 3 * PAGE_SIZE, 1, PTE_W | PTE_NX) == 0 &&
				  arch_probe_write(va + 3 * PAGE_SIZE) == 0,
		       "the page did not become writable again");
		mm_frames_free(blk, 9);
	}
	split = level == 2;

	uint8_t *top = mm_stack_alloc(2 * PAGE_SIZE);

	EXPECT(r, top != NULL, "no stack");
	if (!top)
		return;
	EXPECT(r, arch_probe_write(top - 1) == 0 && arch_probe_write(top - 2 * PAGE_SIZE) == 0,
	       "a stack is not writable");
	EXPECT(r, arch_probe_read(top - 2 * PAGE_SIZE - 1) == 14, "no guard page below a stack");
	mm_stack_free(top, 2 * PAGE_SIZE);
	EXPECT(r, arch_probe_read(top - 1) == 14, "a freed stack is still mapped");
}

/* Pages on first touch: reserved pages have no frame until touched (here by kernel
 * probes: the fault handler maps them as it does for an app), keep their rights, go back
 * to reserved when discarded and are gone when unmapped. */
static void lazy(struct result *r)
{
	const uint64_t va = 0x40000000;
	uint64_t f0 = mm_user_faults();
	int rc = mm_user_reserve(va, 8, PTE_W | PTE_NX);

	EXPECT(r, !rc && mm_user_lazy(va) && !mm_user_frame_va(va), "reserving: %d", rc);
	uint64_t w = arch_probe_write((void *)(va + 100));

	EXPECT(r, w == 0 && mm_user_frame_va(va) && !mm_user_lazy(va) &&
		      *(uint8_t *)mm_user_frame_va(va + 100) == 0 && mm_user_faults() == f0 + 1,
	       "the first touch: vector %lu, %lu pages made", (unsigned long)w,
	       (unsigned long)(mm_user_faults() - f0));
	rc = mm_user_protect(va + PAGE_SIZE, PTE_NX);
	uint64_t ro_w = arch_probe_write((void *)(va + PAGE_SIZE)),
		 ro_r = arch_probe_read((const void *)(va + PAGE_SIZE));

	EXPECT(r, !rc && ro_w == 14 && ro_r == 0, "read-only before its touch: %d, a write %lu, "
	       "a read %lu", rc, (unsigned long)ro_w, (unsigned long)ro_r);
	mm_user_discard(va, 8);
	EXPECT(r, mm_user_lazy(va) && mm_user_lazy(va + 2 * PAGE_SIZE) && !mm_user_frame_va(va),
	       "a discarded page is reserved again");
	mm_user_unmap(va, 8);
	uint64_t gone = arch_probe_read((const void *)(va + 2 * PAGE_SIZE));

	EXPECT(r, !mm_user_lazy(va + 2 * PAGE_SIZE) && gone == 14,
	       "an unmapped reserved page: a read gave vector %lu", (unsigned long)gone);
	/* runs (user_unmap clears entries not made yet a run at a time): 700 pages reserved
	 * across a leaf table's end, one touched in the middle; a discard keeps them all
	 * reserved, an unmap of all but the first and the last clears the rest */
	const uint64_t big = va + 0x200000 - 300 * PAGE_SIZE;

	rc = mm_user_reserve(big, 700, PTE_W | PTE_NX);
	w = arch_probe_write((void *)(big + 350 * PAGE_SIZE));
	mm_user_discard(big, 700);
	bool kept = mm_user_lazy(big + 350 * PAGE_SIZE) && mm_user_lazy(big + 299 * PAGE_SIZE) &&
		    mm_user_lazy(big + 300 * PAGE_SIZE) && mm_user_lazy(big + 699 * PAGE_SIZE);

	w |= arch_probe_write((void *)(big + 350 * PAGE_SIZE));
	mm_user_unmap(big + PAGE_SIZE, 698);
	unsigned left = 0;

	for (uint64_t i = 0; i < 700; i++)
		left += mm_user_lazy(big + i * PAGE_SIZE) || mm_user_frame_va(big + i * PAGE_SIZE);
	EXPECT(r, !rc && !w && kept && left == 2 && mm_user_lazy(big) &&
		      mm_user_lazy(big + 699 * PAGE_SIZE),
	       "a run of 700 reserved pages: %d, touch %lu, kept by a discard %d, %u left "
	       "after the unmap (the 2 outside it)", rc, (unsigned long)w, kept, left);
	mm_user_unmap_all();
}

/* Address spaces: a copy of the low half (fork's) holds the pages' contents as they were,
 * pages not touched yet stay so in each, and a write or first touch in one is not seen in
 * the other; freeing the copy gives everything back. */
static const char *spaces_note = "";

static void spaces(struct result *r)
{
	const uint64_t va = 0x40000000;
	struct mm_space *s, *k = mm_space_kernel();
	int rc = mm_space_new(&s);

	EXPECT(r, !rc, "a new address space: %d", rc);
	if (rc)
		return;
	thread_set_space(k);
	rc = mm_user_map(va, 2, PTE_W | PTE_NX);
	if (!rc)
		rc = mm_user_reserve(va + 2 * PAGE_SIZE, 2, PTE_W | PTE_NX);
	EXPECT(r, !rc, "mapping app pages: %d", rc);
	if (!rc) {
		*(volatile uint8_t *)va = 0xa1;
		*(volatile uint8_t *)(va + PAGE_SIZE + 5) = 0xa2;
		rc = mm_space_copy(s);
		EXPECT(r, !rc, "copying the space: %d", rc);
		uint64_t f0, c0n, f1, c1n, f2, c2n;

		/* copy on write: shared read-only in both; the first writer copies, the other
		 * then has the frame alone and writes it in place */
		EXPECT(r, mm_user_cow(va) && mm_user_cow(va + PAGE_SIZE) &&
			      (mm_user_rights(va) & PTE_W),
		       "after the copy: shared %d %d, rights %#lx", mm_user_cow(va),
		       mm_user_cow(va + PAGE_SIZE), (unsigned long)mm_user_rights(va));
		mm_cow_counts(&f0, &c0n);
		*(volatile uint8_t *)va = 0xb1;
		mm_cow_counts(&f1, &c1n);
		EXPECT(r, !mm_user_cow(va) && f1 == f0 + 1 && c1n == c0n + 1,
		       "the original's first write: shared %d, faults +%lu, copies +%lu",
		       mm_user_cow(va), (unsigned long)(f1 - f0), (unsigned long)(c1n - c0n));
		thread_set_space(s);
		uint8_t c0 = *(volatile uint8_t *)va, c1 = *(volatile uint8_t *)(va + PAGE_SIZE + 5);
		bool was_lazy = mm_user_lazy(va + 2 * PAGE_SIZE);
		uint64_t w = arch_probe_write((void *)(va + 2 * PAGE_SIZE));

		EXPECT(r, c0 == 0xa1 && c1 == 0xa2 && was_lazy && !w &&
			      !mm_user_lazy(va + 2 * PAGE_SIZE) && mm_user_cow(va),
		       "in the copy: %#x %#x (0xa1 0xa2), reserved %d, touched: vector %lu, "
		       "shared %d",
		       c0, c1, was_lazy, (unsigned long)w, mm_user_cow(va));
		*(volatile uint8_t *)va = 0xc1;
		mm_cow_counts(&f2, &c2n);
		EXPECT(r, !mm_user_cow(va) && f2 == f1 + 1 && c2n == c1n,
		       "the copy's write to a frame it holds alone: faults +%lu, copies +%lu "
		       "(+1, +0)",
		       (unsigned long)(f2 - f1), (unsigned long)(c2n - c1n));
		thread_set_space(k);
		c0 = *(volatile uint8_t *)va;
		EXPECT(r, c0 == 0xb1 && mm_user_lazy(va + 2 * PAGE_SIZE),
		       "the original after the copy's writes: %#x (0xb1), reserved %d", c0,
		       mm_user_lazy(va + 2 * PAGE_SIZE));
	}
	thread_set_space(NULL);
	mm_space_free(s);
	EXPECT(r, mm_spaces_live() == 0, "%lu spaces left", (unsigned long)mm_spaces_live());
	mm_user_unmap_all();
	if (r->ok)
		spaces_note = " spaces=ok";
}

/* mm_trim on this CPU while a thread on every CPU (this one too) takes and gives back
 * frames through its CPU's cache and blocks through the pool: every frame back, the lists
 * whole, no hang. mm_trim drained every CPU's cache from any CPU with preemption on: a
 * race with the other CPUs' lock-free fast paths, and the pool's spinlock held by a
 * thread that could be preempted while the next taker on its CPU spun with preemption off
 * (both vCPUs spinning for ever). */
struct churn {
	bool stop;
	uint64_t rounds, failed;
};

static int churn(void *arg)
{
	struct churn *c = arg;
	int64_t got[24];

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		for (unsigned i = 0; i < 24; i++)
			got[i] = mm_frame_alloc();
		int64_t blk = mm_frames_alloc(2);

		for (unsigned i = 0; i < 24; i++)
			if (got[i] >= 0)
				mm_frame_free((uint64_t)got[i]);
			else
				__atomic_add_fetch(&c->failed, 1, __ATOMIC_RELAXED);
		if (blk >= 0)
			mm_frames_free((uint64_t)blk, 2);
		__atomic_add_fetch(&c->rounds, 1, __ATOMIC_RELAXED);
	}
	return 0;
}

static void trim_race(struct result *r)
{
	struct churn c = { 0 };
	struct thread *t[16];
	unsigned n = MIN(sched_cpus_online(), 16u), trims = 0;
	struct mm_stats s0, s1;

	sched_mm_stats_exact(&s0);
	for (unsigned cpu = 0; cpu < n; cpu++)
		t[cpu] = thread_create("mm-churn", churn, &c, (int)cpu);
	for (uint64_t until = clock_ns() + 300000000ull; clock_ns() < until; trims++) {
		mm_trim();
		thread_yield();
	}
	__atomic_store_n(&c.stop, true, __ATOMIC_RELEASE);
	for (unsigned cpu = 0; cpu < n; cpu++)
		if (t[cpu])
			thread_join(t[cpu], NO_DEADLINE, NULL);
	const char *why = mm_frames_check();

	sched_mm_stats_exact(&s1);
	EXPECT(r, !why, "the frame lists after trims during churn: %s", why);
	EXPECT(r, !c.failed, "%lu frames not given with memory to spare", c.failed);
	EXPECT(r, s1.free_kib == s0.free_kib, "%lu KiB free after trims during churn, %lu before",
	       s1.free_kib, s0.free_kib);
	EXPECT(r, c.rounds > 0 && trims > 0, "no churn (%lu rounds, %u trims)", c.rounds, trims);
}

void selftest_mm(struct result *r, const struct boot_info *bi)
{
	struct mm_stats s0, s1;

	/* every CPU's caches given back first: another CPU's empty slab that it gives back
	 * during the test would otherwise come back as memory from nowhere (xen-pvh: 4 KiB) */
	sched_mm_stats_exact(&s0);
	uint64_t frames = frames_until_oom(r);

	mm_trim();
	EXPECT(r, frames * 4 == s0.free_kib, "took %lu KiB of frames, %lu KiB were free",
	       frames * 4, s0.free_kib);
	uint64_t blocks = blocks_until_oom(r);

	heap_stress(r);
	protection(r);
	lazy(r);
	spaces(r);
	trim_race(r);
	sched_mm_stats_exact(&s1);
	mm_stats_print();
	/* page tables made on the way (a split 2 MiB page) stay: count them as returned */
	EXPECT(r, s1.free_kib + s1.pagetable_kib == s0.free_kib + s0.pagetable_kib,
	       "%lu KiB free (%lu in page tables) after the test, %lu (%lu) before", s1.free_kib,
	       s1.pagetable_kib, s0.free_kib, s0.pagetable_kib);
	if (r->ok)
		result_note(r, "frames=%lu (%lu KiB, all back) blocks_of_%u=%lu heap_ops=%d wx=ok lazy=ok%s%s%s",
			    frames, frames * 4, 1u << BLOCK_ORDER, blocks, HEAP_OPS,
			    arch->paging->nx() ? " nx=on" : " nx=unavailable",
			    split ? " split_2m=ok" : "", spaces_note);
}

/* A write to kernel text: the runner expects the page-fault panic. */
void selftest_mm_wx(struct result *r, const struct boot_info *bi)
{
	volatile uint8_t *text = (volatile uint8_t *)selftest_mm;

	kprintf("writing to kernel text at %p: expect a page fault and a panic\n", (void *)text);
	*text = 0x90;
	EXPECT(r, false, "writing to kernel text at %p did not fault", (void *)text);
}

/* A double free: the runner expects the heap's panic. */
void selftest_mm_badfree(struct result *r, const struct boot_info *bi)
{
	void *p = kmalloc(64);

	kfree(p);
	kprintf("freeing %p a second time: expect a panic\n", p);
	kfree(p);
	EXPECT(r, false, "the double free of %p went unnoticed", p);
}

/* SMEP and SMAP, where the CPU has them: a user page (PTE_U, as a normal-mode app's) can
 * be neither read nor run by kernel code, but read between user_access_begin and _end (the
 * copy helpers' way). Where the CPU lacks them, says so (the matrix runs this test on a
 * CPU that has them too). */
void selftest_smap(struct result *r, const struct boot_info *bi)
{
	const uint64_t va = 0x400000;
	int rc = mm_user_map(va, 1, PTE_W | PTE_U);
	uint8_t *k = mm_user_frame_va(va);

	EXPECT(r, !rc && k, "mapping a user page: %d", rc);
	if (!r->ok)
		return;
	k[0] = 0xc3; /* ret */
	uint64_t read = arch_probe_read((const void *)va), exec = arch_probe_exec((void *)va);

	user_access_begin();
	uint8_t seen = *(volatile uint8_t *)va;
	user_access_end();
	mm_user_unmap_all();
	EXPECT(r, seen == 0xc3, "a read with user access allowed saw %#x", seen);
	EXPECT(r, read == (arch_smap ? 14 : 0), "a plain read of a user page gave vector %lu",
	       (unsigned long)read);
	EXPECT(r, exec == (arch_smep ? 14 : 0), "running a user page gave vector %lu",
	       (unsigned long)exec);
	if (r->ok)
		result_note(r, "smap=%s smep=%s", arch_smap ? "on" : "off", arch_smep ? "on" : "off");
}
