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
static long wait_nb(struct app *a, struct app_fd *f, short events, bool nb)
{
	for (;;) {
		struct sock_pollfd p = {f->sock, events, 0, 0};
		int n = sock_poll(&p, 1, nb ? 0 : SLICE_MS);

		if (n < 0)
			return n;
		if (n > 0)
			return 0; /* ready, or an error or hangup the call itself will report */
		if (nb)
			return -EAGAIN;
		if (hp_interrupted(a))
			return -EINTR;
	}
}

static long wait_for(struct app *a, struct app_fd *f, short events)
{
	return wait_nb(a, f, events, f->nonblock);
}

/* After a call's slice ran out (-ETIMEDOUT from the socket's timeout): 0 to call it again,
 * or what the app gets instead: -EINTR when it is ending, -EAGAIN when non-blocking. */
static long slice_over_nb(struct app *a, bool nb)
{
	if (hp_interrupted(a))
		return -EINTR;
	return nb ? -EAGAIN : 0;
}

static long slice_over(struct app *a, struct app_fd *f)
{
	return slice_over_nb(a, f->nonblock);
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

	if (!rc && (rc = sock_reuseaddr(f->sock, f->reuseaddr)) == 0 &&
	    (rc = sock_bind(f->sock, ip, port)) == 0)
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
		n->peer_ip = ip;
		n->peer_port = port;
		n->has_peer = true;
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
		if (hp_interrupted(a))
			return -EINTR;
		if (f->nonblock)
			return -EINPROGRESS;
	}
	if (!rc) {
		f->peer_ip = ip;
		f->peer_port = port;
		f->has_peer = true;
	}
	return rc;
}

#define MSG_PEEK	0x2
#define MSG_TRUNC	0x20
#define MSG_DONTWAIT	0x40
#define MSG_WAITALL	0x100
#define MSG_NOSIGNAL	0x4000
#define MSG_WAITFORONE	0x10000

/* Sends n bytes from the kernel buffer b: a datagram (to ip:port when `to`), or a TCP
 * stream waiting for room (acknowledgements) in slices; what a slice sent counts, and the
 * rest goes on unless the app is ending or the call is non-blocking. */
static long sock_out(struct app *a, struct app_fd *f, const void *b, size_t n, bool to,
		     uint32_t ip, uint16_t port, bool nb)
{
	long rc;

	if (to && !f->stream)
		return sock_sendto(f->sock, b, n, ip, port);
	size_t done = 0;

	for (;;) {
		rc = sock_send(f->sock, (const char *)b + done, n - done);
		if (rc > 0)
			done += (size_t)rc;
		else if (rc != -ETIMEDOUT || (rc = slice_over_nb(a, nb)))
			break;
		if (done == n || hp_interrupted(a) || (nb && done))
			break;
	}
	return done ? (long)done : rc;
}

long hp_sock_write_kernel(struct app *a, struct app_fd *f, const void *b, size_t n)
{
	if (!f->stream)
		return -EINVAL; /* (sendfile: Linux's UDP takes it, as one datagram; not here) */
	return sock_out(a, f, b, n, false, 0, 0, f->nonblock);
}

/* Receives into the kernel buffer b (sock_recvmsg's flags): waits in slices unless nb;
 * MSG_WAITALL on a stream goes on until n bytes, the end or an error. */
static long sock_in(struct app *a, struct app_fd *f, void *b, size_t n, uint64_t flags, bool nb,
		    uint32_t *ip, uint16_t *port, size_t *full)
{
	unsigned sf = flags & MSG_PEEK ? SOCK_PEEK : 0;
	size_t done = 0;
	long rc;

	if (f->listening)
		return -ENOTCONN; /* (its POLLIN means a connection to accept, not data) */
	for (;;) {
		if ((rc = wait_nb(a, f, POLLIN, nb)))
			break;
		/* ready, but another thread reading the same socket may take the data first */
		for (;;) {
			rc = sock_recvmsg(f->sock, (char *)b + done, n - done, sf, ip, port, full);
			if (rc != -ETIMEDOUT || (rc = slice_over_nb(a, nb)))
				break;
		}
		if (rc <= 0 || !f->stream || !(flags & MSG_WAITALL) || (sf & SOCK_PEEK))
			break;
		done += (size_t)rc;
		if (done == n || hp_interrupted(a))
			break;
	}
	if (done) {
		if (full)
			*full = done;
		return (long)done;
	}
	return rc;
}

