#include <stdlib.h>
#include <string.h>

#include "lib/errno.h"
#include "mm/vm.h"
#include "tools/unit/unit.h"

/* A fake MMU: page-table frames in an arena, entries with native semantics; the walk that
 * hardware would do is done by vm_lookup itself. */
#define TABLES 64
static uint64_t (*tables)[512];
static int next_table, fail_after = -1;

static void *fva(uint64_t pfn)
{
	return tables[pfn];
}

static int64_t fake_new_table(void)
{
	if (next_table == TABLES || fail_after == 0)
		return -ENOMEM;
	if (fail_after > 0)
		fail_after--;
	memset(tables[next_table], 0, sizeof(tables[0]));
	return next_table++;
}

static bool f_nx(void) { return true; }
static uint64_t f_flags(uint64_t f) { return f; }
static uint64_t f_entry(uint64_t pfn, uint64_t f) { return pfn << 12 | f; }
static uint64_t f_entry_pfn(uint64_t e) { return (e & PTE_ADDR) >> 12; }
static int flushes;
static int f_set(uint64_t *t, uint64_t tp, unsigned idx, unsigned n, const uint64_t *v)
{
	for (unsigned i = 0; i < n; i++)
		t[idx + i] = v[i];
	return 0;
}
static int f_prepare(uint64_t pfn) { return 0; }
static void f_flush_page(uint64_t va) { flushes++; }
static void f_flush_all(void) { flushes++; }

static struct paging_ops ops = {
	.name = "fake", .large_pages = true, .nx = f_nx, .flags = f_flags, .entry = f_entry,
	.entry_pfn = f_entry_pfn, .set = f_set, .prepare_table = f_prepare,
	.flush_page = f_flush_page, .flush_all = f_flush_all,
};

static void setup(bool large)
{
	if (!tables)
		tables = aligned_alloc(4096, sizeof(uint64_t[512]) * TABLES);
	next_table = 0;
	fail_after = -1;
	ops.large_pages = large;
	vm = (struct vm_env){ .pg = &ops, .frame_va = fva, .new_table = fake_new_table };
	vm.root = fake_new_table();
}

#define VA 0xffff888000000000ull

TEST(vm_maps_large_and_small)
{
	int level;

	setup(true);
	/* 4 KiB head, two 2 MiB pages, 4 KiB tail */
	CHECK_EQ(vm_map(VA + 0x1ff000, 0x1ff, 1 + 1024 + 3, PTE_W | PTE_NX, true), 0);
	uint64_t e = vm_lookup(VA + 0x1ff000, &level);

	CHECK(level == 1 && f_entry_pfn(e) == 0x1ff && (e & PTE_W) && (e & PTE_NX));
	e = vm_lookup(VA + 0x200000 + 0x1234, &level);
	CHECK(level == 2 && f_entry_pfn(e) == 0x200 && (e & PTE_PS));
	e = vm_lookup(VA + 0x400000 + 0x1ff000, &level);
	CHECK(level == 2 && f_entry_pfn(e) == 0x400);
	e = vm_lookup(VA + 0x602000, &level);
	CHECK(level == 1 && f_entry_pfn(e) == 0x602);
	CHECK(vm_lookup(VA + 0x603000, &level) == 0);
	CHECK(vm_lookup(0x1000, &level) == 0);
	/* no large pages allowed: all 4 KiB */
	setup(false);
	CHECK_EQ(vm_map(VA + 0x200000, 0x200, 512, PTE_W, true), 0);
	CHECK(vm_lookup(VA + 0x3ff000, &level) && level == 1);
}

