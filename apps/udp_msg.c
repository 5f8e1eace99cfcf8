/* udp_msg: a UDP echo like udp_echo, but through the calls servers such as memcached use:
 * an edge-triggered epoll set, each wake drained to EAGAIN, and the datagrams taken in
 * turn by recvmsg (after a MSG_PEEK | MSG_TRUNC look at their length, into two iovecs)
 * and answered by sendmsg (three iovecs), by recvmmsg/sendmmsg in batches, by
 * recvfrom/sendto, and by readv/writev (the socket connected to its first sender: one
 * datagram read into two buffers whole, one sent from three). Also the errors a UDP
 * socket gives for getpeername, shutdown and an empty non-blocking read. Ends as udp_echo
 * does. Usage: udp_msg PORT[,PORT...] COUNT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static long bad, by_msg, by_mmsg, by_from, by_vec;
static char connected[1024]; /* by descriptor: connected to the sender (one_vec) */

static const char *err(int rc)
{
	return rc >= 0 ? "ok" : errno == ENOTCONN ? "ENOTCONN" : errno == EAGAIN ? "EAGAIN" : "other";
}

/* an option's value as getsockopt gives it, or its error */
static void show(int s, int level, int name, const char *what)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(s, level, name, &v, &l))
		printf(" %s=%s", what, errno == ENOPROTOOPT ? "ENOPROTOOPT"
				       : errno == EOPNOTSUPP ? "EOPNOTSUPP"
							     : "other");
	else
		printf(" %s=%d(%d)", what, v, (int)l);
}

struct opt {
	int level, name;
	const char *what;
};

/* one line of options' values */
static void show_all(int s, const char *title, const struct opt *o)
{
	printf("udp_msg: %s:", title);
	for (; o->what; o++)
		show(s, o->level, o->name, o->what);
	printf("\n");
}

/* the common socket options, set and read back as Linux gives them */
static void sockopts(void)
{
	int t = socket(AF_INET, SOCK_STREAM, 0), u = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
	int buf = 65536, tiny = 1;

	static const struct opt defaults[] = {
		{SOL_SOCKET, SO_TYPE, "type"},
		{SOL_SOCKET, SO_ERROR, "error"},
		{SOL_SOCKET, SO_REUSEADDR, "reuseaddr"},
		{SOL_SOCKET, SO_KEEPALIVE, "keepalive"},
		{SOL_SOCKET, SO_ACCEPTCONN, "acceptconn"},
		{IPPROTO_TCP, TCP_NODELAY, "nodelay"},
		{0, 0, NULL},
	};
	static const struct opt set[] = {
		{SOL_SOCKET, SO_REUSEADDR, "reuseaddr"},
		{SOL_SOCKET, SO_REUSEPORT, "reuseport"},
		{SOL_SOCKET, SO_KEEPALIVE, "keepalive"},
		{IPPROTO_TCP, TCP_NODELAY, "nodelay"},
		{0, 0, NULL},
	};

	show_all(t, "tcp defaults", defaults);
	for (const struct opt *o = set; o->what; o++)
		setsockopt(t, o->level, o->name, &one, sizeof(one));
	setsockopt(t, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(t, SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny));
	show_all(t, "tcp set", set);
	printf("udp_msg: tcp buffers:");
	show(t, SOL_SOCKET, SO_RCVBUF, "rcvbuf");
	show(t, SOL_SOCKET, SO_SNDBUF, "sndbuf");
	printf("\n");
	printf("udp_msg: udp:");
	show(u, SOL_SOCKET, SO_TYPE, "type");
	show(u, IPPROTO_IPV6, IPV6_V6ONLY, "v6only");
	printf(" set-v6only=%s", setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0
					 ? "ok"
				 : errno == ENOPROTOOPT ? "ENOPROTOOPT"
							: "other");
	printf(" set-type=%s\n", setsockopt(u, SOL_SOCKET, SO_TYPE, &one, sizeof(one)) == 0 ? "ok"
				 : errno == ENOPROTOOPT ? "ENOPROTOOPT"
							: "other");
	close(t);
	close(u);
}

/* one datagram by recvmsg/sendmsg: 0, or -1 when there was none */
static int one_msg(int s)
{
	char b1[50], b2[2000], tiny[1];
	struct sockaddr_in from;
	struct iovec peek = {tiny, 1}, in[2] = {{b1, sizeof(b1)}, {b2, sizeof(b2)}};
	struct msghdr m = {.msg_iov = &peek, .msg_iovlen = 1};
	ssize_t full = recvmsg(s, &m, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

	if (full < 0)
		return -1;
	bad += !(m.msg_flags & MSG_TRUNC) && full > 1;
	m = (struct msghdr){.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = in,
			    .msg_iovlen = 2};
	ssize_t n = recvmsg(s, &m, MSG_DONTWAIT);

	bad += n != full || m.msg_namelen != sizeof(from) || (m.msg_flags & MSG_TRUNC);
	if (n <= 0)
		return 0;
	/* back in three pieces: the first 10 bytes, the rest of b1, then b2's part */
	size_t first = n < 10 ? (size_t)n : 10, second = (n < 50 ? (size_t)n : 50) - first;
	struct iovec out[3] = {{b1, first}, {b1 + first, second}, {b2, n > 50 ? (size_t)n - 50 : 0}};
	struct msghdr o = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = out,
			   .msg_iovlen = 3};

	if (sendmsg(s, &o, MSG_NOSIGNAL) == n)
		by_msg++;
	return 0;
}

