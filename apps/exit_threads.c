/* exit_threads: exit() while other threads still run ends them all, as on Linux: one
 * spins without system calls, one sleeps for an hour, one waits on a condition variable
 * nobody signals. Prints that they started, then exits with status 5 at once. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

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

int main(void)
{
	pthread_t t[3];
	void *(*fn[3])(void *) = { spin, sleeper, waiter };

	for (int i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, fn[i], NULL)) {
			printf("exit_threads: pthread_create failed\n");
			return 1;
		}
	while (__atomic_load_n(&started, __ATOMIC_SEQ_CST) < 3)
		usleep(1000);
	usleep(20000);
	printf("exit_threads: 3 threads running; exiting with 5\n");
	fflush(stdout);
	exit(5);
}