TEST(vm_splits_a_large_page_to_change_one_4k_page)
{
	int level;

	setup(true);
	CHECK_EQ(vm_map(VA, 0x400, 512, PTE_W | PTE_NX, true), 0);
	CHECK(vm_lookup(VA + 0x5000, &level) && level == 2);
	flushes = 0;
	CHECK_EQ(vm_protect(VA + 0x5000, 1, PTE_NX), 0); /* read-only, one page */
	uint64_t e = vm_lookup(VA + 0x5000, &level);

	CHECK(level == 1 && f_entry_pfn(e) == 0x405 && !(e & PTE_W) && (e & PTE_NX));
	for (unsigned i = 0; i < 512; i++) { /* every other page kept its frame and rights */
		e = vm_lookup(VA + i * 4096, &level);
		CHECK(level == 1 && f_entry_pfn(e) == 0x400 + i);
		if (i != 5)
			CHECK(e & PTE_W);
	}
	CHECK(flushes > 0);
	CHECK_EQ(vm_unmap(VA + 0x7000, 2), 0);
	CHECK(!vm_lookup(VA + 0x7000, &level) && !vm_lookup(VA + 0x8000, &level));
	CHECK(vm_lookup(VA + 0x9000, &level));
	CHECK_EQ(vm_protect(VA + 0x7000, 1, PTE_W), -ENOENT); /* not mapped */
}

/* not-present entries with the caller's marks (mm's pages on first touch): written over
 * mapped and unmapped pages across a table's end, read back as they are, never seen by
 * vm_lookup or as a table's content (vm_unlink_empty_low drops a table holding only them) */
TEST(vm_writes_and_reads_absent_entries)
{
	int level;
	const uint64_t lo = 0x7000001fe000ull, mark = 1ull << 9 | 1ull << 10;

	setup(false);
	CHECK_EQ(vm_map(lo, 0x50, 2, PTE_W, false), 0);
	flushes = 0;
	CHECK_EQ(vm_set_absent(lo, 4, mark), 0); /* 2 mapped, then 2 in the next table */
	CHECK(flushes == 2);
	for (unsigned i = 0; i < 4; i++) {
		CHECK(vm_entry_4k(lo + i * 4096) == mark);
		CHECK(!vm_lookup(lo + i * 4096, &level));
	}
	CHECK(vm_entry_4k(lo + 4 * 4096) == 0);
	CHECK(vm_entry_4k(0x1000) == 0); /* no table there */
	CHECK_EQ(vm_set_absent(lo, 1, PTE_P), -EINVAL);
	CHECK_EQ(vm_map(lo + 4096, 0x60, 1, PTE_W, false), 0); /* a first touch */
	CHECK(f_entry_pfn(vm_lookup(lo + 4096, &level)) == 0x60 && vm_entry_4k(lo) == mark);
	CHECK_EQ(vm_set_absent(lo, 4, 0), 0);
	uint64_t pfns[8];

	CHECK_EQ(vm_unlink_empty_low(pfns, 8), 3); /* two leaf tables, then their level-2 one */
}

TEST(vm_finds_the_next_table_past_empty_levels)
{
	const uint64_t g = 1ull << 30, m2 = 2ull << 20, base = 0x7f0000000000ull;

	setup(true);
	/* nothing at all in the low half: from anywhere, the end */
	CHECK(vm_next_table(0x1000, base) == base);
	/* a leaf table for base + 1 GiB + 6 MiB, and a 2 MiB page at base + 3 GiB */
	CHECK_EQ(vm_set_absent(base + g + 3 * m2 + 0x5000, 1, 1ull << 9), 0);
	CHECK_EQ(vm_map(base + 3 * g, 0x400, 512, PTE_W, true), 0);
	const uint64_t end = base + 4 * g;

	CHECK(vm_next_table(base, end) == base + g + 3 * m2);	   /* past a level 3, a level 2 */
	CHECK(vm_next_table(base + g + 3 * m2 + 0x7123, end) == base + g + 3 * m2 + 0x7000);
	CHECK(vm_next_table(base + g + 4 * m2, end) == base + 3 * g); /* the 2 MiB page */
	CHECK(vm_next_table(base + 3 * g + m2, end) == end);
	CHECK(vm_next_table(base + g + 4 * m2, base + 2 * g) == base + 2 * g); /* not past end */
	CHECK(vm_next_table(0x7ffffffff000ull, 0x800000000000ull) == 0x800000000000ull);
}

