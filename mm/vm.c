#include "mm/vm.h"

#include "lib/errno.h"

#define LARGE_PAGE (2ull << 20)
#define TABLE_FLAGS (PTE_P | PTE_W | PTE_A) /* intermediate levels: the leaves decide */
#define CHUNK 64			      /* entries written per set() call */

struct vm_env vm;

static uint64_t *table(uint64_t pfn)
{
	return vm.frame_va(pfn);
}

/* the root a va is walked from: the kernel's for the high half, the current address
 * space's for the low half (vm_env.low_root) */
static uint64_t root_of(uint64_t va)
{
	return va >> 47 || !vm.low_root ? vm.root : vm.low_root();
}

static unsigned index_of(uint64_t va, int level)
{
	return (va >> (12 + 9 * (level - 1))) & 511;
}

static int set1(uint64_t t, unsigned idx, uint64_t val)
{
	return vm.pg->set(table(t), t, idx, 1, &val) ? -EIO : 0;
}

/* Replaces the 2 MiB page in entry idx of level-2 table t by a 4 KiB table that maps the
 * same frames with the same rights. */
static int split(uint64_t t, unsigned idx, uint64_t e)
{
	int64_t pt = vm.new_table();
	uint64_t base = vm.pg->entry_pfn(e), flags = (e & PTE_FLAGS) & ~PTE_PS;
	uint64_t vals[CHUNK];

	if (pt < 0)
		return (int)pt;
	for (unsigned i = 0; i < 512; i += CHUNK) {
		for (unsigned j = 0; j < CHUNK; j++)
			vals[j] = vm.pg->entry(base + i + j, flags);
		if (vm.pg->set(table(pt), pt, i, CHUNK, vals))
			return -EIO;
	}
	int rc = set1(t, idx, vm.pg->entry(pt, TABLE_FLAGS));

	vm.pg->flush_all();
	return rc;
}

/* The frame of the level-`level` table that covers va. Missing tables are created (and
 * 2 MiB pages in the way split) when `create`; otherwise -ENOENT. */
static int64_t walk_in(uint64_t root, uint64_t va, int level, bool create)
{
	uint64_t t = root;

	for (int l = 4; l > level; l--) {
		unsigned idx = index_of(va, l);
		uint64_t e = table(t)[idx];

		if (!(e & PTE_P)) {
			if (!create)
				return -ENOENT;
			/* the kernel's half of the root is copied into address spaces: it must
			 * not change once there are any (mm_init makes its slots) */
			if (l == 4 && va >> 47 && vm.low_root)
				return -EPERM;
			int64_t n = vm.new_table();

			if (n < 0)
				return n;
			/* in the low half (an app's) the leaves say whether ring 3 may use it */
			uint64_t tf = va >> 47 ? TABLE_FLAGS : TABLE_FLAGS | PTE_U;
			int rc = set1(t, idx, vm.pg->entry(n, tf));

			if (rc)
				return rc;
			if (l == 4 && !(va >> 47) && vm.low_slot)
				vm.low_slot(root, idx, vm.pg->entry(n, tf));
			t = n;
			continue;
		}
		if (e & PTE_PS) {
			if (!create || l != 2)
				return -EEXIST;
			int rc = split(t, idx, e);

			if (rc)
				return rc;
			e = table(t)[idx];
		}
		t = vm.pg->entry_pfn(e);
	}
	return (int64_t)t;
}

static int64_t walk(uint64_t va, int level, bool create)
{
	return walk_in(root_of(va), va, level, create);
}

/* Writes the 4 KiB-level entries of up to n pages at va, as far as one set() call and the
 * table reach: frames pfn.. with `flags`, or (absent) the not-present value `val` for all.
 * Flushes what was mapped there. Returns how many pages it wrote, or a negative error. */
