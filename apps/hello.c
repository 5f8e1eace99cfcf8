/* hello: the first app. Prints its arguments, one environment variable, and proves that
 * the C library's start-up (TLS, auxv), stdio, malloc (brk and mmap), and the clock work.
 * and that an unknown system call fails with ENOSYS. Everything it prints is the same on
 * Linux, so the test compares the two outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

static __thread int tls_counter = 41;

int main(int argc, char **argv)
{
	printf("hello, world\n");
	printf("argc=%d\n", argc);
	for (int i = 1; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	const char *g = getenv("GREETING");

	printf("GREETING=%s\n", g ? g : "(unset)");
	tls_counter++;
	printf("tls=%d pagesz=%lu\n", tls_counter, getauxval(AT_PAGESZ));

	/* small blocks (brk) and large ones (mmap), checked after all are written */
	unsigned long sum = 0, want = 0;
	char *small[64], *big[4];

	for (int i = 0; i < 64; i++) {
		small[i] = malloc(100 + i * 37);
		memset(small[i], i, 100 + i * 37);
		want += (unsigned long)i * (100 + i * 37);
	}
	for (int i = 0; i < 4; i++) {
		size_t n = (size_t)(1 + i) << 20;

		big[i] = malloc(n);
		memset(big[i], 1 + i, n);
		want += (unsigned long)(1 + i) * n;
	}
	for (int i = 0; i < 64; i++) {
		for (int k = 0; k < 100 + i * 37; k++)
			sum += (unsigned char)small[i][k];
		free(small[i]);
	}
	for (int i = 0; i < 4; i++) {
		for (size_t k = 0; k < ((size_t)(1 + i) << 20); k++)
			sum += (unsigned char)big[i][k];
		free(big[i]);
	}
	printf("malloc: %s (sum %lu)\n", sum == want ? "ok" : "WRONG", sum);

	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	struct timespec d = { 0, 20 * 1000 * 1000 };

	nanosleep(&d, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;

	printf("sleep: %s\n", ms >= 20 ? "ok" : "too short");

	/* a system call nobody has: -ENOSYS, both times (Amphi logs it once) */
	long r1 = syscall(500), e1 = errno, r2 = syscall(500), e2 = errno;

	printf("syscall 500: %ld %s, %ld %s\n", r1, e1 == ENOSYS ? "ENOSYS" : "?", r2,
	       e2 == ENOSYS ? "ENOSYS" : "?");
	/* and a number beyond any table (Amphi logs those once too) */
	r1 = syscall(100000), e1 = errno, r2 = syscall(100000), e2 = errno;
	printf("syscall 100000: %ld %s, %ld %s\n", r1, e1 == ENOSYS ? "ENOSYS" : "?", r2,
	       e2 == ENOSYS ? "ENOSYS" : "?");
	return 3;
}
