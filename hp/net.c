/* Sockets for the app: the Linux socket calls on top of net/socket.h (IPv4 UDP and TCP).
 * Data goes through a kernel bounce buffer. Every wait is in slices of SLICE_MS, so that
 * exit_group or a fault elsewhere in the app ends it promptly: readiness is waited for in
 * sock_poll slices (wait_for), and the calls themselves, which may still block after
 * that (another thread took the data or the connection first; a TCP send waiting for
 * acknowledgements; a connect), carry the socket's timeout of one slice and are called
 * again (slice_over) until they are done or the app is ending. */
#include "hp/hp.h"
#include "lib/errno.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "net/socket.h"
#include "sched/sched.h"

#define AF_INET	       2
#define SOCK_TYPE_MASK 0xf
#define SOCK_NONBLOCK  04000
#define SOCK_CLOEXEC   02000000
#define O_NONBLOCK     04000
#define SLICE_MS       50
#define BOUNCE_MAX     (64u << 10)

struct sockaddr_in_ {
	uint16_t family;
	uint16_t port; /* network order */
	uint32_t addr; /* network order */
	uint8_t zero[8];
};

static uint16_t swap16(uint16_t v)
{
	return (uint16_t)(v << 8 | v >> 8);
}

static uint32_t swap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

static bool ending(struct app *a)
{
	return __atomic_load_n(&a->exiting, __ATOMIC_SEQ_CST);
}

static long get_addr(uint64_t p, uint64_t len, uint32_t *ip, uint16_t *port)
{
	struct sockaddr_in_ sa;

	if (len < 8)
		return -EINVAL;
	memset(&sa, 0, sizeof(sa));
	if (copy_from_app(&sa, p, MIN(len, sizeof(sa))))
		return -EFAULT;
	if (sa.family != AF_INET)
		return -EAFNOSUPPORT;
	*ip = swap32(sa.addr);
	*port = swap16(sa.port);
	return 0;
}

/* writes an address back (recvfrom, accept, getsockname): *lenp is in/out */
static long put_addr(uint64_t p, uint64_t lenp, uint32_t ip, uint16_t port)
{
	struct sockaddr_in_ sa = {AF_INET, swap16(port), swap32(ip), {0}};
	uint32_t len;

	if (!p || !lenp)
		return 0;
	if (copy_from_app(&len, lenp, 4))
		return -EFAULT;
	if (copy_to_app(p, &sa, MIN(len, sizeof(sa))))
		return -EFAULT;
	len = sizeof(sa);
	return copy_to_app(lenp, &len, 4);
}

static struct app_fd *sock_fd(struct app *a, uint64_t fd)
{
	struct app_fd *f = hp_fd(a, fd);

	return f && f->kind == FD_SOCKET ? f : NULL;
}

int hp_sock_of(struct app *a, int fd)
{
	struct app_fd *f = fd >= 0 ? sock_fd(a, (uint64_t)fd) : NULL;

	return f ? f->sock : -1;
}

/* Waits until the socket has `events`, in slices: 0, -EAGAIN (non-blocking), -EINTR (the
 * app is ending) or the socket's error. */
static long wait_for(struct app *a, struct app_fd *f, short events)
{
	for (;;) {
		struct sock_pollfd p = {f->sock, events, 0, 0};
		int n = sock_poll(&p, 1, f->nonblock ? 0 : SLICE_MS);

		if (n < 0)
			return n;
		if (n > 0)
			return 0; /* ready, or an error or hangup the call itself will report */
		if (f->nonblock)
			return -EAGAIN;
		if (ending(a))
			return -EINTR;
	}
}

/* After a call's slice ran out (-ETIMEDOUT from the socket's timeout): 0 to call it again,
 * or what the app gets instead: -EINTR when it is ending, -EAGAIN when non-blocking. */
static long slice_over(struct app *a, struct app_fd *f)
{
	if (ending(a))
		return -EINTR;
	return f->nonblock ? -EAGAIN : 0;
}

/* A socket of the app's: every blocking call on it ends after a slice (see above). */
static int app_sock(int s)
{
	int rc = sock_set_timeout(s, SLICE_MS);

	if (rc)
		sock_close(s);
	return rc ? rc : s;
}

long hp_socket(struct app *a, uint64_t domain, uint64_t type, uint64_t proto)
{
	if (domain != AF_INET)
		return -EAFNOSUPPORT;
	int t = type & SOCK_TYPE_MASK;

	if (t != SOCK_STREAM && t != SOCK_DGRAM)
		return -EPROTONOSUPPORT;
	int fd = hp_fd_alloc(a, FD_SOCKET);

	if (fd < 0)
		return fd;
	int s = sock_socket(t);

	if (s >= 0)
		s = app_sock(s);
	if (s < 0) {
		hp_fd_close(a, (uint64_t)fd);
		return s;
	}
	struct app_fd *f = hp_fd(a, (uint64_t)fd);

	f->stream = t == SOCK_STREAM;
	f->nonblock = (type & SOCK_NONBLOCK) != 0;
	__atomic_store_n(&f->sock, s, __ATOMIC_RELEASE);
	if (type & SOCK_CLOEXEC)
		a->cloexec[fd] = true;
	return fd;
}

/* a socket call's descriptor and address: 0, -EBADF, -ENOTSOCK, -EFAULT, -EAFNOSUPPORT */
static long sock_and_addr(struct app *a, uint64_t fd, uint64_t addr, uint64_t len,
			  struct app_fd **f, uint32_t *ip, uint16_t *port)
{
	if (!(*f = sock_fd(a, fd)))
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
	return get_addr(addr, len, ip, port);
}

