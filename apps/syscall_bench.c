/* syscall_bench: the classic measure of system-call cost. write(2) of one byte to
 * /dev/null in a tight loop; prints how many succeeded (the same everywhere) and the rate
 * (a measurement: its line starts with "bench:"). Usage: syscall_bench [count] */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int fd = open("/dev/null", O_WRONLY);
	struct timespec a, b;
	long bad = 0;
	char c = 'x';

	if (fd < 0 || n <= 0) {
		printf("syscall_bench: cannot open /dev/null or bad count\n");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		bad += write(fd, &c, 1) != 1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);

	printf("syscall_bench: %ld writes of 1 byte to /dev/null, %ld failed\n", n, bad);
	if (ns <= 0)
		ns = 1;
	printf("bench: %lld syscalls/s, %lld ns each\n", n * 1000000000LL / ns, ns / n);
	return bad != 0;
}