/* vm_leaf_run: the entries from va on that match, stopping at the first that does not, at
 * max, and at the leaf table's end; none where no leaf table is or a 2 MiB page covers */
TEST(vm_counts_a_run_of_alike_entries_in_one_table)
{
	const uint64_t mark = 1ull << 9, m2 = 2ull << 20, base = 0x7f0000000000ull;
	const uint64_t mask = PTE_P | mark;

	setup(true);
	CHECK_EQ(vm_leaf_run(base, 64, mask, mark), 0u); /* no table */
	CHECK_EQ(vm_set_absent(base + m2 - 10 * 4096, 20, mark), 0); /* across two tables */
	CHECK_EQ(vm_map(base + m2 - 4 * 4096, 0x70, 1, PTE_W, false), 0); /* one made */
	CHECK_EQ(vm_leaf_run(base + m2 - 10 * 4096, 64, mask, mark), 6u); /* up to the made one */
	CHECK_EQ(vm_leaf_run(base + m2 - 10 * 4096, 4, mask, mark), 4u);  /* max */
	CHECK_EQ(vm_leaf_run(base + m2 - 3 * 4096, 64, mask, mark), 3u);  /* the table's end */
	CHECK_EQ(vm_leaf_run(base + m2, 64, mask, mark), 10u);
	CHECK_EQ(vm_leaf_run(base + m2 + 10 * 4096, 600, mask, 0), 502u); /* empty ones */
	CHECK_EQ(vm_leaf_run(base, 64, mask, mark), 0u);		     /* unlike at va */
	CHECK_EQ(vm_leaf_run(base, 64, mask, 0), 64u);
	CHECK_EQ(vm_map(base + 4 * m2, 0x400, 512, PTE_W, true), 0);
	CHECK_EQ(vm_leaf_run(base + 4 * m2, 64, 0, 0), 0u); /* a 2 MiB page: no leaf table */
}

TEST(vm_reports_running_out_of_tables)
{
	setup(true);
	fail_after = 1; /* room for one more table, the walk needs three */
	CHECK_EQ(vm_map(0x7f0000000000ull, 1, 1, PTE_W, false), -ENOMEM);
	fail_after = -1;
	CHECK_EQ(vm_map(0x7f0000000000ull, 1, 1, PTE_W, false), 0);
	CHECK_EQ(vm_prepare(0x7f0000400000ull, 600), 0); /* tables for two 2 MiB windows */
	int before = next_table;

	CHECK_EQ(vm_map(0x7f0000400000ull, 9, 600, PTE_W, false), 0);
	CHECK_EQ(next_table, before); /* prepared: no new table needed */
}

/* Address spaces (mm.c's): a second root's low half, walked while vm_env.low_root names
 * it; vm_each_low sees every entry of a root in order, vm_set_in writes into a root that
 * is not the current one, vm_unlink_low_tables takes every table whatever it holds, and
 * the kernel's half cannot get a new root slot once spaces exist. */
static uint64_t other_root;
static uint64_t low_of_other(void)
{
	return other_root;
}

struct seen {
	uint64_t va[8], e[8];
	unsigned n;
};

static int record(uint64_t va, uint64_t e, void *arg)
{
	struct seen *s = arg;

	if (s->n == 8)
		return -1;
	s->va[s->n] = va;
	s->e[s->n++] = e;
	return 0;
}

