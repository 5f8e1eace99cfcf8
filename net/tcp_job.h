/* The TCP test's protocol, the guest's side (tools/netclient.c tcp is the host's): the
 * client sends a 4-byte id and `bytes` of pattern(id), which the guest checks byte by
 * byte; the guest sends `bytes` of pattern(id + 100) and the 8-byte sum of the 64-bit
 * words it received, which the client checks. test=tcp and test=soak serve it. */
#ifndef NET_TCP_JOB_H
#define NET_TCP_JOB_H

#include "lib/compiler.h"

struct net_tcp_job {
	int fd;
	uint64_t bytes;
	uint64_t bad, got, sent; /* got and sent are read by watchdogs while they change */
	int err;
	bool finished; /* set last (release): the job is the owner's again */
	const char *what;
	char state[320]; /* the socket's state when it failed */
};

/* A thread's body: serves the connection job->fd, closes it, sets finished. */
int net_tcp_job_run(void *arg);

#endif