long hp_sock_sendto(struct app *a, uint64_t fd, uint64_t buf, uint64_t len, uint64_t flags,
		    uint64_t addr, uint64_t alen)
{
	struct app_fd *f = sock_fd(a, fd);
	uint32_t ip = 0;
	uint16_t port = 0;
	long rc;

	if (!f)
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
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
	rc = sock_out(a, f, b, n, addr != 0, ip, port, f->nonblock || (flags & MSG_DONTWAIT));
	kfree(b);
	return rc;
}

long hp_sock_recvfrom(struct app *a, uint64_t fd, uint64_t buf, uint64_t len, uint64_t flags,
		      uint64_t addr, uint64_t lenp)
{
	struct app_fd *f = sock_fd(a, fd);
	uint32_t ip = 0;
	uint16_t port = 0;
	size_t full = 0;
	long rc;

	if (!f)
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
	if (!app_range(buf, len))
		return -EFAULT;
	size_t n = MIN(len, (uint64_t)BOUNCE_MAX);
	void *b = kmalloc(n ? n : 1);

	if (!b)
		return -ENOMEM;
	rc = sock_in(a, f, b, n, flags, f->nonblock || (flags & MSG_DONTWAIT), &ip, &port, &full);
	if (rc > 0 && copy_to_app(buf, b, (size_t)rc))
		rc = -EFAULT;
	kfree(b);
	if (rc >= 0 && !f->stream && addr) {
		long e = put_addr(addr, lenp, ip, port);

		if (e)
			return e;
	}
	/* MSG_TRUNC: a datagram's whole length, though only len bytes were copied */
	if (rc >= 0 && !f->stream && (flags & MSG_TRUNC))
		rc = (long)full;
	return rc;
}

/* struct msghdr and struct mmsghdr, x86-64 */
struct msghdr_ {
	uint64_t name;
	uint32_t namelen, pad0;
	uint64_t iov, iovlen, control, controllen;
	int32_t flags, pad1;
};

struct iov_ {
	uint64_t base, len;
};

#define IOV_MAX_ 1024

/* a message's iovecs: how many bytes they hold in all (-EINVAL, -EFAULT) */
static long iov_total(const struct msghdr_ *m, struct iov_ *v, unsigned *nv)
{
	uint64_t total = 0;

	if (m->iovlen > IOV_MAX_)
		return -EMSGSIZE;
	*nv = 0;
	for (uint64_t i = 0; i < m->iovlen; i++) {
		struct iov_ x;

		if (copy_from_app(&x, m->iov + i * sizeof(x), sizeof(x)))
			return -EFAULT;
		if ((int64_t)x.len < 0 || !app_range(x.base, x.len))
			return (int64_t)x.len < 0 ? -EINVAL : -EFAULT;
		total += x.len;
		if (x.len && *nv < 64)
			v[(*nv)++] = x;
		else if (x.len)
			return -EMSGSIZE; /* (more than 64 non-empty pieces: not here) */
	}
	return total > INT32_MAX ? -EINVAL : (long)total;
}

/* m: the message, read from the app already */
static long send_msg(struct app *a, struct app_fd *f, const struct msghdr_ *mp, uint64_t flags)
{
	struct msghdr_ m = *mp;
	struct iov_ v[64];
	unsigned nv;
	uint32_t ip = 0;
	uint16_t port = 0;
	long total, rc;

	if ((total = iov_total(&m, v, &nv)) < 0)
		return total;
	if (m.name && !f->stream && (rc = get_addr(m.name, m.namelen, &ip, &port)))
		return rc;
	if (!f->stream && total > 65507)
		return -EMSGSIZE;
	size_t n = MIN((size_t)total, (size_t)BOUNCE_MAX), at = 0;
	char *b = kmalloc(n ? n : 1);

	if (!b)
		return -ENOMEM;
	for (unsigned i = 0; i < nv && at < n; i++) {
		size_t k = MIN((size_t)v[i].len, n - at);

		if (copy_from_app(b + at, v[i].base, k)) {
			kfree(b);
			return -EFAULT;
		}
		at += k;
	}
	rc = sock_out(a, f, b, n, m.name != 0, ip, port, f->nonblock || (flags & MSG_DONTWAIT));
	kfree(b);
	return rc;
}