static long set_leaves(uint64_t root, uint64_t va, uint64_t n, uint64_t pfn, uint64_t flags,
		       bool absent, uint64_t val)
{
	uint64_t vals[CHUNK];
	int64_t pt = walk_in(root, va, 1, true);

	if (pt < 0)
		return pt;
	unsigned idx = index_of(va, 1), k = 512 - idx;
	bool was = false;

	if (k > n)
		k = (unsigned)n;
	if (k > CHUNK)
		k = CHUNK;
	for (unsigned i = 0; i < k; i++) {
		was |= table(pt)[idx + i] & PTE_P;
		vals[i] = absent ? val : vm.pg->entry(pfn + i, flags);
	}
	if (vm.pg->set(table(pt), pt, idx, k, vals))
		return -EIO;
	for (unsigned i = 0; was && i < k; i++)
		vm.pg->flush_page(va + i * PAGE_SIZE);
	return k;
}

int vm_map(uint64_t va, uint64_t pfn, uint64_t n, uint64_t flags, bool large)
{
	flags |= PTE_P | PTE_A | (flags & PTE_W ? PTE_D : 0);
	while (n) {
		if (large && vm.pg->large_pages && !(va & (LARGE_PAGE - 1)) && !(pfn & 511) &&
		    n >= 512) {
			int64_t pd = walk(va, 2, true);

			if (pd < 0)
				return (int)pd;
			unsigned idx = index_of(va, 2);
			bool was = table(pd)[idx] & PTE_P;
			int rc = set1(pd, idx, vm.pg->entry(pfn, flags | PTE_PS));

			if (rc)
				return rc;
			if (was)
				vm.pg->flush_all();
			va += LARGE_PAGE;
			pfn += 512;
			n -= 512;
			continue;
		}
		long k = set_leaves(root_of(va), va, n, pfn, flags, false, 0);

		if (k < 0)
			return (int)k;
		va += (uint64_t)k * PAGE_SIZE;
		pfn += (uint64_t)k;
		n -= (uint64_t)k;
	}
	return 0;
}

int vm_unmap(uint64_t va, uint64_t n)
{
	for (; n; n--, va += PAGE_SIZE) {
		int level;

		if (!vm_lookup(va, &level))
			continue;
		int64_t pt = walk(va, 1, true); /* splits a 2 MiB page if need be */

		if (pt < 0)
			return (int)pt;
		int rc = set1(pt, index_of(va, 1), 0);

		if (rc)
			return rc;
		vm.pg->flush_page(va);
	}
	return 0;
}

int vm_protect(uint64_t va, uint64_t n, uint64_t flags)
{
	flags = vm.pg->flags(flags | PTE_P | PTE_A | (flags & PTE_W ? PTE_D : 0));
	for (; n; n--, va += PAGE_SIZE) {
		int level;
		uint64_t e = vm_lookup(va, &level);

		if (!e)
			return -ENOENT;
		int64_t pt = walk(va, 1, true); /* splits a 2 MiB page if need be */

		if (pt < 0)
			return (int)pt;
		e = table(pt)[index_of(va, 1)];
		int rc = set1(pt, index_of(va, 1), (e & PTE_ADDR) | flags);

		if (rc)
			return rc;
		vm.pg->flush_page(va);
	}
	return 0;
}

int vm_prepare(uint64_t va, uint64_t n)
{
	for (uint64_t a = va & ~(LARGE_PAGE - 1); a < va + n * PAGE_SIZE; a += LARGE_PAGE) {
		int64_t t = walk(a, 1, true);

		if (t < 0)
			return (int)t;
	}
	return 0;
}

/* (The scans below take each table's address once: table() is a call through vm_env, and
 * one per entry made a scan of a process's tables some 0.3 ms under TCG, several of them
 * in every fork, exec and exit.) */
static bool table_empty(uint64_t t)
{
	const uint64_t *e = table(t);

	for (unsigned i = 0; i < 512; i++)
		if (e[i] & PTE_P)
			return false;
	return true;
}

/* Unlinks root's low-half level-1 and level-2 tables (and, when `all`, the level-3 ones)
 * into pfns: when `all`, every one, else those that map nothing. */
