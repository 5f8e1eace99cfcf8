/* The vDSO, as Linux gives it (AT_SYSINFO_EHDR): its symbols found as Go's runtime finds
 * them (DT_HASH, the version LINUX_2.6), its clocks in step with the system calls (each
 * reading between two of the kernel's), never going back over 200,000 readings through
 * libc (musl takes clock_gettime from the vDSO), gettimeofday and time agreeing, getcpu
 * right on every CPU the thread is pinned to. Every line must be the same on Linux and
 * on Amphi; "bench:" lines give the cost of a reading both ways. Ends with
 * "vdso: N checks, M failed". */
#define _GNU_SOURCE
#include <elf.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* a symbol of the vDSO with version `ver`, through DT_HASH, DT_SYMTAB, DT_STRTAB,
 * DT_VERSYM and DT_VERDEF (what Go's runtime and musl read) */
static void *vdso_sym(const char *name, const char *ver)
{
	const Elf64_Ehdr *eh = (const void *)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Phdr *ph;
	const Elf64_Dyn *dyn = NULL;
	uintptr_t base = (uintptr_t)eh, load = 0;
	int have_load = 0;

	if (!eh || memcmp(eh->e_ident, ELFMAG, SELFMAG))
		return NULL;
	ph = (const void *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && !have_load) {
			load = base + ph[i].p_offset - ph[i].p_vaddr;
			have_load = 1;
		} else if (ph[i].p_type == PT_DYNAMIC) {
			dyn = (const void *)(base + ph[i].p_offset);
		}
	}
	if (!have_load || !dyn)
		return NULL;
	const uint32_t *hash = NULL;
	const Elf64_Sym *sym = NULL;
	const char *str = NULL;
	const uint16_t *versym = NULL;
	const Elf64_Verdef *verdef = NULL;

	for (; dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = load + dyn->d_un.d_ptr;

		switch (dyn->d_tag) {
		case DT_HASH: hash = (const void *)p; break;
		case DT_SYMTAB: sym = (const void *)p; break;
		case DT_STRTAB: str = (const void *)p; break;
		case DT_VERSYM: versym = (const void *)p; break;
		case DT_VERDEF: verdef = (const void *)p; break;
		}
	}
	if (!hash || !sym || !str)
		return NULL;
	for (uint32_t i = 0; i < hash[1]; i++) {
		if (strcmp(str + sym[i].st_name, name) || !sym[i].st_shndx ||
		    ELF64_ST_TYPE(sym[i].st_info) != STT_FUNC)
			continue;
		if (versym && verdef) {
			const Elf64_Verdef *d = verdef;
			int ok = 0;

			for (;;) {
				if (!(d->vd_flags & VER_FLG_BASE) &&
				    d->vd_ndx == (versym[i] & 0x7fff)) {
					const Elf64_Verdaux *aux = (const void *)((const char *)d +
										  d->vd_aux);

					ok = !strcmp(str + aux->vda_name, ver);
					break;
				}
				if (!d->vd_next)
					break;
				d = (const void *)((const char *)d + d->vd_next);
			}
			if (!ok)
				continue;
		}
		return (void *)(load + sym[i].st_value);
	}
	return NULL;
}

static long long ns_of(const struct timespec *t)
{
	return t->tv_sec * 1000000000ll + t->tv_nsec;
}

