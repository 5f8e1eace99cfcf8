/* Sockets on lwIP's raw API (see socket.h). Socket state is changed by lwIP's callbacks
 * and read by the socket calls, both under the core lock; a callback wakes the socket's
 * semaphore (and a poller's). Blocking calls drain the socket's channel, look, and sleep
 * on that semaphore, which the receive thread also ups when it pushes into the channel. */
#include "net/socket.h"

#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "net/net.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"

#define UDP_Q 128
/* connections made and not yet accepted, per listening socket: lwIP's backlog is kept at
 * most this, so a connection past it is not answered (the peer sends its SYN again) rather
 * than reset */
#define ACCEPT_Q 128
#define MS 1000000ull

struct dgram {
	struct pbuf *p;
	uint32_t ip;
	uint16_t port;
};

struct sock {
	int type;
	bool used;
	bool closed;  /* sock_close has begun: every call on it now ends with -EBADF */
	unsigned gen; /* of the descriptor (index | gen << 8): a stale one never matches */
	struct sem wake;
	struct sem *poller[NET_POLLERS]; /* the waits polling it at once (sock_poll_arm) */
	unsigned events; /* bumped at every wake (atomic): what an edge-triggered poll sees */
	struct flow flow;
	bool flow_on;
	unsigned timeout_ms;
	struct udp_pcb *udp;
	struct tcp_pcb *tcp;
	/* UDP: datagrams waiting */
	struct dgram q[UDP_Q];
	unsigned qh, qt;
	uint64_t udp_drops;
	/* TCP */
	/* received, not yet read: lwIP's pbufs in a list through their next pointers, O(1)
	 * to add to (rx_last); their tot_len fields mean nothing here (a pbuf chain's length
	 * is 16 bits, the window is larger); rx_off bytes of the first are read already */
	struct pbuf *rx, *rx_last;
	uint32_t rx_len, rx_off;
	bool rx_fin, connected, listening;
	bool rd_shut, wr_shut; /* sock_shutdown: reads end (what arrives is dropped); no sends */
	bool connecting; /* tcp_connect done, its end not yet returned (sock_connect) */
	int err; /* the connection's end (-ECONNRESET...) */
	int acq[ACCEPT_Q]; /* sockets made for connections not accepted yet */
	unsigned ah, at;
};

/* The sockets, made as they are first needed and kept (reused) to the end, so that a
 * descriptor's slot stays valid memory whoever closes it; socks_made of them, published
 * (release) after the slot is set. */
static struct sock *socks[SOCK_MAX];
static unsigned socks_made;
static uint64_t udp_drops; /* every socket's, closed ones' too (atomic: read unlocked) */
static struct mutex table = MUTEX_INIT(table); /* (ready before the first socket call:
						 * an app's threads may make it at once) */

#define SOCK_IDX_BITS 12
_Static_assert(SOCK_MAX == 1 << SOCK_IDX_BITS, "a descriptor's index bits");
#define SOCK_IDX(s) ((s) & (SOCK_MAX - 1))
#define SOCK_GEN(s) ((unsigned)(s) >> SOCK_IDX_BITS)
#define SOCK_GEN_MASK ((1u << (31 - SOCK_IDX_BITS)) - 1) /* (a descriptor stays positive) */

/* socket slot i, made already (i < socks_made) */
static struct sock *slot(unsigned i)
{
	return __atomic_load_n(&socks[i], __ATOMIC_ACQUIRE);
}

/* A descriptor's socket, while it is open. A thread may still hold it when another closes
 * it (an app's close racing its recv): the waits below look again with gone() under the
 * core lock, so they end with -EBADF and never touch what sock_close freed. */
static struct sock *get(int s)
{
	if (s < 0 || (unsigned)SOCK_IDX(s) >= __atomic_load_n(&socks_made, __ATOMIC_ACQUIRE))
		return NULL;
	struct sock *k = slot(SOCK_IDX(s));

	return k->used && !k->closed && k->gen == SOCK_GEN(s) ? k : NULL;
}

/* (core lock held) */
static bool gone(const struct sock *k, int s)
{
	return !k->used || k->closed || k->gen != SOCK_GEN(s);
}

/* takes the core lock for a socket that is still open: 0, or -EBADF without the lock */
static int lock_open(const struct sock *k, int s)
{
	net_lock();
	if (!gone(k, s))
		return 0;
	net_unlock();
	return -EBADF;
}