/* m: the message, read from the app already; msg: where it is, for what recvmsg tells
 * back (0: nothing told back, readv) */
static long recv_msg(struct app *a, struct app_fd *f, struct msghdr_ m, uint64_t msg,
		     uint64_t flags)
{
	struct iov_ v[64];
	unsigned nv;
	uint32_t ip = 0;
	uint16_t port = 0;
	size_t full = 0;
	long total, rc;

	if ((total = iov_total(&m, v, &nv)) < 0)
		return total;
	size_t n = MIN((size_t)total, (size_t)BOUNCE_MAX);
	char *b = kmalloc(n ? n : 1);

	if (!b)
		return -ENOMEM;
	rc = sock_in(a, f, b, n, flags, f->nonblock || (flags & MSG_DONTWAIT), &ip, &port, &full);
	for (unsigned i = 0, at = 0; rc > 0 && i < nv && at < (size_t)rc; i++) {
		size_t k = MIN((size_t)v[i].len, (size_t)rc - at);

		if (copy_to_app(v[i].base, b + at, k))
			rc = -EFAULT;
		at += k;
	}
	kfree(b);
	if (rc < 0 || !msg)
		return rc;
	/* the sender's address, no control messages, and whether a datagram was cut short */
	struct sockaddr_in_ sa = {AF_INET, swap16(port), swap32(ip), {0}};
	uint32_t alen = m.name && !f->stream ? sizeof(sa) : 0;

	if (alen && copy_to_app(m.name, &sa, MIN(m.namelen, (uint32_t)sizeof(sa))))
		return -EFAULT;
	m.namelen = alen;
	m.controllen = 0;
	m.flags = !f->stream && full > (size_t)rc ? MSG_TRUNC : 0;
	if (copy_to_app(msg + offsetof(struct msghdr_, namelen), &m.namelen, 4) ||
	    copy_to_app(msg + offsetof(struct msghdr_, controllen), &m.controllen, 8) ||
	    copy_to_app(msg + offsetof(struct msghdr_, flags), &m.flags, 4))
		return -EFAULT;
	return !f->stream && (flags & MSG_TRUNC) ? (long)full : rc;
}

static long do_sendmsg(struct app *a, struct app_fd *f, uint64_t msg, uint64_t flags)
{
	struct msghdr_ m;

	return copy_from_app(&m, msg, sizeof(m)) ? -EFAULT : send_msg(a, f, &m, flags);
}

static long do_recvmsg(struct app *a, struct app_fd *f, uint64_t msg, uint64_t flags)
{
	struct msghdr_ m;

	return copy_from_app(&m, msg, sizeof(m)) ? -EFAULT : recv_msg(a, f, m, msg, flags);
}

/* readv/writev on a socket: one message of all the buffers, as Linux (a datagram socket
 * sends one datagram of them all, and reads one into them, not one per buffer) */
long hp_sock_vec(struct app *a, struct app_fd *f, uint64_t iov, uint64_t cnt, bool send)
{
	struct msghdr_ m = { .iov = iov, .iovlen = cnt };

	return send ? send_msg(a, f, &m, 0) : recv_msg(a, f, m, 0, 0);
}

long hp_sock_msg(struct app *a, uint64_t fd, uint64_t msg, uint64_t flags, bool send)
{
	struct app_fd *f = sock_fd(a, fd);

	if (!f)
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
	return send ? do_sendmsg(a, f, msg, flags) : do_recvmsg(a, f, msg, flags);
}

/* sendmmsg/recvmmsg: one message after another, each one's length in its msg_len; stops
 * at the first error (which is returned only when no message went); recvmmsg's timeout
 * is not honoured beyond the socket's own waits (it is checked between messages) */
