/* ctxsw: two threads ping-pong N times on one mutex and condition variable: each round
 * trip is two wake-ups and two context switches (or cross-CPU wakes). Prints the rounds
 * done (the same everywhere) and the rate ("bench:"). Usage: ctxsw [N] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: ping's, 1: pong's */
static long n, pongs;

static void *pong(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	for (long i = 0; i < n; i++) {
		while (turn != 1)
			pthread_cond_wait(&c, &m);
		pongs++;
		turn = 0;
		pthread_cond_signal(&c);
	}
	pthread_mutex_unlock(&m);
	return NULL;
}

int main(int argc, char **argv)
{
	n = argc > 1 ? atol(argv[1]) : 20000;
	struct timespec a, b;
	pthread_t t;
	long pings = 0;

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (pthread_create(&t, NULL, pong, NULL)) {
		printf("ctxsw: pthread_create failed\n");
		return 1;
	}
	pthread_mutex_lock(&m);
	for (long i = 0; i < n; i++) {
		pings++;
		turn = 1;
		pthread_cond_signal(&c);
		while (turn != 0)
			pthread_cond_wait(&c, &m);
	}
	pthread_mutex_unlock(&m);
	pthread_join(t, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);

	printf("ctxsw: %ld round trips, %ld pings, %ld pongs\n", n, pings, pongs);
	printf("bench: %lld round trips/s, %lld ns each\n", ns > 0 ? n * 1000000000LL / ns : 0,
	       ns / n);
	return pings == n && pongs == n ? 0 : 1;
}
