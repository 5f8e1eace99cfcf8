/* pingpong: two threads pass a token N times through two pipes (one byte each way), on one
 * CPU (both pinned to the first CPU the app may use) or free to run apart (the second
 * pinned to another CPU where there is one): the round trip's time, as make bench's
 * "pipe" rows. Usage: pingpong N one|apart */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int ab[2], ba[2];
static long n;
static int cpu_b = -1;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void pin(int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	sched_setaffinity(0, sizeof(s), &s);
}

static void *pong(void *arg)
{
	char c;

	(void)arg;
	if (cpu_b >= 0)
		pin(cpu_b);
	for (long i = 0; i < n; i++)
		if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
			break;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "one") && strcmp(argv[2], "apart"))) {
		printf("usage: pingpong N one|apart\n");
		return 2;
	}
	n = atol(argv[1]);
	cpu_set_t all;
	int first = -1, second = -1;

	sched_getaffinity(0, sizeof(all), &all);
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &all)) {
			if (first < 0)
				first = c;
			else if (second < 0)
				second = c;
		}
	int apart = !strcmp(argv[2], "apart") && second >= 0;

	pin(first);
	cpu_b = apart ? second : first;
	if (pipe(ab) || pipe(ba)) {
		printf("pingpong: pipe failed\n");
		return 1;
	}
	pthread_t t;
	char c = 'x';
	long done = 0;

	pthread_create(&t, NULL, pong, NULL);
	double t0 = now();

	for (; done < n; done++)
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			break;
	double secs = now() - t0;

	pthread_join(t, NULL);
	printf("pingpong: %ld of %ld round trips through pipes (%s)\n", done, n,
	       apart ? "two CPUs" : "one CPU");
	printf("bench: pingpong: pipe, %s: %.0f ns per round trip\n", apart ? "two CPUs" : "one CPU",
	       done ? secs * 1e9 / done : 0);
	return done == n ? 0 : 1;
}
