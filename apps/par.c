/* par: one thread alone, then one thread per CPU (as many as sched_getaffinity shows), each
 * doing the same fixed CPU work. Prints whether every thread computed the same result (the
 * same everywhere), and as measurements ("bench:") the time of one against the time of all,
 * their ratio (1.0 when the CPUs really run in parallel), on how many distinct CPUs the
 * threads were a quarter into their work, and each thread's CPU after each eighth of it.
 * A quarter, not the middle: vCPUs that the host runs at unequal speeds (4 of them on 2
 * cores) finish unequally, and a thread that moved to a CPU that an early finisher left
 * (seen: at 60 of 100 ms, once its neighbour's wake had preempted it) did run apart from
 * the others all along; a thread the first placement stacked is moved within the first
 * slice (10 ms), well inside a quarter. The threads start their work
 * together, at a barrier, and the time runs from there: creating a thread can take longer
 * than the work (the local KVM emulates the kernel's instructions, ~100 ms a thread), and
 * the first thread would otherwise be done before the last one began. Usage: par [WORK]
 * (xorshift rounds per thread) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_THREADS 64
#define STEPS 8
#define QUARTER (STEPS / 4 - 1) /* the step that ends a quarter of the work */

static uint64_t rounds;

struct job {
	pthread_t t;
	uint64_t result;
	int cpu[STEPS];	   /* where it ran after each eighth of its work */
	long long end_ns;  /* when it ended; from the start together once run_threads returns */
};

static uint64_t work(uint64_t x, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static pthread_barrier_t start;

static void *run(void *arg)
{
	struct job *j = arg;

	pthread_barrier_wait(&start);

	uint64_t x = 88172645463325252ull;

	for (int k = 0; k < STEPS; k++) {
		x = work(x, k < STEPS - 1 ? rounds / STEPS : rounds - (STEPS - 1) * (rounds / STEPS));
		j->cpu[k] = sched_getcpu();
	}
	j->result = x;
	j->end_ns = now_ns();
	return NULL;
}

/* n threads at once; returns the wall time from their start together to the end of the
 * last, or -1 when one could not be created */
static long long run_threads(struct job *jobs, int n)
{
	pthread_barrier_init(&start, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++)
		if (pthread_create(&jobs[i].t, NULL, run, &jobs[i]))
			return -1;
	pthread_barrier_wait(&start);
	long long t0 = now_ns();

	for (int i = 0; i < n; i++)
		pthread_join(jobs[i].t, NULL);
	long long t = now_ns() - t0;

	for (int i = 0; i < n; i++)
		jobs[i].end_ns -= t0;

	pthread_barrier_destroy(&start);
	return t;
}

int main(int argc, char **argv)
{
	static struct job one[1], all[MAX_THREADS];
	cpu_set_t set;
	int n, distinct = 0, same = 1;
	char seen[CPU_SETSIZE] = { 0 };

	rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 30000000;
	if (sched_getaffinity(0, sizeof(set), &set)) {
		printf("par: sched_getaffinity failed\n");
		return 1;
	}
	n = CPU_COUNT(&set);
	if (n < 1 || n > MAX_THREADS) {
		printf("par: %d CPUs\n", n);
		return 1;
	}
	long long t1 = run_threads(one, 1), tn = run_threads(all, n);

	if (t1 < 0 || tn < 0) {
		printf("par: pthread_create failed\n");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		same &= all[i].result == one[0].result;
		int c = all[i].cpu[QUARTER];

		if (c >= 0 && c < CPU_SETSIZE && !seen[c]++)
			distinct++;
	}
	printf("par: one thread per CPU, the same work each: %s\n",
	       same ? "every result the same" : "RESULTS DIFFER");
	long long ratio = t1 > 0 ? tn * 100 / t1 : 0; /* in hundredths */

	printf("bench: par: 1 thread %lld ms, %d threads %lld ms: ratio %lld.%02lld\n",
	       t1 / 1000000, n, tn / 1000000, ratio / 100, ratio % 100);
	printf("bench: par: a quarter into their work the threads ran on %d of %d CPUs\n",
	       distinct, n);
	for (int i = 0; i < n; i++) {
		printf("bench: par: thread %d done at %lld ms; its CPU after each eighth:", i,
		       all[i].end_ns / 1000000);
		for (int k = 0; k < STEPS; k++)
			printf(" %d", all[i].cpu[k]);
		printf("\n");
	}
	return same ? 0 : 1;
}
