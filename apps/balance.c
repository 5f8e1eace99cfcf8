/* balance: 2, 3 and 8 busy threads created from one thread; once they have run a while,
 * each says which CPU it is on (getcpu) while all keep spinning. Then a thread pins itself
 * to the last CPU with sched_setaffinity, beside as many busy threads as there are CPUs,
 * and looks where it runs. Prints that every thread ran and that the pinned one stayed
 * (the same everywhere); the threads per CPU and their spread are measurements ("bench:":
 * a loaded Linux host may place them as it likes). Usage: balance [SETTLE_MS] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 16

static volatile int sample, stop;

struct spinner {
	pthread_t t;
	volatile int cpu; /* -1 until it looked after `sample` */
};

static void *spin(void *arg)
{
	struct spinner *s = arg;

	while (!stop) {
		if (sample && s->cpu < 0)
			s->cpu = sched_getcpu();
		__asm__ __volatile__("pause");
	}
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };

	nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* k spinners; after `settle` ms each reports its CPU into per[]; 0 when all did */
static int round_of(int k, long settle, int ncpu, int *per)
{
	static struct spinner s[MAX_THREADS];
	int done = 0;

	stop = sample = 0;
	for (int i = 0; i < k; i++) {
		s[i].cpu = -1;
		if (pthread_create(&s[i].t, NULL, spin, &s[i])) {
			printf("balance: pthread_create failed\n");
			exit(1);
		}
	}
	sleep_ms(settle);
	sample = 1;
	for (long long until = now_ms() + 5000; done < k && now_ms() < until;) {
		sleep_ms(1);
		done = 0;
		for (int i = 0; i < k; i++)
			done += s[i].cpu >= 0;
	}
	stop = 1;
	for (int i = 0; i < k; i++)
		pthread_join(s[i].t, NULL);
	memset(per, 0, sizeof(int) * ncpu);
	for (int i = 0; i < k; i++)
		if (s[i].cpu >= 0 && s[i].cpu < ncpu)
			per[s[i].cpu]++;
	return done == k ? 0 : -1;
}

struct pinned {
	int cpu, set_rc, readback_ok;
	long samples, elsewhere;
};

static void *pinned_main(void *arg)
{
	struct pinned *p = arg;
	cpu_set_t set, got;

	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	p->set_rc = sched_setaffinity(0, sizeof(set), &set) ? errno : 0;
	p->readback_ok = !sched_getaffinity(0, sizeof(got), &got) && CPU_EQUAL(&set, &got);
	for (long long until = now_ms() + 300; now_ms() < until;) {
		p->elsewhere += sched_getcpu() != p->cpu;
		p->samples++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long settle = argc > 1 ? atol(argv[1]) : 100;
	const int counts[] = { 2, 3, 8 };
	cpu_set_t set;
	int ncpu, per[CPU_SETSIZE], ok = 1;

	if (sched_getaffinity(0, sizeof(set), &set) || (ncpu = CPU_COUNT(&set)) < 1 ||
	    ncpu > MAX_THREADS) {
		printf("balance: sched_getaffinity failed\n");
		return 1;
	}
	for (unsigned r = 0; r < sizeof(counts) / sizeof(counts[0]); r++) {
		int k = counts[r], lo = k, hi = 0, all = !round_of(k, settle, ncpu, per);
		char line[256];
		size_t len = 0;

		for (int c = 0; c < ncpu; c++) {
			lo = per[c] < lo ? per[c] : lo;
			hi = per[c] > hi ? per[c] : hi;
			len += snprintf(line + len, sizeof(line) - len, "%s%d", c ? "/" : "",
					per[c]);
		}
		printf("balance: %d busy threads from one: %s\n", k,
		       all ? "each ran and said where" : "SOME NEVER RAN");
		printf("bench: balance: %d threads: per CPU %s (spread %d)\n", k, line, hi - lo);
		ok &= all;
	}

	/* a pinned thread beside busy ones */
	struct pinned p = { .cpu = ncpu - 1 };
	static struct spinner s[MAX_THREADS];
	pthread_t pt;

	stop = sample = 0;
	for (int i = 0; i < ncpu; i++)
		pthread_create(&s[i].t, NULL, spin, &s[i]);
	pthread_create(&pt, NULL, pinned_main, &p);
	pthread_join(pt, NULL);
	stop = 1;
	for (int i = 0; i < ncpu; i++)
		pthread_join(s[i].t, NULL);
	printf("balance: a thread pinned to the last CPU: setaffinity %s, reads back %s, "
	       "ran elsewhere %s\n", p.set_rc ? strerror(p.set_rc) : "ok",
	       p.readback_ok ? "that CPU alone" : "SOMETHING ELSE",
	       p.elsewhere ? "SOMETIMES" : "never");
	printf("bench: balance: the pinned thread looked %ld times\n", p.samples);
	ok &= !p.set_rc && p.readback_ok && !p.elsewhere && p.samples > 0;
	return ok ? 0 : 1;
}