static long long ns_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ns_of(&t);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	int (*cg)(clockid_t, struct timespec *) = vdso_sym("__vdso_clock_gettime", "LINUX_2.6");
	int (*gtod)(struct timeval *, void *) = vdso_sym("__vdso_gettimeofday", "LINUX_2.6");
	time_t (*tm)(time_t *) = vdso_sym("__vdso_time", "LINUX_2.6");
	long (*gc)(unsigned *, unsigned *, void *) = vdso_sym("__vdso_getcpu", "LINUX_2.6");

	printf("vdso: AT_SYSINFO_EHDR given %d; clock_gettime %d, gettimeofday %d, time %d, "
	       "getcpu %d found (LINUX_2.6)\n", getauxval(AT_SYSINFO_EHDR) != 0, cg != NULL,
	       gtod != NULL, tm != NULL, gc != NULL);
	CHECK(cg && gtod && tm && gc, "symbols");
	if (!cg || !gtod || !tm || !gc) {
		printf("vdso: %d checks, %d failed\n", checks, failed);
		return 1;
	}
	/* each reading between two of the kernel's */
	static const clockid_t clocks[] = {CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME,
					   CLOCK_MONOTONIC_RAW};
	static const char *names[] = {"MONOTONIC", "REALTIME", "BOOTTIME", "MONOTONIC_RAW"};

	for (int c = 0; c < 4; c++) {
		int in_order = 0;

		for (int i = 0; i < 100; i++) {
			struct timespec a, v, b;

			syscall(SYS_clock_gettime, clocks[c], &a);
			int rc = cg(clocks[c], &v);

			syscall(SYS_clock_gettime, clocks[c], &b);
			in_order += rc == 0 && ns_of(&a) <= ns_of(&v) && ns_of(&v) <= ns_of(&b) &&
				    v.tv_nsec >= 0 && v.tv_nsec < 1000000000;
		}
		CHECK(in_order == 100, "%s: %d", names[c], in_order);
		printf("vdso: clock_gettime(%s) between two system calls: %d of 100\n", names[c],
		       in_order);
	}
	/* a clock the vDSO does not keep: the system call's answer */
	struct timespec cpu;

	printf("vdso: clock_gettime(PROCESS_CPUTIME_ID) %d, of a bad clock %d\n",
	       cg(CLOCK_PROCESS_CPUTIME_ID, &cpu), cg(12345, &cpu));
	/* never backwards, through libc */
	long long prev = ns_now(), back = 0, t0 = prev;

	for (int i = 0; i < 200000; i++) {
		long long n = ns_now();

		back += n < prev;
		prev = n;
	}
	long long per_vdso = (prev - t0) / 200000;

	CHECK(back == 0, "backwards %lld", back);
	printf("vdso: 200000 readings through libc, never backwards: %d\n", back == 0);
	t0 = ns_now();
	for (int i = 0; i < 20000; i++) {
		struct timespec t;

		syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &t);
	}
	long long per_sys = (ns_now() - t0) / 20000;

	printf("bench: vdso: clock_gettime %lld ns in the vDSO, %lld ns by system call\n",
	       per_vdso, per_sys);
	/* gettimeofday and time: the wall clock in step */
	struct timeval tv1, tv2;
	struct timespec rt;
	int rc1 = gtod(&tv1, NULL);

	cg(CLOCK_REALTIME, &rt);
	time_t t1 = tm(NULL), t2 = 0;

	tm(&t2);
	rc1 |= gtod(&tv2, NULL);
	/* time() may read a coarse clock that lags by up to a tick (Linux's vDSO: its
	 * CLOCK_REALTIME_COARSE), so a second that began between the reads may not show
	 * in it yet: it is behind by at most one (the host's own run failed on that) */
	int agree = rc1 == 0 && tv1.tv_sec <= rt.tv_sec && rt.tv_sec <= t1 + 1 && t1 <= t2 &&
		    t2 <= tv2.tv_sec && tv1.tv_usec >= 0 && tv1.tv_usec < 1000000 &&
		    tv1.tv_sec > 1600000000;
	CHECK(agree, "wall clocks");
	printf("vdso: gettimeofday, clock_gettime(REALTIME) and time in step, after 2020: %d\n",
	       agree);
	/* getcpu on each CPU the thread is pinned to */
	cpu_set_t all, one;
	int n = 0, right = 0;

	sched_getaffinity(0, sizeof(all), &all);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		if (sched_setaffinity(0, sizeof(one), &one))
			continue;
		unsigned v = 99999, node = 99999, s = 88888;

		long rc = gc(&v, &node, NULL);

		syscall(SYS_getcpu, &s, NULL, NULL);
		n++;
		right += rc == 0 && v == (unsigned)c && s == (unsigned)c && node == 0;
	}
	sched_setaffinity(0, sizeof(all), &all);
	CHECK(n > 0 && right == n, "getcpu: %d of %d", right, n);
	printf("vdso: getcpu right on every CPU the thread was pinned to: %d\n", n > 0 && right == n);
	printf("vdso: %d checks, %d failed\n", checks, failed);
	return failed ? 1 : 0;
}