TEST(vm_walks_and_copies_low_halves_of_other_roots)
{
	int level;
	const uint64_t a = 0x400000ull, b = 0x7ffffffff000ull, mark = 1ull << 9;

	setup(false);
	CHECK_EQ(vm_map(a, 0x70, 2, PTE_W | PTE_U, false), 0);
	CHECK_EQ(vm_set_absent(b, 1, mark), 0);
	struct seen s = {0};

	CHECK_EQ(vm_each_low(vm.root, record, &s), 0);
	CHECK(s.n == 3 && s.va[0] == a && s.va[1] == a + 4096 && s.va[2] == b &&
	      s.e[2] == mark && f_entry_pfn(s.e[1]) == 0x71);
	/* a copy into another root, its entries as they are */
	other_root = (uint64_t)fake_new_table();
	for (unsigned i = 0; i < s.n; i++)
		CHECK_EQ(vm_set_in(other_root, s.va[i], s.e[i]), 0);
	CHECK_EQ(vm_set_in(other_root, VA, s.e[0]), -EINVAL); /* the kernel's half: never */
	struct seen t = {0};

	CHECK_EQ(vm_each_low(other_root, record, &t), 0);
	CHECK(t.n == 3 && !memcmp(t.va, s.va, sizeof(s.va)) && !memcmp(t.e, s.e, sizeof(s.e)));
	/* the walker's low half follows low_root; the kernel's half stays the root's */
	CHECK_EQ(vm_map(VA, 0x90, 1, PTE_W, false), 0);
	vm.low_root = low_of_other;
	CHECK_EQ(vm_unmap(a, 1), 0);
	CHECK(!vm_lookup(a, &level) && vm_lookup(a + 4096, &level) && vm_lookup(VA, &level));
	vm.low_root = NULL;
	CHECK(vm_lookup(a, &level)); /* the first root's page is still there */
	/* a new root slot for the kernel's half is refused while spaces exist */
	vm.low_root = low_of_other;
	CHECK_EQ(vm_map(0xffffc90000000000ull, 0x91, 1, PTE_W, false), -EPERM);
	vm.low_root = NULL;
	/* every table of the copy, mapped entries or not: two level-1, two level-2, two
	 * level-3 (a's and b's are in root slots 0 and 255) */
	uint64_t pfns[3];
	unsigned got = 0, n;

	while ((n = vm_unlink_low_tables(other_root, pfns, 3)))
		got += n;
	CHECK_EQ(got, 6);
	for (unsigned i = 0; i < 256; i++)
		CHECK(tables[other_root][i] == 0);
	struct seen u = {0};

	CHECK_EQ(vm_each_low(other_root, record, &u), 0);
	CHECK(u.n == 0);
}

/* vm_clear_low (an exec's and a space's end): every entry, present or not, told once and
 * zeroed, a level-1 table at a time (after() once per table that held any), the tables
 * themselves kept */
static void count_entry(uint64_t va, uint64_t e, void *arg)
{
	struct seen *s = arg;

	(void)record(va, e, s);
}

static unsigned afters;
static void count_after(void *arg)
{
	(void)arg;
	afters++;
}

TEST(vm_clears_a_low_half_a_table_at_a_time)
{
	int level;
	const uint64_t a = 0x400000ull, b = 0x7ffffffff000ull, mark = 1ull << 9;

	setup(false);
	CHECK_EQ(vm_map(a, 0x70, 2, PTE_W | PTE_U, false), 0);
	CHECK_EQ(vm_set_absent(a + 5 * 4096, 2, mark), 0);
	CHECK_EQ(vm_set_absent(b, 1, mark), 0);
	CHECK_EQ(vm_map(VA, 0x90, 1, PTE_W, false), 0);
	int tables_before = next_table;
	struct seen s = {0};

	afters = 0;
	CHECK_EQ(vm_clear_low(vm.root, count_entry, count_after, &s), 0);
	CHECK(s.n == 5 && s.va[0] == a && s.va[1] == a + 4096 && s.va[2] == a + 5 * 4096 &&
	      s.e[3] == mark && s.va[4] == b && f_entry_pfn(s.e[1]) == 0x71);
	CHECK_EQ(afters, 2);
	struct seen t = {0};

	CHECK_EQ(vm_each_low(vm.root, record, &t), 0);
	CHECK(t.n == 0);
	CHECK(!vm_lookup(a, &level) && vm_lookup(VA, &level)); /* (the kernel's half stays) */
	CHECK_EQ(next_table, tables_before);
	/* the kept tables serve the next mapping there */
	CHECK_EQ(vm_map(a, 0x80, 1, PTE_W | PTE_U, false), 0);
	CHECK_EQ(next_table, tables_before);
}