long hp_sock_mmsg(struct app *a, uint64_t fd, uint64_t vec, uint64_t vlen, uint64_t flags,
		  uint64_t timeout, bool send)
{
	struct app_fd *f = sock_fd(a, fd);
	uint64_t until = NO_DEADLINE;
	long n = 0;

	if (!f)
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
	if (vlen > IOV_MAX_)
		vlen = IOV_MAX_;
	if (!send && timeout) {
		int64_t ts[2];

		if (copy_from_app(ts, timeout, sizeof(ts)))
			return -EFAULT;
		if (ts[0] < 0 || ts[1] < 0 || ts[1] >= 1000000000)
			return -EINVAL;
		until = clock_ns() + (uint64_t)ts[0] * 1000000000 + (uint64_t)ts[1];
	}
	for (uint64_t i = 0; i < vlen; i++) {
		uint64_t one = flags & ~(uint64_t)MSG_WAITFORONE;

		if (!send && i && (flags & MSG_WAITFORONE))
			one |= MSG_DONTWAIT;
		long rc = send ? do_sendmsg(a, f, vec + i * 64, one) : do_recvmsg(a, f, vec + i * 64, one);

		if (rc < 0)
			return n ? n : rc;
		uint32_t len = (uint32_t)rc;

		if (copy_to_app(vec + i * 64 + 56, &len, 4))
			return n ? n : -EFAULT;
		n++;
		if (!send && clock_ns() >= until)
			break;
	}
	return n;
}

/* --- socket options ------------------------------------------------------------------ */

#define SOL_SOCKET_   1
#define IPPROTO_IP_   0
#define IPPROTO_TCP_  6
#define IPPROTO_IPV6_ 41

/* Linux's rmem_max and wmem_max (net.core), and its defaults for SO_RCVBUF/SO_SNDBUF */
#define BUF_MAX 212992

/* an option's value: a 4-byte int (what most are) */
static long opt_int(uint64_t val, uint64_t len, int32_t *v)
{
	if (len < 4)
		return -EINVAL;
	return copy_from_app(v, val, 4) ? -EFAULT : 0;
}

/* Options as Linux answers them: SOL_SOCKET's SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE,
 * SO_BROADCAST (kept), SO_RCVBUF/SO_SNDBUF (kept as Linux keeps them: doubled, up to
 * twice rmem_max/wmem_max), SO_TYPE, SO_ERROR (a connection's error), SO_DOMAIN,
 * SO_PROTOCOL, SO_ACCEPTCONN, SO_LINGER, SO_RCVTIMEO/SO_SNDTIMEO (accepted, read as 0);
 * TCP_NODELAY and the keepalive timings (kept; Nagle is always off here); IPPROTO_IP's
 * (accepted, read as 0). IPv6 options: refused as on an IPv4 socket on Linux (there are
 * no IPv6 sockets). Other options: ENOPROTOOPT. */