/* up to 8 by recvmmsg/sendmmsg: how many came, or -1 when none */
static int batch(int s)
{
	char buf[8][2048];
	struct sockaddr_in from[8];
	struct iovec v[8];
	struct mmsghdr mm[8];

	for (int i = 0; i < 8; i++) {
		v[i] = (struct iovec){buf[i], sizeof(buf[i])};
		mm[i] = (struct mmsghdr){{.msg_name = &from[i], .msg_namelen = sizeof(from[i]),
					  .msg_iov = &v[i], .msg_iovlen = 1}, 0};
	}
	int n = recvmmsg(s, mm, 8, MSG_DONTWAIT, NULL);

	if (n <= 0)
		return -1;
	for (int i = 0; i < n; i++) {
		v[i].iov_len = mm[i].msg_len;
		mm[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	int sent = sendmmsg(s, mm, n, 0);

	bad += sent != n;
	by_mmsg += sent > 0 ? sent : 0;
	return n;
}

static int one_from(int s)
{
	char buf[2048];
	struct sockaddr_in from;
	socklen_t fl = sizeof(from);
	ssize_t k = recvfrom(s, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);

	if (k < 0)
		return -1;
	if (sendto(s, buf, k, 0, (struct sockaddr *)&from, fl) == k)
		by_from++;
	return 0;
}

/* one datagram by readv/writev on the socket connected to its sender: 0, or -1 when there
 * was none. A datagram is one read and one write whatever the buffers: read into two, it
 * is all there; written from three, it goes as one. */
static int one_vec(int s)
{
	char b1[50], b2[2000], tiny[1];
	struct sockaddr_in from;
	struct iovec peek = {tiny, 1}, in[2] = {{b1, sizeof(b1)}, {b2, sizeof(b2)}};
	struct msghdr m = {.msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &peek,
			   .msg_iovlen = 1};
	ssize_t full = recvmsg(s, &m, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);

	if (full < 0)
		return -1;
	if (s >= (int)sizeof(connected)) {
		bad++;
		return 0;
	}
	if (!connected[s]) {
		bad += connect(s, (struct sockaddr *)&from, sizeof(from)) != 0;
		connected[s] = 1;
	}
	ssize_t n = readv(s, in, 2);

	bad += n != full;
	if (n <= 0)
		return 0;
	size_t first = n < 10 ? (size_t)n : 10, second = (n < 50 ? (size_t)n : 50) - first;
	struct iovec out[3] = {{b1, first}, {b1 + first, second},
			       {b2, n > 50 ? (size_t)n - 50 : 0}};

	if (writev(s, out, 3) == n)
		by_vec++;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		printf("usage: udp_msg PORT[,PORT...] COUNT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	int ep = epoll_create1(0), n = 0, turn = 0;
	long want = atol(argv[2]);
	char ports[64], *save = NULL;

	snprintf(ports, sizeof(ports), "%s", argv[1]);
	for (char *t = strtok_r(ports, ",", &save); t && n < 8; t = strtok_r(NULL, ",", &save)) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(t))};
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		struct epoll_event ev = {EPOLLIN | EPOLLET, {.fd = s}};

		if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev)) {
			printf("udp_msg: cannot bind port %s\n", t);
			return 1;
		}
		n++;
	}
	/* (first, as the runner's Linux run takes the first line for the ready one) */
	printf("udp_msg: udp echo ready on ports %s\n", argv[1]);
	/* the errors, on a socket of their own (the echo's may have datagrams already; and
	 * Linux marks even an unconnected socket shut) */
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	char c;
	struct iovec v = {&c, 1};
	struct msghdr m = {.msg_iov = &v, .msg_iovlen = 1};
	int other = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	printf("udp_msg: getpeername %s", err(getpeername(other, (struct sockaddr *)&peer, &pl)));
	printf(", shutdown %s", err(shutdown(other, SHUT_WR)));
	printf(", an empty recvmsg %s\n", err((int)recvmsg(other, &m, 0)));
	close(other);
	sockopts();
	long echoed = 0;

	for (;;) {
		struct epoll_event evs[8];
		int r = epoll_wait(ep, evs, 8, echoed >= want ? 3000 : echoed ? 30000 : 120000);

		if (r < 0) {
			printf("udp_msg: epoll_wait failed\n");
			return 1;
		}
		if (r == 0)
			break;
		/* edge triggered: each socket read until it has nothing */
		for (int i = 0; i < r; i++) {
			int s = evs[i].data.fd, got;

			do {
				turn = (turn + 1) % 4;
				got = turn == 0	  ? one_msg(s)
				      : turn == 1 ? batch(s)
				      : turn == 2 ? one_from(s)
						  : one_vec(s);
			} while (got >= 0);
		}
		echoed = by_msg + by_mmsg + by_from + by_vec;
	}
	if (!by_vec) {
		printf("udp_msg: no datagram went by writev\n");
		bad++;
	}
	printf("udp_msg: %s, %s\n", echoed >= want ? "done" : "too few datagrams",
	       bad ? "some checks failed" : "every check right");
	printf("bench: %ld datagrams echoed: %ld by sendmsg, %ld by sendmmsg, %ld by sendto, "
	       "%ld by writev\n",
	       echoed, by_msg, by_mmsg, by_from, by_vec);
	return echoed >= want && !bad ? 0 : 1;
}
