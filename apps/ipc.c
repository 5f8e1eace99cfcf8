/* ipc: a producer thread does WORK rounds of CPU work per item and passes N items to the
 * consumer (the main thread) through 16 slots counted by two POSIX semaphores; then the
 * two ping-pong R times on a mutex and a condition variable. Prints what the consumer got
 * and the round trips done (the same everywhere); as measurements ("bench:"): the total
 * time against the producer's work alone (measured first, in one thread), how often the
 * two were on different CPUs (getcpu, every 1024 items), and the ping-pong's round trip.
 * Usage: ipc [N] [WORK] [R] */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SLOTS 16

static long ring[SLOTS];
static sem_t empty, full;
static long n, rounds_per_item;
static volatile uint64_t sink;
static volatile int producer_cpu = -1;

static uint64_t work(uint64_t x)
{
	for (long i = 0; i < rounds_per_item; i++) {
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

static void *producer(void *arg)
{
	uint64_t x = 1;

	(void)arg;
	for (long i = 1; i <= n; i++) {
		x = work(x);
		if (!(i & 1023))
			producer_cpu = sched_getcpu();
		sem_wait(&empty);
		ring[i % SLOTS] = i;
		sem_post(&full);
	}
	sink = x;
	return NULL;
}

/* the ping-pong (as apps/ctxsw.c) */
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn;
static long trips, pongs;
static volatile int pong_cpu = -1;

static void *pong(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	for (long i = 0; i < trips; i++) {
		while (turn != 1)
			pthread_cond_wait(&c, &m);
		pongs++;
		if (!(i & 255))
			pong_cpu = sched_getcpu();
		turn = 0;
		pthread_cond_signal(&c);
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

int main(int argc, char **argv)
{
	n = argc > 1 ? atol(argv[1]) : 200000;
	rounds_per_item = argc > 2 ? atol(argv[2]) : 2000;
	trips = argc > 3 ? atol(argv[3]) : 20000;
	long sum = 0, got = 0, samples = 0, apart = 0;
	pthread_t t;

	/* the producer's work alone */
	long long t0 = now_ns();
	uint64_t x = 1;

	for (long i = 1; i <= n; i++)
		x = work(x);
	sink = x;
	long long alone = now_ns() - t0;

	sem_init(&empty, 0, SLOTS);
	sem_init(&full, 0, 0);
	t0 = now_ns();
	if (pthread_create(&t, NULL, producer, NULL)) {
		printf("ipc: pthread_create failed\n");
		return 1;
	}
	for (long i = 1; i <= n; i++) {
		sem_wait(&full);
		long v = ring[i % SLOTS];

		sem_post(&empty);
		sum += v;
		got += v == i;
		if (!(i & 1023) && producer_cpu >= 0) {
			samples++;
			apart += sched_getcpu() != producer_cpu;
		}
	}
	pthread_join(t, NULL);
	long long total = now_ns() - t0, ratio = alone > 0 ? total * 100 / alone : 0;

	printf("ipc: %ld items passed, %ld in order, sum %ld (expected %ld)\n", n, got, sum,
	       n * (n + 1) / 2);
	printf("bench: ipc: %ld items in %lld ms, the producer's work alone %lld ms: ratio "
	       "%lld.%02lld\n", n, total / 1000000, alone / 1000000, ratio / 100, ratio % 100);
	printf("bench: ipc: producer and consumer on different CPUs in %ld of %ld samples (%s)\n",
	       apart, samples, apart * 10 >= samples * 9 ? "mostly apart" : "often together");

	/* the condition-variable ping-pong */
	long pings = 0, ping_samples = 0, ping_apart = 0;

	t0 = now_ns();
	if (pthread_create(&t, NULL, pong, NULL)) {
		printf("ipc: pthread_create failed\n");
		return 1;
	}
	pthread_mutex_lock(&m);
	for (long i = 0; i < trips; i++) {
		pings++;
		if (!(i & 255) && pong_cpu >= 0) {
			ping_samples++;
			ping_apart += sched_getcpu() != pong_cpu;
		}
		turn = 1;
		pthread_cond_signal(&c);
		while (turn != 0)
			pthread_cond_wait(&c, &m);
	}
	pthread_mutex_unlock(&m);
	pthread_join(t, NULL);
	long long pp = now_ns() - t0;

	printf("ipc: %ld ping-pong round trips, %ld answered\n", pings, pongs);
	printf("bench: ipc: condvar ping-pong round trip %lld ns; on different CPUs in %ld of "
	       "%ld samples\n", trips ? pp / trips : 0, ping_apart, ping_samples);
	return got == n && sum == n * (n + 1) / 2 && pongs == trips ? 0 : 1;
}
