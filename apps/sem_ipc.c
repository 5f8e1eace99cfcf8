/* sem_ipc: a producer and a consumer thread pass N numbers through a ring of 16 slots,
 * counted by two POSIX semaphores (free slots, full slots). Prints the count and sum the
 * consumer saw (the same everywhere) and the rate ("bench:"). Usage: sem_ipc [N] */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define SLOTS 16

static long ring[SLOTS];
static sem_t empty, full;
static long n;

static void *producer(void *arg)
{
	(void)arg;
	for (long i = 1; i <= n; i++) {
		sem_wait(&empty);
		ring[i % SLOTS] = i;
		sem_post(&full);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	n = argc > 1 ? atol(argv[1]) : 100000;
	struct timespec a, b;
	pthread_t t;
	long sum = 0, got = 0;

	sem_init(&empty, 0, SLOTS);
	sem_init(&full, 0, 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	if (pthread_create(&t, NULL, producer, NULL)) {
		printf("sem_ipc: pthread_create failed\n");
		return 1;
	}
	for (long i = 1; i <= n; i++) {
		sem_wait(&full);
		long v = ring[i % SLOTS];

		sem_post(&empty);
		sum += v;
		got += v == i;
	}
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);

	printf("sem_ipc: %ld items passed, %ld in order, sum %ld (expected %ld)\n", n, got, sum,
	       n * (n + 1) / 2);
	printf("bench: %lld items/s\n", ns > 0 ? n * 1000000000LL / ns : 0);
	return got == n && sum == n * (n + 1) / 2 ? 0 : 1;
}