static void wake(struct sock *k)
{
	__atomic_add_fetch(&k->events, 1, __ATOMIC_RELEASE);
	sem_up(&k->wake);
	for (unsigned i = 0; i < NET_POLLERS; i++) {
		struct sem *p = __atomic_load_n(&k->poller[i], __ATOMIC_ACQUIRE);

		if (p)
			sem_up(p);
	}
}

/* ps into a free slot of slots (or it is there already); with every slot taken, the
 * first is taken over (that wait then sees this socket only when it looks again) */
static void poller_arm(struct sem **slots, struct sem *ps)
{
	for (unsigned i = 0; i < NET_POLLERS; i++)
		if (__atomic_load_n(&slots[i], __ATOMIC_ACQUIRE) == ps)
			return;
	for (unsigned i = 0; i < NET_POLLERS; i++) {
		struct sem *none = NULL;

		if (__atomic_compare_exchange_n(&slots[i], &none, ps, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return;
	}
	__atomic_store_n(&slots[0], ps, __ATOMIC_RELEASE);
}

static void poller_disarm(struct sem **slots, struct sem *ps)
{
	for (unsigned i = 0; i < NET_POLLERS; i++) {
		struct sem *p = ps;

		__atomic_compare_exchange_n(&slots[i], &p, NULL, false, __ATOMIC_ACQ_REL,
					    __ATOMIC_ACQUIRE);
	}
}

static uint64_t deadline(const struct sock *k)
{
	return k->timeout_ms ? clock_ns() + k->timeout_ms * MS : NO_DEADLINE;
}

static int lwip_err(err_t e)
{
	switch (e) {
	case ERR_OK:
		return 0;
	case ERR_MEM:
		return -ENOMEM;
	case ERR_BUF:
		return -ENOBUFS;
	case ERR_USE:
		return -EADDRINUSE;
	case ERR_RST:
	case ERR_ABRT:
		return -ECONNRESET;
	case ERR_CLSD:
		return -ENOTCONN;
	case ERR_CONN:
		return -ENOTCONN;
	case ERR_RTE:
		return -ENETUNREACH;
	default:
		return -EIO;
	}
}

static int flow_on(struct sock *k, uint8_t proto, uint16_t lport, uint32_t rip, uint16_t rport)
{
	if (k->flow_on)
		return -EINVAL; /* the flow is in the table: its key must not change under it */
	k->flow.proto = proto;
	k->flow.lport = lwip_htons(lport);
	k->flow.rip = rip ? lwip_htonl(rip) : 0;
	k->flow.rport = rport ? lwip_htons(rport) : 0;
	k->flow.wake = &k->wake;
	int rc = net_flow_add(&k->flow);

	k->flow_on = rc == 0;
	return rc;
}

/* ---- lwIP callbacks (core lock held) */

static void udp_in(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
		   u16_t port)
{
	struct sock *k = arg;

	if (k->qt - k->qh == UDP_Q) {
		k->udp_drops++;
		__atomic_add_fetch(&udp_drops, 1, __ATOMIC_RELAXED);
		pbuf_free(p);
		return;
	}
	k->q[k->qt % UDP_Q] = (struct dgram){ p, lwip_ntohl(ip4_addr_get_u32(addr)), port };
	k->qt++;
	wake(k);
}

static err_t tcp_in(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct sock *k = arg;

	if (!k)
		return ERR_MEM; /* not accepted yet: lwIP keeps it and offers it again */
	if (p && k->rd_shut) { /* shut for reading: taken and dropped, the window kept open */
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	if (!p) {
		k->rx_fin = true;
	} else {
		if (k->rx)
			k->rx_last->next = p;
		else
			k->rx = p;
		k->rx_len += p->tot_len;
		while (p->next)
			p = p->next;
		k->rx_last = p;
	}
	wake(k);
	return ERR_OK;
}

/* up to len bytes of what was received, copied to buf, and freed unless peek; the count */
static size_t rx_take(struct sock *k, void *buf, size_t len, bool peek)
{
	size_t done = 0, off = k->rx_off;

	for (struct pbuf *p = k->rx; p && done < len;) {
		size_t n = MIN((size_t)p->len - off, len - done);

		memcpy((char *)buf + done, (const char *)p->payload + off, n);
		done += n;
		off += n;
		if (off < p->len)
			break;
		struct pbuf *next = p->next;

		if (!peek) {
			p->next = NULL;
			pbuf_free(p);
			k->rx = next;
		}
		p = next;
		off = 0;
	}
	if (!peek) {
		k->rx_off = k->rx ? (uint32_t)off : 0;
		k->rx_len -= (uint32_t)done;
		if (!k->rx)
			k->rx_last = NULL;
	}
	return done;
}

/* n bytes read: the window opens (lwIP takes 16 bits a call) */
static void recved(struct sock *k, size_t n)
{
	for (; k->tcp && n; n -= MIN(n, 0xffffu))
		tcp_recved(k->tcp, (u16_t)MIN(n, 0xffffu));
}

static void rx_drop(struct sock *k)
{
	if (k->rx)
		pbuf_free(k->rx);
	k->rx = k->rx_last = NULL;
	k->rx_len = k->rx_off = 0;
}

static err_t tcp_sent_cb(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	if (arg)
		wake(arg);
	return ERR_OK;
}

static void tcp_err_cb(void *arg, err_t err)
{
	struct sock *k = arg;

	if (!k)
		return;
	k->tcp = NULL; /* lwIP has freed it */
	k->err = err == ERR_RST ? -ECONNRESET : err == ERR_ABRT ? -ECONNRESET : -ECONNREFUSED;
	wake(k);
}

static err_t tcp_connected_cb(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct sock *k = arg;

	k->connected = true;
	wake(k);
	return ERR_OK;
}

static void tcp_hooks(struct sock *k, struct tcp_pcb *pcb)
{
	tcp_arg(pcb, k);
	tcp_recv(pcb, tcp_in);
	tcp_sent(pcb, tcp_sent_cb);
	tcp_err(pcb, tcp_err_cb);
	tcp_nagle_disable(pcb);
}

static int alloc(int type);

/* a new connection becomes a socket at once, hooked and with its flow, so nothing that
 * arrives before accept() is lost; accept() hands it out */
static err_t tcp_accept_cb(void *arg, struct tcp_pcb *newpcb, err_t err)
{
	struct sock *k = arg;

	if (err != ERR_OK || !newpcb)
		return ERR_VAL;
	int n = k->at - k->ah < ACCEPT_Q ? alloc(SOCK_STREAM) : -ENOSPC;

	if (n < 0) {
		tcp_abort(newpcb);
		return ERR_ABRT;
	}
	struct sock *c = slot(SOCK_IDX(n));

	c->tcp = newpcb;
	c->connected = true;
	tcp_hooks(c, newpcb);
	flow_on(c, 6, newpcb->local_port, lwip_ntohl(ip4_addr_get_u32(&newpcb->remote_ip)),
		newpcb->remote_port);
	k->acq[k->at % ACCEPT_Q] = n;
	k->at++;
	wake(k);
	return ERR_OK;
}

/* ---- the calls */

static int alloc(int type)
{
	mutex_lock(&table, NO_DEADLINE);
	unsigned i = 0;

	while (i < socks_made && socks[i]->used)
		i++;
	if (i == SOCK_MAX) {
		mutex_unlock(&table);
		return -ENFILE; /* (the table is full: as Linux's system-wide limit) */
	}
	if (i == socks_made) {
		struct sock *k = kcalloc(1, sizeof(*k));

		if (!k) {
			mutex_unlock(&table);
			return -ENOMEM;
		}
		__atomic_store_n(&socks[i], k, __ATOMIC_RELEASE);
		__atomic_store_n(&socks_made, i + 1, __ATOMIC_RELEASE);
	}
	struct sock *k = socks[i];
	unsigned gen = (k->gen + 1) & SOCK_GEN_MASK;

	memset(k, 0, sizeof(*k));
	k->used = true;
	k->gen = gen;
	k->type = type;
	sem_init(&k->wake, 0);
	mutex_unlock(&table);
	return (int)(i | gen << SOCK_IDX_BITS);
}

int sock_socket(int type)
{
	if (type != SOCK_STREAM && type != SOCK_DGRAM)
		return -EINVAL;
	if (!net_addr())
		return -ENETDOWN;
	int s = alloc(type);

	if (s < 0)
		return s;
	struct sock *k = slot(SOCK_IDX(s));

	net_lock();
	if (type == SOCK_DGRAM) {
		k->udp = udp_new();
		if (k->udp)
			udp_recv(k->udp, udp_in, k);
	} else {
		k->tcp = tcp_new();
		if (k->tcp)
			tcp_hooks(k, k->tcp);
	}
	net_unlock();
	if (!k->udp && !k->tcp) {
		k->used = false;
		return -ENOMEM;
	}
	return s;
}

int sock_set_timeout(int s, unsigned ms)
{
	struct sock *k = get(s);

	if (!k)
		return -EBADF;
	k->timeout_ms = ms;
	return 0;
}

int sock_bind(int s, uint32_t ip, uint16_t port)
{
	struct sock *k = get(s);
	ip_addr_t a;
	err_t e;

	if (!k)
		return -EBADF;
	ip_addr_set_ip4_u32(&a, lwip_htonl(ip));
	if (lock_open(k, s))
		return -EBADF;
	/* bound already (by bind, or by a send that picked a port): EINVAL, as on Linux;
	 * lwIP would move the pcb, and the socket's flow would be added a second time */
	if (k->flow_on || (k->type == SOCK_DGRAM ? k->udp->local_port
						  : !k->tcp || k->tcp->local_port)) {
		net_unlock();
		return -EINVAL;
	}
	if (k->type == SOCK_DGRAM)
		e = udp_bind(k->udp, &a, port);
	else
		e = k->tcp ? tcp_bind(k->tcp, &a, port) : ERR_CLSD;
	uint16_t bound = k->type == SOCK_DGRAM ? k->udp->local_port : k->tcp ? k->tcp->local_port : 0;

	net_unlock();
	if (e != ERR_OK)
		return lwip_err(e);
	if (k->type == SOCK_DGRAM)
		return flow_on(k, 17, bound, 0, 0);
	return 0;
}

int sock_reuseaddr(int s, bool on)
{
	struct sock *k = get(s);

	if (!k)
		return -EBADF;
	if (lock_open(k, s))
		return -EBADF;
	if (k->type == SOCK_STREAM && k->tcp) {
		if (on)
			ip_set_option(k->tcp, SOF_REUSEADDR);
		else
			ip_reset_option(k->tcp, SOF_REUSEADDR);
	}
	net_unlock();
	return 0;
}

int sock_listen(int s, int backlog)
{
	struct sock *k = get(s);

	if (!k || k->type != SOCK_STREAM)
		return k ? -EOPNOTSUPP : -EBADF;
	if (lock_open(k, s))
		return -EBADF;
	struct tcp_pcb *l = k->tcp ? tcp_listen_with_backlog(k->tcp, (u8_t)MAX(MIN(backlog, ACCEPT_Q), 1)) : NULL;

	if (l) {
		k->tcp = l;
		tcp_arg(l, k);
		tcp_accept(l, tcp_accept_cb);
		k->listening = true;
	}
	net_unlock();
	if (!l)
		return -ENOMEM;
	return flow_on(k, 6, l->local_port, 0, 0);
}

int sock_accept(int s, uint32_t *ip, uint16_t *port)
{
	struct sock *k = get(s);
	uint64_t until;

	if (!k || !k->listening)
		return k ? -EINVAL : -EBADF;
	until = deadline(k);
	for (;;) {
		net_drain(&k->flow);
		if (lock_open(k, s))
			return -EBADF;
		if (k->ah != k->at) {
			int n = k->acq[k->ah % ACCEPT_Q];
			struct sock *c = slot(SOCK_IDX(n));

			k->ah++;
			if (c->tcp)
				tcp_backlog_accepted(c->tcp);
			if (ip)
				*ip = c->tcp ? lwip_ntohl(ip4_addr_get_u32(&c->tcp->remote_ip)) : 0;
			if (port)
				*port = c->tcp ? c->tcp->remote_port : 0;
			net_unlock();
			return n;
		}
		net_unlock();
		if (sem_down(&k->wake, until))
			return -ETIMEDOUT;
	}
}

int sock_connect(int s, uint32_t ip, uint16_t port)
{
	struct sock *k = get(s);
	ip_addr_t a;
	err_t e;

	if (!k)
		return -EBADF;
	ip_addr_set_ip4_u32(&a, lwip_htonl(ip));
	if (k->type == SOCK_DGRAM) {
		if (lock_open(k, s))
			return -EBADF;
		e = udp_connect(k->udp, &a, port);
		uint16_t lport = k->udp->local_port;

		net_unlock();
		if (e != ERR_OK)
			return lwip_err(e);
		return k->flow_on ? 0 : flow_on(k, 17, lport, 0, 0);
	}
	if (lock_open(k, s))
		return -EBADF;
	/* a call whose wait timed out (sock_set_timeout) leaves the connection under way; the
	 * next call waits for that one again rather than starting another */
	bool again = k->connecting;

	e = again ? ERR_OK : k->tcp ? tcp_connect(k->tcp, &a, port, tcp_connected_cb) : ERR_CLSD;
	uint16_t lport = k->tcp ? k->tcp->local_port : 0;

	k->connecting = e == ERR_OK;
	net_unlock();
	if (e != ERR_OK)
		return lwip_err(e);
	if (!again)
		flow_on(k, 6, lport, ip, port);
	uint64_t until = deadline(k);

	for (;;) {
		net_drain(&k->flow);
		if (k->connected || k->err) {
			k->connecting = false;
			return k->connected ? 0 : k->err;
		}
		if (sem_down(&k->wake, until))
			return -ETIMEDOUT;
	}
}

/* tcp_write, in segments of net_tcp_segment's size: lwIP cuts the data at the pcb's MSS,
 * which is that size for the call and the real one for everything else it does (the
 * congestion window's arithmetic, retransmissions). Never smaller than the last segment
 * still unsent, which tcp_write may fill up (it asserts that the MSS holds it). */
static err_t write_segments(struct tcp_pcb *pcb, const uint8_t *data, u16_t len)
{
	u16_t mss = pcb->mss, seg = net_tcp_segment(pcb);
	struct tcp_seg *last = pcb->unsent;

	while (last && last->next)
		last = last->next;
	if (last && last->len > seg)
		seg = last->len;
	pcb->mss = seg;
	err_t e = tcp_write(pcb, data, len, TCP_WRITE_FLAG_COPY);

	pcb->mss = mss;
	return e;
}

long sock_send(int s, const void *buf, size_t len)
{
	struct sock *k = get(s);
	size_t done = 0;

	if (!k)
		return -EBADF;
	if (k->type == SOCK_DGRAM)
		return sock_sendto(s, buf, len, 0, 0);
	if (k->listening)
		return -EPIPE; /* (k->tcp is lwIP's smaller listen pcb: no send buffer) */
	uint64_t until = deadline(k);

	while (done < len) {
		net_drain(&k->flow);
		if (lock_open(k, s))
			return done ? (long)done : -EBADF;
		if (!k->tcp || k->err || k->wr_shut) {
			net_unlock();
			return done	    ? (long)done
			       : k->err	    ? k->err
			       : k->wr_shut ? -EPIPE
					    : -ENOTCONN;
		}
		size_t room = tcp_sndbuf(k->tcp), n = MIN(room, len - done);
		bool nomem = false;

		n = MIN(n, (size_t)0xffff);
		if (n && tcp_sndqueuelen(k->tcp) < TCP_SND_QUEUELEN - 4) {
			err_t e = write_segments(k->tcp, (const uint8_t *)buf + done, (u16_t)n);

			if (e == ERR_OK) {
				done += n;
			} else if (e == ERR_MEM) {
				nomem = true; /* out of memory: no callback will say when to retry */
				n = 0;
			} else {
				net_unlock();
				return done ? (long)done : lwip_err(e);
			}
		} else {
			n = 0;
		}
		tcp_output(k->tcp);
		net_unlock();
		if (n)
			continue;
		/* wait for an acknowledgement (tcp_sent_cb), or retry memory after 10 ms */
		if (sem_down(&k->wake, nomem ? MIN(until, clock_ns() + 10 * MS) : until) &&
		    clock_ns() >= until)
			return done ? (long)done : -ETIMEDOUT;
	}
	return (long)done;
}

/* TCP's receive, with flags (SOCK_PEEK: the data stays) */
static long recv_stream(struct sock *k, int s, void *buf, size_t len, unsigned flags)
{
	if (k->listening)
		return -ENOTCONN; /* as on Linux: a listening socket has no data */
	uint64_t until = deadline(k);

	for (;;) {
		net_drain(&k->flow);
		if (lock_open(k, s))
			return -EBADF;
		if (k->rd_shut) {
			net_unlock();
			return 0;
		}
		if (k->rx) {
			size_t n = rx_take(k, buf, len, flags & SOCK_PEEK);

			if (!(flags & SOCK_PEEK)) {
				recved(k, n);
				/* the app has read everything that came: an acknowledgement lwIP
				 * holds back (for up to its 50 ms timer) goes now, as Linux's
				 * tcp_cleanup_rbuf sends it. A client whose next small write waits
				 * for it (Nagle: a request in two writes, memccapable's) would
				 * otherwise wait that long for every request. */
				if (!k->rx && k->tcp && (k->tcp->flags & TF_ACK_DELAY)) {
					tcp_set_flags(k->tcp, TF_ACK_NOW);
					tcp_output(k->tcp);
				}
			}
			net_unlock();
			return n;
		}
		bool fin = k->rx_fin;
		int err = k->err;

		net_unlock();
		if (fin)
			return 0;
		if (err)
			return err;
		if (flags & SOCK_DONTWAIT)
			return -EAGAIN;
		if (sem_down(&k->wake, until))
			return -ETIMEDOUT;
	}
}

long sock_recv(int s, void *buf, size_t len)
{
	return sock_recvmsg(s, buf, len, 0, NULL, NULL, NULL);
}

long sock_sendto(int s, const void *buf, size_t len, uint32_t ip, uint16_t port)
{
	struct sock *k = get(s);

	if (!k)
		return -EBADF;
	if (k->type != SOCK_DGRAM)
		return ip ? -EISCONN : sock_send(s, buf, len);
	if (len > 0xffff - 28)
		return -EMSGSIZE;
	if (lock_open(k, s))
		return -EBADF;
	struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
	err_t e;

	if (!p) {
		net_unlock();
		return -ENOBUFS;
	}
	pbuf_take(p, buf, (u16_t)len);
	if (ip) {
		ip_addr_t a;

		ip_addr_set_ip4_u32(&a, lwip_htonl(ip));
		e = udp_sendto(k->udp, p, &a, port);
	} else {
		e = udp_send(k->udp, p);
	}
	uint16_t lport = k->udp->local_port;

	pbuf_free(p);
	net_unlock();
	if (e != ERR_OK)
		return lwip_err(e);
	if (!k->flow_on) /* sending bound it to a port: its replies are ours */
		flow_on(k, 17, lport, 0, 0);
	return (long)len;
}

long sock_recvmsg(int s, void *buf, size_t len, unsigned flags, uint32_t *ip, uint16_t *port,
		 size_t *full)
{
	struct sock *k = get(s);

	if (!k)
		return -EBADF;
	if (k->type != SOCK_DGRAM) {
		long n = recv_stream(k, s, buf, len, flags);

		if (full)
			*full = n > 0 ? (size_t)n : 0;
		return n;
	}
	uint64_t until = deadline(k);

	for (;;) {
		net_drain(&k->flow);
		if (lock_open(k, s))
			return -EBADF;
		if (k->qh != k->qt) {
			struct dgram d = k->q[k->qh % UDP_Q];
			u16_t n = pbuf_copy_partial(d.p, buf, (u16_t)MIN(len, 0xffffu), 0);

			if (full)
				*full = d.p->tot_len;
			if (!(flags & SOCK_PEEK)) {
				k->qh++;
				pbuf_free(d.p);
			}
			net_unlock();
			if (ip)
				*ip = d.ip;
			if (port)
				*port = d.port;
			return n;
		}
		net_unlock();
		if (flags & SOCK_DONTWAIT)
			return -EAGAIN;
		if (sem_down(&k->wake, until))
			return -ETIMEDOUT;
	}
}

long sock_recvfrom(int s, void *buf, size_t len, uint32_t *ip, uint16_t *port)
{
	return sock_recvmsg(s, buf, len, 0, ip, port, NULL);
}

int sock_shutdown(int s, int how)
{
	struct sock *k = get(s);
	int rc = 0;

	if (!k)
		return -EBADF;
	if (how < 0 || how > 2)
		return -EINVAL;
	net_drain(&k->flow);
	if (lock_open(k, s))
		return -EBADF;
	if (k->type != SOCK_STREAM || k->listening || !k->connected) {
		rc = -ENOTCONN;
	} else {
		if (how != 1 && !k->rd_shut) { /* SHUT_RD: what is unread goes too */
			k->rd_shut = true;
			if (k->rx) {
				recved(k, k->rx_len);
				rx_drop(k);
			}
		}
		if (how != 0 && !k->wr_shut) { /* SHUT_WR: a FIN after what is queued */
			k->wr_shut = true;
			if (k->tcp && tcp_shutdown(k->tcp, 0, 1) != ERR_OK)
				rc = -ENOTCONN;
		}
		wake(k);
	}
	net_unlock();
	return rc;
}

int sock_close(int s)
{
	struct sock *k = get(s);

	if (!k)
		return -EBADF;
	/* one closer wins (two threads may close one descriptor at once) */
	if (lock_open(k, s))
		return -EBADF;
	k->closed = true;
	net_unlock();
	if (k->flow_on)
		net_flow_del(&k->flow);
	net_lock();
	if (k->udp)
		udp_remove(k->udp);
	if (k->tcp) {
		tcp_arg(k->tcp, NULL);
		if (!k->listening) {
			tcp_recv(k->tcp, NULL);
			tcp_sent(k->tcp, NULL);
			tcp_err(k->tcp, NULL);
		}
		if (tcp_close(k->tcp) != ERR_OK)
			tcp_abort(k->tcp);
	}
	k->udp = NULL;
	k->tcp = NULL;
	while (k->qh != k->qt)
		pbuf_free(k->q[k->qh++ % UDP_Q].p);
	rx_drop(k);
	unsigned pending[ACCEPT_Q], np = 0;

	while (k->ah != k->at)
		pending[np++] = (unsigned)k->acq[k->ah++ % ACCEPT_Q];
	wake(k); /* a thread waiting on it looks again and finds it closed */
	net_unlock();
	for (unsigned i = 0; i < np; i++) /* connections nobody accepted */
		sock_close((int)pending[i]);
	mutex_lock(&table, NO_DEADLINE);
	k->used = false;
	mutex_unlock(&table);
	return 0;
}

void sock_trim(void)
{
	mutex_lock(&table, NO_DEADLINE);
	while (socks_made && !socks[socks_made - 1]->used) {
		struct sock *k = socks[socks_made - 1];

		__atomic_store_n(&socks_made, socks_made - 1, __ATOMIC_RELEASE);
		socks[socks_made] = NULL;
		kfree(k);
	}
	mutex_unlock(&table);
}

int sock_error(int s)
{
	struct sock *k = get(s);

	if (!k || lock_open(k, s))
		return -EBADF;
	int err = k->err;

	net_unlock();
	return err;
}

int sock_describe(int s, char *buf, size_t size)
{
	struct sock *k = get(s);

	if (!k)
		return ksnprintf(buf, size, "socket %d: not open", s);
	if (lock_open(k, s))
		return ksnprintf(buf, size, "socket %d: closed", s);
	int n = ksnprintf(buf, size, "socket %d: flow %s (%u queued, %lu dropped), err %d, fin %d, "
			  "rx %u bytes", s, k->flow_on ? "on" : "off",
			  k->flow_on ? k->flow.ch.tail - k->flow.ch.head : 0, k->flow.drops, k->err,
			  k->rx_fin, k->rx_len);
	struct tcp_pcb *t = k->type == SOCK_STREAM && !k->listening ? k->tcp : NULL;

	if (t && n >= 0 && (size_t)n < size)
		n += ksnprintf(buf + n, size - (size_t)n,
			       "; tcp state %d, snd_buf %u, queue %u, unsent %s, unacked %s, "
			       "snd_wnd %u, rcv_wnd %u, nrtx %u, rto %d ticks, ooseq %s",
			       (int)t->state, (unsigned)tcp_sndbuf(t), (unsigned)tcp_sndqueuelen(t),
			       t->unsent ? "yes" : "no", t->unacked ? "yes" : "no",
			       (unsigned)t->snd_wnd, (unsigned)t->rcv_wnd, (unsigned)t->nrtx,
			       (int)t->rto, t->ooseq ? "yes" : "no");
	if (k->listening && k->tcp && n >= 0 && (size_t)n < size) {
		const struct tcp_pcb_listen *l = (const struct tcp_pcb_listen *)k->tcp;

		n += ksnprintf(buf + n, size - (size_t)n,
			       "; listening: %u of a backlog of %u connections pending, %u to "
			       "accept", (unsigned)l->accepts_pending, (unsigned)l->backlog,
			       k->at - k->ah);
	}
	net_unlock();
	return n;
}

static short ready(struct sock *k, short events)
{
	short r = 0;

	if (k->type == SOCK_DGRAM) {
		if (k->qh != k->qt)
			r |= POLLIN;
		r |= POLLOUT;
	} else if (k->listening) {
		if (k->ah != k->at)
			r |= POLLIN;
	} else {
		if (k->rx || k->rx_fin || k->rd_shut)
			r |= POLLIN;
		if (k->tcp && k->connected && !k->wr_shut && tcp_sndbuf(k->tcp) > 0)
			r |= POLLOUT;
		if (k->wr_shut)
			r |= POLLOUT; /* (as Linux: a write now fails at once, with EPIPE) */
		if (k->err)
			r |= POLLERR;
		if (k->rx_fin || k->err)
			r |= POLLHUP;
		if (k->rx_fin)
			r |= POLLRDHUP;
	}
	return r & (events | POLLERR | POLLHUP);
}

void sock_poll_arm(const struct sock_pollfd *fds, unsigned n, struct sem *ps,
		   struct sock_armed *armed)
{
	/* lwIP's callbacks up ps through k->poller, the receive threads (a frame pushed into
	 * the socket's channel) through its flow's poller */
	for (unsigned i = 0; i < n; i++) {
		struct sock *k = get(fds[i].fd);

		if (k) {
			unsigned x = SOCK_IDX(fds[i].fd);

			armed->bits[x / 64] |= 1ull << (x % 64);
			poller_arm(k->poller, ps);
			poller_arm(k->flow.poller, ps);
		}
	}
}

int sock_poll_scan(struct sock_pollfd *fds, unsigned n)
{
	int count = 0;

	for (unsigned i = 0; i < n; i++) {
		struct sock *k = get(fds[i].fd);

		fds[i].revents = 0;
		if (!k) {
			fds[i].revents = POLLERR;
			count++;
			continue;
		}
		if (k->flow_on)
			net_drain(&k->flow);
		/* the count before the look: an event between the two (another thread draining
		 * the channel) then shows as new at the next look. Read after the look, it
		 * could hold an event the look missed, and an edge-triggered wait would never
		 * report that event (a FIN lost this way left Go's server with connections it
		 * never closed). */
		fds[i].gen = __atomic_load_n(&k->events, __ATOMIC_ACQUIRE);
		if (lock_open(k, fds[i].fd)) {
			fds[i].revents = POLLERR; /* closed meanwhile */
		} else {
			fds[i].revents = ready(k, fds[i].events);
			net_unlock();
		}
		count += fds[i].revents != 0;
	}
	return count;
}

void sock_poll_disarm(struct sem *ps, const struct sock_armed *armed)
{
	/* (every socket that may still point at ps: each slot armed, whatever it holds now) */
	for (unsigned w = 0; w < SOCK_MAX / 64; w++) {
		for (uint64_t b = armed->bits[w]; b; b &= b - 1) {
			struct sock *k = slot(w * 64 + (unsigned)__builtin_ctzll(b));

			poller_disarm(k->poller, ps);
			poller_disarm(k->flow.poller, ps);
		}
	}
	/* wake() runs under the core lock, so once we have held it no callback can touch ps;
	 * the barrier does the same for the receive threads */
	net_lock();
	net_unlock();
	net_rx_barrier();
}

int sock_poll(struct sock_pollfd *fds, unsigned n, int timeout_ms)
{
	struct sem ps;
	struct sock_armed armed = {{0}};
	uint64_t until = timeout_ms < 0 ? NO_DEADLINE : clock_ns() + (uint64_t)timeout_ms * MS;
	int count;

	sem_init(&ps, 0);
	sock_poll_arm(fds, n, &ps, &armed);
	while (!(count = sock_poll_scan(fds, n)) && clock_ns() < until)
		sem_down(&ps, until);
	sock_poll_disarm(&ps, &armed); /* (ps lives on this stack) */
	return count;
}

uint64_t sock_udp_drops(void)
{
	return __atomic_load_n(&udp_drops, __ATOMIC_RELAXED);
}