static unsigned unlink_low(uint64_t root, uint64_t *pfns, unsigned max, bool all)
{
	unsigned n = 0;

	const uint64_t *r = table(root);

	for (unsigned i4 = 0; i4 < 256 && n + 3 <= max; i4++) {
		uint64_t e4 = r[i4];

		if (!(e4 & PTE_P))
			continue;
		uint64_t t3 = vm.pg->entry_pfn(e4);
		const uint64_t *l3 = table(t3);

		for (unsigned i3 = 0; i3 < 512 && n + 2 <= max; i3++) {
			uint64_t e3 = l3[i3];

			if (!(e3 & PTE_P) || (e3 & PTE_PS))
				continue;
			uint64_t t2 = vm.pg->entry_pfn(e3);
			const uint64_t *l2 = table(t2);

			for (unsigned i2 = 0; i2 < 512 && n + 2 <= max; i2++) {
				uint64_t e2 = l2[i2];

				if (!(e2 & PTE_P) || (e2 & PTE_PS))
					continue;
				uint64_t t1 = vm.pg->entry_pfn(e2);

				if ((all || table_empty(t1)) && !set1(t2, i2, 0))
					pfns[n++] = t1;
			}
			if (table_empty(t2) && !set1(t3, i3, 0))
				pfns[n++] = t2;
		}
		if (all && n + 1 <= max && table_empty(t3) && !set1(root, i4, 0)) {
			if (vm.low_slot)
				vm.low_slot(root, i4, 0);
			pfns[n++] = t3;
		}
	}
	return n;
}

unsigned vm_unlink_empty_low(uint64_t *pfns, unsigned max)
{
	return unlink_low(root_of(0), pfns, max, false);
}

unsigned vm_unlink_low_tables(uint64_t root, uint64_t *pfns, unsigned max)
{
	return unlink_low(root, pfns, max, true);
}

int vm_prepare_slot(uint64_t va)
{
	int64_t t = walk_in(vm.root, va, 3, true);

	return t < 0 ? (int)t : 0;
}

int vm_each_low(uint64_t root, int (*fn)(uint64_t va, uint64_t e, void *arg), void *arg)
{
	const uint64_t *r = table(root);

	for (unsigned i4 = 0; i4 < 256; i4++) {
		uint64_t e4 = r[i4];

		if (!(e4 & PTE_P))
			continue;
		uint64_t t3 = vm.pg->entry_pfn(e4);
		const uint64_t *l3 = table(t3);

		for (unsigned i3 = 0; i3 < 512; i3++) {
			uint64_t e3 = l3[i3];

			if (!(e3 & PTE_P) || (e3 & PTE_PS))
				continue;
			uint64_t t2 = vm.pg->entry_pfn(e3);
			const uint64_t *l2 = table(t2);

			for (unsigned i2 = 0; i2 < 512; i2++) {
				uint64_t e2 = l2[i2];

				if (!(e2 & PTE_P) || (e2 & PTE_PS))
					continue;
				uint64_t t1 = vm.pg->entry_pfn(e2);
				const uint64_t *l1 = table(t1);

				for (unsigned i1 = 0; i1 < 512; i1++) {
					uint64_t e = l1[i1];
					uint64_t va = (uint64_t)i4 << 39 | (uint64_t)i3 << 30 |
						      (uint64_t)i2 << 21 | (uint64_t)i1 << 12;
					int rc = e ? fn(va, e, arg) : 0;

					if (rc)
						return rc;
				}
			}
		}
	}
	return 0;
}

