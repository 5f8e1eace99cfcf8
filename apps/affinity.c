/* affinity: what a program learns about CPUs and CPU time. sched_getaffinity, musl's
 * sysconf(_SC_NPROCESSORS_ONLN) (which asks sched_getaffinity) and a Go-style count (the
 * raw system call into a 1 KiB buffer, counting the bits of the bytes it says it wrote)
 * must agree; pinned to each CPU in turn, getcpu says that CPU; bad masks are refused;
 * another thread's mask is set by its tid. Then CPU time: the thread's CPU clock against
 * its wall time, the process's clock, pthread_getcpuclockid, getrusage and times. Every
 * line but the "bench:" ones is the same wherever it runs. Usage: affinity */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000LL

static const char *yes(int ok)
{
	return ok ? "yes" : "NO";
}

static long long ns_of(clockid_t clk)
{
	struct timespec ts;

	if (clock_gettime(clk, &ts))
		return -1;
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv)
{
	return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
}

static volatile int other_go, other_stop;
static volatile pid_t other_tid;

static void *other(void *arg)
{
	(void)arg;
	other_tid = (pid_t)syscall(SYS_gettid);
	while (!other_stop)
		__asm__ __volatile__("pause");
	return NULL;
}

static int ok_all = 1;

static void say(const char *what, int ok)
{
	printf("%s: %s\n", what, yes(ok));
	ok_all &= ok;
}

static void cpus(void)
{
	cpu_set_t set, one, back;
	unsigned char raw[1024];
	int n, bits = 0, each_ok = 1;

	if (sched_getaffinity(0, sizeof(set), &set)) {
		printf("affinity: sched_getaffinity: %s\n", strerror(errno));
		ok_all = 0;
		return;
	}
	n = CPU_COUNT(&set);
	long raw_len = syscall(SYS_sched_getaffinity, 0, sizeof(raw), raw);

	for (long i = 0; i < raw_len && i < (long)sizeof(raw); i++)
		for (unsigned char b = raw[i]; b; b &= b - 1)
			bits++;
	say("affinity: sched_getaffinity, sysconf(_SC_NPROCESSORS_ONLN) and a Go-style count "
	    "agree", n >= 1 && sysconf(_SC_NPROCESSORS_ONLN) == n && bits == n);
	say("affinity: the raw call wrote a whole number of 8-byte words",
	    raw_len > 0 && raw_len % 8 == 0);
	printf("bench: affinity: %d CPUs; the raw call wrote %ld bytes; getcpu says %d\n", n,
	       raw_len, sched_getcpu());

	/* pinned to each CPU in turn: there at once, and the mask reads back */
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		CPU_ZERO(&one);
		CPU_SET(c, &one);
		each_ok &= !sched_setaffinity(0, sizeof(one), &one) && sched_getcpu() == c &&
			   !sched_getaffinity(0, sizeof(back), &back) && CPU_EQUAL(&one, &back);
	}
	say("affinity: pinned to each CPU in turn, getcpu says that CPU and the mask reads back",
	    each_ok);

	/* refused: an empty mask; a mask of a CPU that is not there; a buffer too small */
	CPU_ZERO(&one);
	printf("affinity: an empty mask: %s\n",
	       sched_setaffinity(0, sizeof(one), &one) ? strerror(errno) : "ACCEPTED");
	CPU_SET(CPU_SETSIZE - 1, &one);
	printf("affinity: a mask of CPU %d alone: %s\n", CPU_SETSIZE - 1,
	       sched_setaffinity(0, sizeof(one), &one) ? strerror(errno) : "ACCEPTED");
	printf("affinity: sched_getaffinity into 4 bytes: %s\n",
	       syscall(SYS_sched_getaffinity, 0, 4, raw) < 0 ? strerror(errno) : "ACCEPTED");
	printf("affinity: sched_getaffinity of no such thread: %s\n",
	       syscall(SYS_sched_getaffinity, 2147483600, sizeof(raw), raw) < 0 ? strerror(errno)
									  : "ACCEPTED");
	int restored = !sched_setaffinity(0, sizeof(set), &set);

	say("affinity: back on every CPU",
	    restored && !sched_getaffinity(0, sizeof(back), &back) && CPU_EQUAL(&set, &back));

	/* another thread's mask, by its tid */
	pthread_t t;
	int c0 = -1;

	other_stop = 0;
	other_tid = 0;
	pthread_create(&t, NULL, other, NULL);
	while (!other_tid)
		sched_yield();
	for (int c = 0; c < CPU_SETSIZE && c0 < 0; c++)
		if (CPU_ISSET(c, &set))
			c0 = c;
	CPU_ZERO(&one);
	CPU_SET(c0, &one);
	int set_rc = sched_setaffinity(other_tid, sizeof(one), &one);
	int back_ok = !sched_getaffinity(other_tid, sizeof(back), &back) && CPU_EQUAL(&one, &back);

	other_stop = 1;
	pthread_join(t, NULL);
	say("affinity: another thread's mask set by its tid reads back", !set_rc && back_ok);
}

