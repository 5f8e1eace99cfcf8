/* exit_threads: exit() while other threads still run ends them all, as on Linux: one
 * spins without system calls, one sleeps for an hour, one waits on a condition variable
 * nobody signals; with the argument "net" (a network is up) a fourth is stuck in a TCP
 * connect to an address nobody answers (ADDR, on the test's /24). Prints that they
 * started, then exits with status 5 at once. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ADDR "10.0.9.77"

static volatile int started;
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;

static void *spin(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	for (volatile unsigned long i = 0;; i++)
		;
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	sleep(3600);
	return NULL;
}

static void *waiter(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	pthread_cond_wait(&c, &m);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void *connector(void *arg)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(9) };
	int s = socket(AF_INET, SOCK_STREAM, 0);

	(void)arg;
	inet_pton(AF_INET, ADDR, &sa.sin_addr);
	__atomic_fetch_add(&started, 1, __ATOMIC_SEQ_CST);
	/* (says nothing: where the test compares with Linux, the address may not even be
	 * routed there) */
	if (s >= 0)
		connect(s, (struct sockaddr *)&sa, sizeof(sa));
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[4];
	void *(*fn[4])(void *) = { spin, sleeper, waiter, connector };
	int n = argc > 1 && !strcmp(argv[1], "net") ? 4 : 3;

	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, fn[i], NULL)) {
			printf("exit_threads: pthread_create failed\n");
			return 1;
		}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < n)
		usleep(1000);
	usleep(n > 3 ? 300000 : 20000); /* (the connect well under way) */
	printf("exit_threads: %d threads running; exiting with 5\n", n);
	fflush(stdout);
	exit(5);
}
