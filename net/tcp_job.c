/* One connection of the TCP test's protocol (net/tcp_job.h). */
#include "net/tcp_job.h"

#include "lib/errno.h"
#include "mm/mm.h"
#include "net/socket.h"

#define CHUNK 16384

/* the host's pattern_byte() (tools/netclient.c) is the same */
static uint8_t pattern_byte(uint32_t id, uint64_t i)
{
	uint64_t j = i & 0xffff;

	return (uint8_t)(((j * 7 + id * 13 + (j >> 8)) ^ (i >> 16)) & 255);
}

int net_tcp_job_run(void *arg)
{
	struct net_tcp_job *j = arg;
	uint8_t *buf = kmalloc(CHUNK);
	uint32_t id = 0;
	uint64_t sum = 0, word = 0;
	long n;

	if (!buf) {
		j->err = -ENOMEM;
		j->what = "allocating the buffer";
		goto out;
	}
	sock_set_timeout(j->fd, 60000);
	for (unsigned got = 0; got < 4; got += (unsigned)n) {
		if ((n = sock_recv(j->fd, (uint8_t *)&id + got, 4 - got)) <= 0) {
			j->err = n ? (int)n : -ECONNRESET;
			j->what = "reading the id";
			goto out;
		}
	}
	while (j->got < j->bytes) {
		n = sock_recv(j->fd, buf, (size_t)MIN((uint64_t)CHUNK, j->bytes - j->got));
		if (n <= 0) {
			j->err = n ? (int)n : -ECONNRESET;
			j->what = "receiving";
			goto out;
		}
		for (long k = 0; k < n; k++, j->got++) {
			uint8_t b = buf[k];

			j->bad += b != pattern_byte(id, j->got);
			word |= (uint64_t)b << (8 * (j->got & 7));
			if ((j->got & 7) == 7) {
				sum += word;
				word = 0;
			}
		}
	}
	while (j->sent < j->bytes) {
		size_t len = (size_t)MIN((uint64_t)CHUNK, j->bytes - j->sent);

		for (size_t k = 0; k < len; k++)
			buf[k] = pattern_byte(id + 100, j->sent + k);
		n = sock_send(j->fd, buf, len);
		if (n <= 0) {
			j->err = (int)n;
			j->what = "sending";
			goto out;
		}
		j->sent += (uint64_t)n; /* a partial send: the rest again from there */
	}
	if ((n = sock_send(j->fd, &sum, 8)) != 8) {
		j->err = (int)n;
		j->what = "sending the sum";
		goto out;
	}
	/* the client closes when it has checked everything */
	while ((n = sock_recv(j->fd, buf, CHUNK)) > 0)
		;
out:
	if (j->err)
		sock_describe(j->fd, j->state, sizeof(j->state));
	sock_close(j->fd);
	kfree(buf);
	__atomic_store_n(&j->finished, true, __ATOMIC_RELEASE);
	return 0;
}