int vm_clear_low(uint64_t root, void (*fn)(uint64_t va, uint64_t e, void *arg),
		 void (*after)(void *arg), void *arg)
{
	static const uint64_t zeros[512];
	const uint64_t *r = table(root);

	for (unsigned i4 = 0; i4 < 256; i4++) {
		if (!(r[i4] & PTE_P))
			continue;
		const uint64_t *l3 = table(vm.pg->entry_pfn(r[i4]));

		for (unsigned i3 = 0; i3 < 512; i3++) {
			if (!(l3[i3] & PTE_P) || (l3[i3] & PTE_PS))
				continue;
			const uint64_t *l2 = table(vm.pg->entry_pfn(l3[i3]));

			for (unsigned i2 = 0; i2 < 512; i2++) {
				if (!(l2[i2] & PTE_P) || (l2[i2] & PTE_PS))
					continue;
				uint64_t t1 = vm.pg->entry_pfn(l2[i2]);
				uint64_t *l1 = table(t1);
				unsigned lo = 512, hi = 0;

				for (unsigned i1 = 0; i1 < 512; i1++) {
					uint64_t e = l1[i1];

					if (!e)
						continue;
					fn((uint64_t)i4 << 39 | (uint64_t)i3 << 30 | (uint64_t)i2 << 21 |
						   (uint64_t)i1 << 12,
					   e, arg);
					lo = MIN(lo, i1);
					hi = i1 + 1;
				}
				if (lo < hi && vm.pg->set(l1, t1, lo, hi - lo, zeros))
					return -EIO;
				if (lo < hi && after)
					after(arg);
			}
		}
	}
	return 0;
}

int vm_set_in(uint64_t root, uint64_t va, uint64_t e)
{
	if (va >> 47)
		return -EINVAL;
	long k = set_leaves(root, va, 1, vm.pg->entry_pfn(e), e & PTE_FLAGS, !(e & PTE_P), e);

	return k < 0 ? (int)k : 0;
}

uint64_t vm_entry_4k(uint64_t va)
{
	int64_t pt = walk(va, 1, false);

	return pt < 0 ? 0 : table((uint64_t)pt)[index_of(va, 1)];
}

unsigned vm_leaf_run(uint64_t va, unsigned max, uint64_t mask, uint64_t want)
{
	int64_t pt = walk(va, 1, false);

	if (pt < 0)
		return 0;
	const uint64_t *t = table((uint64_t)pt);
	unsigned idx = index_of(va, 1), k = 0;

	while (k < max && idx + k < 512 && (t[idx + k] & mask) == want)
		k++;
	return k;
}

uint64_t vm_next_table(uint64_t va, uint64_t end)
{
	va &= ~(PAGE_SIZE - 1);
	while (va < end) {
		uint64_t t = root_of(va), span = 0;

		for (int l = 4; l > 1; l--) {
			uint64_t e = table(t)[index_of(va, l)];

			if (!(e & PTE_P)) { /* nothing below this entry: past what it covers */
				span = 1ull << (12 + 9 * (l - 1));
				break;
			}
			if (e & PTE_PS)
				return va;
			t = vm.pg->entry_pfn(e);
		}
		if (!span)
			return va;
		uint64_t next = (va & ~(span - 1)) + span;

		if (next <= va)
			break; /* the top of the address space */
		va = next;
	}
	return end;
}

int vm_set_absent(uint64_t va, uint64_t n, uint64_t val)
{
	if (val & PTE_P)
		return -EINVAL;
	while (n) {
		long k = set_leaves(root_of(va), va, n, 0, 0, true, val);

		if (k < 0)
			return (int)k;
		va += (uint64_t)k * PAGE_SIZE;
		n -= (uint64_t)k;
	}
	return 0;
}

uint64_t vm_lookup(uint64_t va, int *level)
{
	uint64_t t = root_of(va);

	for (int l = 4; l >= 1; l--) {
		uint64_t e = table(t)[index_of(va, l)];

		if (!(e & PTE_P))
			return 0;
		if (l == 1 || (l == 2 && (e & PTE_PS))) {
			*level = l;
			return e;
		}
		if (e & PTE_PS)
			return 0; /* 1 GiB pages are never made */
		t = vm.pg->entry_pfn(e);
	}
	return 0;
}
