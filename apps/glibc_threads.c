/* A glibc program (Debian's gcc and glibc, -static), as programs built on Debian are: POSIX
 * threads with a mutex, a condition variable and a barrier, thread-local storage, printf
 * with floating point, qsort, strtod, getaddrinfo of literal addresses, malloc of small and
 * large blocks and realloc of a large one (mremap), a signal handler. Every line must be
 * the same on Linux. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define THREADS 4
#define N	200000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t bar;
static int turn;
static uint64_t total;
static __thread uint64_t mine; /* thread-local */

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;

	for (uint64_t i = (uint64_t)id; i < N; i += THREADS)
		mine += i * i % 1000;
	pthread_barrier_wait(&bar);
	/* in turn, by a condition variable */
	pthread_mutex_lock(&mu);
	while (turn != id)
		pthread_cond_wait(&cv, &mu);
	total += mine;
	printf("glibc_threads: thread %d adds %lu\n", id, (unsigned long)mine);
	turn++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static volatile sig_atomic_t got;

static void on_usr1(int sig)
{
	got = sig;
}

static void lookup(const char *host, int flags)
{
	struct addrinfo hints, *res;
	char buf[64];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = flags;
	int rc = getaddrinfo(host, "8080", &hints, &res);

	if (rc) {
		printf("glibc_threads: getaddrinfo %s: %s\n", host, gai_strerror(rc));
		return;
	}
	for (struct addrinfo *r = res; r; r = r->ai_next) {
		const void *a = r->ai_family == AF_INET
					? (const void *)&((struct sockaddr_in *)r->ai_addr)->sin_addr
					: (const void *)&((struct sockaddr_in6 *)r->ai_addr)->sin6_addr;

		inet_ntop(r->ai_family, a, buf, sizeof(buf));
		printf("glibc_threads: getaddrinfo %s: %s port %d\n", host, buf,
		       ntohs(((struct sockaddr_in *)r->ai_addr)->sin_port));
	}
	freeaddrinfo(res);
}

int main(void)
{
	pthread_t t[THREADS];

	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_barrier_init(&bar, NULL, THREADS);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	printf("glibc_threads: total %lu\n", (unsigned long)total);

	/* floating point through printf, strtod, qsort */
	double v[1000];

	for (int i = 0; i < 1000; i++)
		v[i] = (double)((i * 7919) % 1000) / 8.0 - 3.25;
	qsort(v, 1000, sizeof(v[0]), cmp);
	printf("glibc_threads: sorted %.3f %.3f %.3f, strtod %.6g, %e\n", v[0], v[500], v[999],
	       strtod("2.718281828", NULL), 1e300 * 1e5);

	/* getaddrinfo of literal addresses (no name service) */
	lookup("10.0.2.15", AI_NUMERICHOST);
	lookup("127.0.0.1", 0);
	lookup("::1", AI_NUMERICHOST);

	/* malloc: small, large (its own mapping), realloc of a large one (mremap) */
	char *small = malloc(100), *big = malloc(1 << 20);

	memset(small, 'a', 100);
	for (int i = 0; i < 1 << 20; i++)
		big[i] = (char)(i * 13);
	big = realloc(big, 4 << 20);
	int ok = big != NULL;

	for (int i = 0; ok && i < 1 << 20; i++)
		ok = big[i] == (char)(i * 13);
	memset(big + (1 << 20), 1, 3 << 20);
	big = realloc(big, 64 << 10);
	for (int i = 0; ok && i < 64 << 10; i++)
		ok = big[i] == (char)(i * 13);
	printf("glibc_threads: malloc and realloc of large blocks keep their bytes: %s\n",
	       ok ? "yes" : "NO");
	free(big);
	free(small);

	/* a signal handler */
	signal(SIGUSR1, on_usr1);
	raise(SIGUSR1);
	printf("glibc_threads: SIGUSR1 handled: %s\n", got == SIGUSR1 ? "yes" : "no");
	printf("glibc_threads: done\n");
	return 0;
}
