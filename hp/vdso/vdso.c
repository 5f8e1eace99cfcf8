/* The vDSO: a small shared object the kernel maps into every app (AT_SYSINFO_EHDR), as
 * Linux does, so that clock_gettime, gettimeofday, time and getcpu need no system call.
 * Built on its own (Makefile: position-independent, no libc), kept in the kernel image
 * (hp/vdso_blob.S) and mapped read-only with the clock page one page below it
 * (common/vclock.h). The clock comes from the platform's pvclock record for every CPU
 * (vclock_page.rec[0]) while the page says so and the record says the TSC is stable;
 * otherwise, and for clocks it does not keep, the function makes the system call. It runs
 * in the app's context (ring 3, or ring 0 in HP mode) and touches nothing but its page. */
#include "common/vclock.h"

struct timespec_ {
	int64_t tv_sec, tv_nsec;
};

struct timeval_ {
	int64_t tv_sec, tv_usec;
};

#define NSEC 1000000000ull

extern const char __ehdr_start[] __attribute__((visibility("hidden")));

/* the clock page, one page below this object's ELF header (the address laundered through
 * an asm: the compiler may not reason about what lies before __ehdr_start) */
static const volatile struct vclock_page *page(void)
{
	uintptr_t a;

	__asm__("" : "=r"(a) : "0"(__ehdr_start));
	return (const volatile struct vclock_page *)(a - 4096);
}

static long syscall3(long nr, long a, long b, long c)
{
	long r;

	__asm__ __volatile__("syscall"
			     : "=a"(r)
			     : "a"(nr), "D"(a), "S"(b), "d"(c)
			     : "rcx", "r11", "memory");
	return r;
}

static uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* the monotonic clock in ns: false when the page does not keep it (then: a system call) */
static int mono_ns(uint64_t *ns)
{
	const volatile struct vclock_page *p = page();
	const volatile struct pvclock_time *t = &p->rec[0];
	uint32_t v;
	uint64_t r;

	if (p->mode != VCLOCK_PVCLOCK)
		return 0;
	do {
		v = t->version;
		__asm__ __volatile__("" ::: "memory");
		if (!(t->flags & PVCLOCK_TSC_STABLE))
			return 0;
		uint64_t d = rdtsc_ordered() - t->tsc_timestamp;
		int8_t shift = t->tsc_shift;

		d = shift < 0 ? d >> -shift : d << shift;
		r = t->system_time + (uint64_t)(((unsigned __int128)d * t->tsc_to_system_mul) >> 32);
		__asm__ __volatile__("" ::: "memory");
	} while ((v & 1) || v != t->version);
	*ns = r;
	return 1;
}

/* CLOCK_REALTIME (0), _COARSE (5): the wall clock; MONOTONIC (1), _RAW (4), _COARSE (6),
 * BOOTTIME (7): the monotonic clock, as the kernel's clock_gettime gives them */
static int clock_ns(int clk, uint64_t *ns)
{
	int wall = clk == 0 || clk == 5;

	if (!wall && clk != 1 && clk != 4 && clk != 6 && clk != 7)
		return 0;
	if (!mono_ns(ns))
		return 0;
	if (wall)
		*ns += (uint64_t)page()->wall_ns;
	return 1;
}

int __vdso_clock_gettime(int clk, struct timespec_ *ts);
int __vdso_clock_gettime(int clk, struct timespec_ *ts)
{
	uint64_t ns;

	if (!clock_ns(clk, &ns))
		return (int)syscall3(228, clk, (long)ts, 0);
	ts->tv_sec = (int64_t)(ns / NSEC);
	ts->tv_nsec = (int64_t)(ns % NSEC);
	return 0;
}

int __vdso_gettimeofday(struct timeval_ *tv, void *tz);
int __vdso_gettimeofday(struct timeval_ *tv, void *tz)
{
	uint64_t ns;

	if (!clock_ns(0, &ns))
		return (int)syscall3(96, (long)tv, (long)tz, 0);
	if (tv) {
		tv->tv_sec = (int64_t)(ns / NSEC);
		tv->tv_usec = (int64_t)(ns % NSEC / 1000);
	}
	if (tz) {
		((int32_t *)tz)[0] = 0; /* (UTC, as the kernel's own) */
		((int32_t *)tz)[1] = 0;
	}
	return 0;
}

long __vdso_time(long *t);
long __vdso_time(long *t)
{
	uint64_t ns;

	if (!clock_ns(0, &ns))
		return syscall3(201, (long)t, 0, 0);
	if (t)
		*t = (long)(ns / NSEC);
	return (long)(ns / NSEC);
}

/* the CPU from the limit of its GDT's SEL_CPUNR segment (arch_x86_64/traps.c); where that
 * segment is not there (Xen PV keeps its own GDT), the system call */
int __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache);
int __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	unsigned limit, ok;

	__asm__ __volatile__("lsl %2, %0; setz %b1" : "=r"(limit), "=q"(ok) : "r"(0x3bu) : "cc");
	if (!(ok & 1))
		return (int)syscall3(309, (long)cpu, (long)node, (long)cache);
	if (cpu)
		*cpu = limit;
	if (node)
		*node = 0;
	return 0;
}

/* the names without the prefix, as Linux's vDSO has them too */
int clock_gettime(int, struct timespec_ *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_ *, void *) __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