long hp_sock_opt(struct app *a, uint64_t fd, uint64_t level, uint64_t name, uint64_t val,
		 uint64_t len, bool set)
{
	struct app_fd *f = hp_fd(a, fd);
	int32_t v = 0;
	uint32_t have = 4;
	uint8_t zero16[16] = {0};
	long rc;

	if (!f)
		return -EBADF;
	if (f->kind != FD_SOCKET)
		return -ENOTSOCK;
	if (!set) {
		if (copy_from_app(&have, len, 4))
			return -EFAULT;
		if ((int32_t)have < 0)
			return -EINVAL;
	}
	bool *flag = NULL;

	if (level == SOL_SOCKET_) {
		switch (name) {
		case 2: /* SO_REUSEADDR */
			flag = &f->reuseaddr;
			break;
		case 15: /* SO_REUSEPORT */
			flag = &f->reuseport;
			break;
		case 9: /* SO_KEEPALIVE */
			flag = &f->keepalive;
			break;
		case 6: /* SO_BROADCAST */
			flag = &f->broadcast;
			break;
		case 7: /* SO_SNDBUF */
		case 8: /* SO_RCVBUF */ {
			int32_t *b = name == 7 ? &f->sndbuf : &f->rcvbuf;

			if (set) {
				if ((rc = opt_int(val, len, &v)))
					return rc;
				int32_t min = name == 7 ? 4608 : 2304;

				*b = MAX(min, (int32_t)MIN((uint32_t)v, BUF_MAX) * 2);
				return 0;
			}
			v = *b ? *b : name == 7 ? (f->stream ? 16384 : BUF_MAX)
					       : (f->stream ? 131072 : BUF_MAX);
			break;
		}
		case 3: /* SO_TYPE */
		case 39: /* SO_DOMAIN */
		case 38: /* SO_PROTOCOL */
		case 30: /* SO_ACCEPTCONN */
		case 4: /* SO_ERROR */
			if (set)
				return -ENOPROTOOPT; /* (read-only) */
			v = name == 3	 ? (f->stream ? 1 : 2)
			    : name == 39 ? 2 /* AF_INET */
			    : name == 38 ? (f->stream ? 6 : 17)
			    : name == 30 ? f->listening
					 : -sock_error(f->sock);
			if (v < 0)
				v = 0;
			break;
		case 13: /* SO_LINGER: struct linger, read as off */
		case 20: /* SO_RCVTIMEO */
		case 21: /* SO_SNDTIMEO: struct timeval */
			if (set)
				return len < (name == 13 ? 8u : 16u) ? -EINVAL : 0;
			have = MIN(have, name == 13 ? 8u : 16u);
			return copy_to_app(val, zero16, have) || copy_to_app(len, &have, 4) ? -EFAULT
											    : 0;
		default:
			return -ENOPROTOOPT;
		}
	} else if (level == IPPROTO_TCP_) {
		if (!f->stream)
			return -EOPNOTSUPP;
		switch (name) {
		case 1: /* TCP_NODELAY */
			flag = &f->nodelay;
			break;
		case 4: /* TCP_KEEPIDLE */
		case 5: /* TCP_KEEPINTVL */
		case 6: /* TCP_KEEPCNT */
		case 12: /* TCP_QUICKACK */
		case 9: /* TCP_DEFER_ACCEPT */
			if (set)
				return opt_int(val, len, &v);
			v = name == 4 ? 7200 : name == 5 ? 75 : name == 6 ? 9 : name == 12 ? 1 : 0;
			break;
		default:
			return -ENOPROTOOPT;
		}
	} else if (level == IPPROTO_IP_) {
		if (set)
			return opt_int(val, len, &v);
		v = 0;
	} else {
		/* IPPROTO_IPV6 on an IPv4 socket, and the rest: Linux's ip_setsockopt says
		 * ENOPROTOOPT, its ip_getsockopt EOPNOTSUPP */
		return set ? -ENOPROTOOPT : -EOPNOTSUPP;
	}
	if (flag) {
		if (set) {
			if ((rc = opt_int(val, len, &v)))
				return rc;
			*flag = v != 0;
			return 0;
		}
		v = *flag;
	}
	have = MIN(have, 4u);
	return copy_to_app(val, &v, have) || copy_to_app(len, &have, 4) ? -EFAULT : 0;
}

long hp_sock_shutdown(struct app *a, uint64_t fd, uint64_t how)
{
	struct app_fd *f = sock_fd(a, fd);

	if (!f)
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
	return sock_shutdown(f->sock, (int)how);
}

long hp_sock_peer(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp)
{
	struct app_fd *f = sock_fd(a, fd);

	if (!f)
		return hp_fd(a, fd) ? -ENOTSOCK : -EBADF;
	if (!f->has_peer)
		return -ENOTCONN;
	return addr && lenp ? put_addr(addr, lenp, f->peer_ip, f->peer_port) : -EFAULT;
}

long hp_sock_name(struct app *a, uint64_t fd, uint64_t addr, uint64_t lenp)
{
	struct app_fd *f = sock_fd(a, fd);

	if (!f)
		return -EBADF;
	return addr && lenp ? put_addr(addr, lenp, 0, f->local_port) : -EFAULT;
}
