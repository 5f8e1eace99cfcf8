/* tcp_bulk: the server side of `netclient tcp` (make bench's TCP bulk rows): accepts CONNS
 * connections, one thread each; each sends a 4-byte id and KIB KiB of pattern(id), and
 * gets back KIB KiB of pattern(id + 100) and the 8-byte sum of the 64-bit words it sent
 * (the kernel's own net/tcp_job.c serves the same for the matrix's tcp test). Prints
 * "tcp bulk ready" once it listens, at the end how many connections went through and a
 * bench: line with the time the two phases took; exits 0 when every connection went
 * through. With "check" (the test matrix's), every byte received is checked against the
 * pattern too, and a connection whose bytes differ fails here, with the first wrong one
 * (the client's sum alone says only that some byte was wrong). Usage: tcp_bulk PORT CONNS
 * KIB [check] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t want;
static int good, check;
static uint64_t rx_ns, tx_ns; /* the connections' receive and send phases, summed */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* netclient.c's pattern_byte() */
static uint8_t pattern_byte(uint32_t id, uint64_t i)
{
	uint64_t j = i & 0xffff;

	return (uint8_t)(((j * 7 + id * 13 + (j >> 8)) ^ (i >> 16)) & 255);
}

static int read_full(int s, void *buf, size_t n)
{
	for (size_t k = 0; k < n;) {
		ssize_t r = read(s, (char *)buf + k, n - k);

		if (r <= 0)
			return -1;
		k += (size_t)r;
	}
	return 0;
}

static int write_full(int s, const void *buf, size_t n)
{
	for (size_t k = 0; k < n;) {
		ssize_t r = write(s, (const char *)buf + k, n - k);

		if (r <= 0)
			return -1;
		k += (size_t)r;
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *serve(void *arg)
{
	int s = (int)(intptr_t)arg;
	static __thread uint8_t buf[65536];
	uint32_t id;
	uint64_t sum = 0, word = 0, got = 0, wrong = 0, first_wrong = 0;
	uint8_t was = 0;
	int ok = 0;
	uint64_t t0 = 0, t1 = 0, t2 = 0;

	if (read_full(s, &id, 4))
		goto out;
	t0 = now_ns();
	while (got < want) {
		ssize_t r = read(s, buf, want - got < sizeof(buf) ? want - got : sizeof(buf));

		if (r <= 0)
			goto out;
		for (ssize_t k = 0; k < r; k++, got++) {
			if (check && buf[k] != pattern_byte(id, got) && !wrong++) {
				first_wrong = got;
				was = buf[k];
			}
			word |= (uint64_t)buf[k] << (8 * (got & 7));
			if ((got & 7) == 7) {
				sum += word;
				word = 0;
			}
		}
	}
	t1 = now_ns();
	if (wrong) {
		printf("tcp_bulk: connection %u: %llu of %llu bytes received wrong, the first at "
		       "byte %llu (0x%02x, not 0x%02x)\n", id, (unsigned long long)wrong,
		       (unsigned long long)want, (unsigned long long)first_wrong, was,
		       pattern_byte(id, first_wrong));
		goto out;
	}
	for (uint64_t off = 0; off < want;) {
		size_t len = want - off < sizeof(buf) ? want - off : sizeof(buf);

		for (size_t k = 0; k < len; k++)
			buf[k] = pattern_byte(id + 100, off + k);
		if (write_full(s, buf, len))
			goto out;
		off += len;
	}
	ok = !write_full(s, &sum, 8);
	t2 = now_ns();
out:
	close(s);
	pthread_mutex_lock(&lock);
	good += ok;
	if (ok) {
		rx_ns += t1 - t0;
		tx_ns += t2 - t1;
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4 && (argc != 5 || strcmp(argv[4], "check"))) {
		printf("usage: tcp_bulk PORT CONNS KIB [check]\n");
		return 2;
	}
	check = argc == 5;
	int conns = atoi(argv[2]), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
	int l = socket(AF_INET, SOCK_STREAM, 0);

	want = (uint64_t)atoi(argv[3]) * 1024;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (conns < 1 || conns > 64 || l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(l, 64)) {
		printf("tcp_bulk: cannot listen on port %s for %d connections\n", argv[1], conns);
		return 1;
	}
	printf("tcp bulk ready: port %s, %d connections of %s KiB each way\n", argv[1], conns,
	       argv[3]);
	fflush(stdout);
	pthread_t t[64];

	for (int i = 0; i < conns; i++) {
		int s = accept(l, NULL, NULL);

		if (s < 0 || pthread_create(&t[i], NULL, serve, (void *)(intptr_t)s)) {
			printf("tcp_bulk: accept or thread failed\n");
			return 1;
		}
	}
	for (int i = 0; i < conns; i++)
		pthread_join(t[i], NULL);
	printf("tcp_bulk: %d of %d connections served\n", good, conns);
	printf("bench: tcp_bulk: receiving took %llu ms, sending %llu ms (per connection, on "
	       "average)\n",
	       (unsigned long long)(good ? rx_ns / good / 1000000 : 0),
	       (unsigned long long)(good ? tx_ns / good / 1000000 : 0));
	return good == conns ? 0 : 1;
}