long hp_sock_bind(struct app *a, uint64_t fd, uint64_t addr, uint64_t len)
{
	struct app_fd *f;
	uint32_t ip;
	uint16_t port;
	long rc = sock_and_addr(a, fd, addr, len, &f, &ip, &port);

	if (!rc && (rc = sock_bind(f->sock, ip, port)) == 0)
		f->local_port = port;
	return rc;
}

long hp_sock_listen(struct app *a, uint64_t fd, uint64_t backlog)
{
	struct app_fd *f = sock_fd(a, fd);

	if (!f)
		return -EBADF;
	long rc = sock_listen(f->sock, (int)MIN(backlog, 128));

	f->listening |= rc == 0;
	return rc;
}

long hp_sock_accept(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp, uint64_t flags)
{
	struct app_fd *f = sock_fd(a, fd);
	uint32_t ip;
	uint16_t port;
	long rc;

	if (!f)
		return -EBADF;
	if ((rc = wait_for(a, f, POLLIN)))
		return rc;
	int nfd = hp_fd_alloc(a, FD_SOCKET);

	if (nfd < 0)
		return nfd;
	int s;

	/* ready, but another thread may take the connection first */
	while ((s = sock_accept(f->sock, &ip, &port)) == -ETIMEDOUT && !(rc = slice_over(a, f)))
		;
	if (s == -ETIMEDOUT)
		s = (int)rc;
	if (s >= 0)
		s = app_sock(s);
	struct app_fd *n = hp_fd(a, (uint64_t)nfd);

	if (s >= 0) {
		n->stream = true;
		n->nonblock = (flags & SOCK_NONBLOCK) != 0;
		n->local_port = f->local_port;
		__atomic_store_n(&n->sock, s, __ATOMIC_RELEASE);
		a->cloexec[nfd] = (flags & SOCK_CLOEXEC) != 0;
	}
	if (s < 0 || (rc = put_addr(addr, lenp, ip, port))) {
		hp_fd_close(a, (uint64_t)nfd); /* (closes s too) */
		return s < 0 ? s : rc;
	}
	return nfd;
}

long hp_sock_connect(struct app *a, uint64_t fd, uint64_t addr, uint64_t len)
{
	struct app_fd *f;
	uint32_t ip;
	uint16_t port;
	long rc = sock_and_addr(a, fd, addr, len, &f, &ip, &port);

	if (rc)
		return rc;
	/* a connect that runs out of its slice stays under way, and the next call waits
	 * for it again (net/socket.h); a non-blocking one says so as Linux does */
	while ((rc = sock_connect(f->sock, ip, port)) == -ETIMEDOUT) {
		if (ending(a))
			return -EINTR;
		if (f->nonblock)
			return -EINPROGRESS;
	}
	return rc;
}

long hp_sock_sendto(struct app *a, uint64_t fd, uint64_t buf, uint64_t len, uint64_t addr,
		    uint64_t alen)
{
	struct app_fd *f = sock_fd(a, fd);
	uint32_t ip = 0;
	uint16_t port = 0;
	long rc;

	if (!f)
		return -EBADF;
	if (addr && !f->stream && (rc = get_addr(addr, alen, &ip, &port)))
		return rc;
	if (!f->stream && len > 65507)
		return -EMSGSIZE;
	size_t n = MIN(len, (uint64_t)BOUNCE_MAX);
	void *b = kmalloc(n ? n : 1);

	if (!b)
		return -ENOMEM;
	if (copy_from_app(b, buf, n)) {
		kfree(b);
		return -EFAULT;
	}
	if (addr && !f->stream) {
		rc = sock_sendto(f->sock, b, n, ip, port);
	} else {
		/* a TCP send waits for room (acknowledgements) in slices; what a slice sent
		 * counts, and the rest goes on unless the app is ending */
		size_t done = 0;

		for (;;) {
			rc = sock_send(f->sock, (const char *)b + done, n - done);
			if (rc > 0)
				done += (size_t)rc;
			else if (rc != -ETIMEDOUT || (rc = slice_over(a, f)))
				break;
			if (done == n || ending(a) || (f->nonblock && done))
				break;
		}
		rc = done ? (long)done : rc;
	}
	kfree(b);
	return rc;
}

long hp_sock_recvfrom(struct app *a, uint64_t fd, uint64_t buf, uint64_t len, uint64_t addr,
		      uint64_t lenp)
{
	struct app_fd *f = sock_fd(a, fd);
	uint32_t ip = 0;
	uint16_t port = 0;
	long rc;

	if (!f)
		return -EBADF;
	if (!app_range(buf, len))
		return -EFAULT;
	if (f->listening)
		return -ENOTCONN; /* (its POLLIN means a connection to accept, not data) */
	if ((rc = wait_for(a, f, POLLIN)))
		return rc;
	size_t n = MIN(len, (uint64_t)BOUNCE_MAX);
	void *b = kmalloc(n ? n : 1);

	if (!b)
		return -ENOMEM;
	/* ready, but another thread reading the same socket may take the data first */
	for (;;) {
		rc = f->stream ? sock_recv(f->sock, b, n) : sock_recvfrom(f->sock, b, n, &ip, &port);
		if (rc != -ETIMEDOUT || (rc = slice_over(a, f)))
			break;
	}
	if (rc > 0 && copy_to_app(buf, b, (size_t)rc))
		rc = -EFAULT;
	kfree(b);
	if (rc >= 0 && !f->stream && addr) {
		long e = put_addr(addr, lenp, ip, port);

		if (e)
			return e;
	}
	return rc;
}

long hp_sock_name(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp)
{
	struct app_fd *f = sock_fd(a, fd);

	if (!f)
		return -EBADF;
	return addr && lenp ? put_addr(addr, lenp, 0, f->local_port) : -EFAULT;
}