/* a new thread's first system call asks for its own mask (the kernel once had it look up
 * its thread before its creator had recorded it) */
static void *fresh(void *arg)
{
	cpu_set_t m;

	*(int *)arg = !sched_getaffinity(0, sizeof(m), &m) && CPU_COUNT(&m) > 0 &&
		      !sched_setaffinity(0, sizeof(m), &m);
	return NULL;
}

static void fresh_threads(void)
{
	enum { N = 64 };
	int ok[N], all = 1;

	for (int i = 0; i < N; i++) {
		pthread_t t;

		ok[i] = 0;
		if (pthread_create(&t, NULL, fresh, &ok[i]) || pthread_join(t, NULL))
			ok[i] = 0;
		all &= ok[i];
	}
	say("affinity: 64 new threads read and set their own mask first thing", all);
}

static void cputime(void)
{
	/* (the wall time brackets the CPU time: read before it and after it) */
	long long w0 = ns_of(CLOCK_MONOTONIC), c0 = ns_of(CLOCK_THREAD_CPUTIME_ID), c1, w1;
	struct rusage self, thread;
	struct tms tm;
	clockid_t mine;

	/* spin until the thread's own clock says 50 ms more */
	do
		c1 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	while (c1 >= 0 && c1 - c0 < 50 * MS);
	w1 = ns_of(CLOCK_MONOTONIC);
	say("cputime: 50 ms of the thread's CPU time took at least 50 ms of wall time",
	    c0 >= 0 && c1 >= 0 && w1 - w0 >= 50 * MS);
	printf("bench: cputime: 50 ms of CPU time in %lld ms\n", (w1 - w0) / MS);

	long long p = ns_of(CLOCK_PROCESS_CPUTIME_ID), th = ns_of(CLOCK_THREAD_CPUTIME_ID);

	say("cputime: the process's clock is at least the thread's", p >= c1 && th >= c1);
	/* the same clock: read between two readings of the thread's, it falls between them */
	int got_id = !pthread_getcpuclockid(pthread_self(), &mine);
	long long a = ns_of(CLOCK_THREAD_CPUTIME_ID), b = ns_of(mine),
		  c = ns_of(CLOCK_THREAD_CPUTIME_ID);

	say("cputime: pthread_getcpuclockid's clock is the thread's", got_id && a <= b && b <= c);
	getrusage(RUSAGE_SELF, &self);
	getrusage(RUSAGE_THREAD, &thread);
	long long ru_self = tv_ns(self.ru_utime) + tv_ns(self.ru_stime),
		  ru_thread = tv_ns(thread.ru_utime) + tv_ns(thread.ru_stime);

	/* (Linux splits user and system time from samples: allow it 10 ms) */
	say("cputime: getrusage of the process and of the thread count the thread's time",
	    ru_self >= th - 10 * MS && ru_thread >= th - 10 * MS &&
		ru_thread <= ns_of(CLOCK_THREAD_CPUTIME_ID) + 10 * MS);
	long ticks = sysconf(_SC_CLK_TCK);
	clock_t r0 = times(&tm);

	say("cputime: times() counts the thread's time in clock ticks",
	    ticks > 0 && r0 != (clock_t)-1 &&
		(long long)(tm.tms_utime + tm.tms_stime) * (1000000000LL / ticks) >=
			th - 2 * (1000000000LL / ticks));

	/* a sleep costs next to no CPU time, and is a voluntary switch */
	long long s0 = ns_of(CLOCK_THREAD_CPUTIME_ID);
	struct timespec nap = { 0, 50 * MS };

	getrusage(RUSAGE_THREAD, &thread);
	long before = thread.ru_nvcsw;

	nanosleep(&nap, NULL);
	getrusage(RUSAGE_THREAD, &thread);
	/* (under half the sleep: where the kernel's ring 0 is emulated, as on the local KVM,
	 * the system calls around it take milliseconds of their own) */
	say("cputime: a 50 ms sleep costs the thread under 25 ms of CPU time",
	    ns_of(CLOCK_THREAD_CPUTIME_ID) - s0 < 25 * MS);
	say("cputime: and counts as a voluntary switch", thread.ru_nvcsw > before);
}

int main(void)
{
	cpus();
	fresh_threads();
	cputime();
	return ok_all ? 0 : 1;
}
