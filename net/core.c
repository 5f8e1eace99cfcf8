/* The net core: lwIP netifs on struct netdev, the receive threads that classify frames
 * into net channels, the net thread (default channels, lwIP's timers), and the core lock.
 * See net/README.md for the threads and the locking. */
#include "net/net.h"

#include "net/frame.h"

#include "common/console.h"
#include "common/netdev.h"
#include "common/random.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/inet.h"
#include "lib/spinlock.h"
#include "lib/string.h"
#include "lib/unaligned.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include "lwip/dhcp.h"
#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/ip4_frag.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"

#define MS 1000000ull
#define MAX_NIFS 4
#define MAX_FLOWS 64
#define TXQ 64
#define BATCH 32
#define TX_WAIT_MS 500

struct nif {
	struct netif lw;
	struct netdev *dev;
	struct sem rx_wake;
	struct flow deflt; /* everything no flow claims; the net thread's */
	struct pkt *txq[TXQ];
	unsigned ntx;
	bool rx_busy;
	bool polling;	/* busy polling (rx_thread): the device's interrupts off */
	bool idle_woke; /* net_idle woke rx_thread, which has not polled since */
	uint64_t st_busy, st_idle_wakes; /* busy polling: windows, wakes by an idle CPU */
	bool csum_tx; /* the device completes TCP checksums (lwIP leaves them to it) */
	bool tso;     /* and cuts big TCP segments (linkoutput gathers them: gather) */
	uint32_t csum_gen; /* lwIP's checksum flags for what it sends here: CSUM_GEN... */
	uint64_t rx_gen;
};

/* what lwIP sees of a received packet: in the page in front of the frame (virtio leaves
 * the headroom), else behind it (netfront's backend copies to offset 0), else on the heap */
struct rxpbuf {
	struct pbuf_custom pc;
	struct pkt *pkt;
	bool heap;
};
_Static_assert(sizeof(struct rxpbuf) <= PKT_HEADROOM - 16, "the pbuf must fit the headroom");

/* ready from the start: the app's waits take it (sock_poll_disarm) in a VM without a NIC
 * too, where net_start never runs (its first contended take, on a zeroed wait queue,
 * was a kernel page fault: unixio's poll_storm) */
static struct mutex core = MUTEX_INIT(core);
static struct nif *nifs[MAX_NIFS];
static unsigned nnifs;
static struct flow *flows[MAX_FLOWS];
static struct sem net_wake;
static bool started;
static int start_rc;
static struct net_stats st;
static uint64_t drop_tx, drop_count; /* net_drop_tx=N (linkoutput), under the core lock */

u32_t sys_now(void)
{
	return (u32_t)(clock_ns() / MS);
}

/* lwIP's LWIP_RAND (its first local ports, DHCP's transaction ids): unpredictable, so
 * that an off-path sender cannot guess them */
uint32_t net_rand(void)
{
	return (uint32_t)random_u64();
}

/* RFC 6528's secret for initial sequence numbers (common/random: RDRAND's and timings') */
static uint64_t isn_key[2];

uint32_t net_tcp_isn(const void *lip, uint16_t lport, const void *rip, uint16_t rport)
{
	st.tcp_isns++; /* (lwIP calls it under the core lock) */
	return inet_tcp_isn(isn_key, lwip_ntohl(ip4_addr_get_u32((const ip4_addr_t *)lip)), lport,
			    lwip_ntohl(ip4_addr_get_u32((const ip4_addr_t *)rip)), rport,
			    clock_ns());
}

/* ---- the core lock and transmission */

void net_lock(void)
{
	mutex_lock(&core, NO_DEADLINE);
}

static void flush(struct nif *n)
{
	unsigned sent = 0;
	uint64_t until = 0;

	/* a full ring: the device's completions are reaped on the next try. Wait for room
	 * (bounded: a backend that stops consuming costs a drop, never a hang) rather than
	 * drop at once, which would cost TCP a retransmission timeout. */
	for (int tries = 0; sent < n->ntx; tries++) {
		sent += n->dev->ops->xmit(n->dev, n->txq + sent, n->ntx - sent);
		if (sent == n->ntx || !n->dev->link_up)
			break;
		if (tries < 8) {
			thread_yield();
			continue;
		}
		if (!until)
			until = clock_ns() + TX_WAIT_MS * MS;
		else if (clock_ns() >= until)
			break;
		thread_sleep(MS);
		st.tx_waits++;
	}
	st.tx_frames += sent;
	for (; sent < n->ntx; sent++) {
		pkt_free(n->txq[sent]);
		st.tx_drops++;
	}
	n->ntx = 0;
}

void net_unlock(void)
{
	for (unsigned i = 0; i < nnifs; i++)
		if (nifs[i]->ntx)
			flush(nifs[i]);
	mutex_unlock(&core);
}

/* IP's way out: lwIP's ARP, which holds packets for a next hop it is still resolving
 * (up to ARP_QUEUE_LEN, lwipopts.h) and refuses them with ERR_MEM when its queue pool is
 * spent; the sender gets that error (a socket: -ENOMEM), and it is counted here. */
static err_t ip_out(struct netif *lw, struct pbuf *p, const ip4_addr_t *to)
{
	struct nif *n = lw->state;

	/* Larger than the device's MTU, and no TCP segment the device cuts (TSO_MAX_IP): cut
	 * into fragments at the device's MTU by lwIP, whose netif MTU is the big one here */
	if (p->tot_len > n->dev->mtu && !(n->tso && p->len >= 20 && IPH_PROTO(
			(struct ip_hdr *)p->payload) == IP_PROTO_TCP)) {
		u16_t mtu = lw->mtu;

		lw->mtu = n->dev->mtu;
		err_t e = ip4_frag(p, lw, to); /* (its fragments come back here, each small) */

		lw->mtu = mtu;
		return e;
	}
	err_t e = etharp_output(lw, p, to);

	if (e == ERR_MEM)
		st.arp_refused++;
	return e;
}

/* TSO by gathering (lib/inet.h: inet_tcp_append): a TCP segment that continues the last
 * one queued goes into it, which becomes a big packet the device cuts again; k is freed.
 * A big packet is 64 KiB of contiguous pages, made when a second segment comes (the
 * first copied over); without one (memory) the segments go as they are. */
#define TSO_ORDER 4

/* Big TCP segments. Over a device that cuts TCP segments itself (n->tso), the socket layer
 * has lwIP make segments of many MSS (net_tcp_segment); they pass lwIP's IP layer whole,
 * whose MTU for that netif is TSO_MAX_IP (nif_offloads), and go to the device as one
 * packet it cuts at its own MTU (linkoutput). lwIP's work per segment (headers, timers,
 * the acknowledgement's bookkeeping), under the core lock, falls with their count: on
 * qemu-q35's tcp10 with 16 MiB a connection, the lock was held for 1,360 ms of the run
 * with 1,460-byte segments and 855 ms with 16 times that (docs/benchmarks.md). Anything
 * else larger than the device's MTU, a UDP datagram or an ICMP reply, is cut into IP
 * fragments at the device's MTU (ip_out). */
#define TSO_MAX_IP ((4096u << TSO_ORDER) - PKT_HEADROOM - ETH_HLEN)
_Static_assert(TSO_MAX_IP <= 0xffff, "an IPv4 packet's length is 16 bits");

static bool gather(struct nif *n, struct pkt *k)
{
	struct pkt *last = n->txq[n->ntx - 1];
	size_t len = last->len;

	if (!(last->flags & PKT_CSUM_PARTIAL))
		return false;
	enum inet_append r = inet_tcp_append(last->data, &len, PKT_ROOM(last), &last->gso_size,
					     k->data, k->len);

	if (r == INET_NO_ROOM && !last->order) {
		struct pkt *big = pkt_alloc_big(TSO_ORDER);

		if (!big)
			return false;
		memcpy(big->data, last->data, last->len);
		big->len = last->len;
		big->flags = last->flags;
		big->csum_start = last->csum_start;
		big->csum_offset = last->csum_offset;
		big->gso_size = last->gso_size; /* (two segments fit a page) */
		n->txq[n->ntx - 1] = big;
		pkt_free(last);
		last = big;
		r = inet_tcp_append(last->data, &len, PKT_ROOM(last), &last->gso_size, k->data,
				    k->len);
	}
	if (r != INET_APPENDED)
		return false;
	last->len = (uint32_t)len;
	pkt_free(k);
	st.tso_gathered++;
	return true;
}

static err_t linkoutput(struct netif *lw, struct pbuf *p)
{
	struct nif *n = lw->state;

	/* larger than the device's MTU: a TCP segment for the device to cut (TSO_MAX_IP) */
	bool big = p->tot_len > n->dev->mtu + ETH_HLEN;

	if ((big && !n->tso) || p->tot_len > TSO_MAX_IP + ETH_HLEN) {
		st.tx_drops++;
		return ERR_BUF;
	}
	struct pkt *k = p->tot_len > PKT_MAX ? pkt_alloc_big(TSO_ORDER) : pkt_alloc();

	if (!k) {
		st.tx_drops++;
		return ERR_MEM;
	}
	k->len = pbuf_copy_partial(p, k->data, p->tot_len, 0);
	/* its TCP header, read once for all that follows (anything else: tcp false) */
	struct inet_tcp seg;
	bool tcp = inet_tcp_parse(k->data, k->len, &seg);

	/* net_drop_tx=N, for tests: every Nth TCP frame sent is lost on the way, as on a lossy
	 * network (lwIP believes it went; its retransmissions have to recover) */
	if (drop_tx && tcp && ++drop_count % drop_tx == 0) {
		pkt_free(k);
		st.lost_on_purpose++;
		return ERR_OK;
	}
	/* a reset ends its connection at once, what either side had not yet read with it: a
	 * peer that finds its data cut short finds the reason here (net_report) */
	if (tcp && (seg.flags & TCP_RST))
		st.tcp_resets++;
	if (tcp && n->csum_tx) {
		inet_tcp_pseudo_sum(k->data, &seg);
		k->csum_start = seg.tcp;
		k->csum_offset = INET_TCP_CSUM_OFFSET;
		k->flags |= PKT_CSUM_PARTIAL;
	}
	if (big) {
		if (!(k->flags & PKT_CSUM_PARTIAL)) { /* (ip_out let no other protocol by) */
			pkt_free(k);
			st.tx_drops++;
			return ERR_BUF;
		}
		/* each cut segment as large as the device's MTU takes (its TCP header: the
		 * data offset) */
		k->gso_size = (uint16_t)(n->dev->mtu - (seg.tcp - ETH_HLEN) -
					 (k->data[seg.tcp + 12] >> 4) * 4u);
		st.big_tcp++;
	} else if (n->tso && n->ntx && (k->flags & PKT_CSUM_PARTIAL) && gather(n, k)) {
		return ERR_OK;
	}
	/* A pure acknowledgement makes an older one of its connection still queued here
	 * needless: lwIP acknowledges every second segment, and a batch of segments drained
	 * from a channel at once leaves a row of them. The newer takes the older's place
	 * (duplicate acknowledgements, which a sender counts, all go). Only a pure ACK can:
	 * data segments do not look. */
	for (unsigned i = tcp && inet_tcp_is_pure_ack(&seg) ? n->ntx : 0; i-- > 0;) {
		struct pkt *o = n->txq[i];
		enum inet_ack_relation r = inet_ack_relation(k->data, k->len, o->data, o->len);

		if (r == INET_OTHER_FLOW)
			continue;
		if (r == INET_ACK_SUPERSEDES) {
			n->txq[i] = k;
			pkt_free(o);
			st.acks_merged++;
			return ERR_OK;
		}
		break;
	}
	if (n->ntx == TXQ)
		flush(n);
	n->txq[n->ntx++] = k;
	return ERR_OK;
}

/* lwIP's checksum work per netif (LWIP_CHECKSUM_CTRL_PER_NETIF): every checksum made in
 * software, or TCP's left to the device (linkoutput fills in the pseudo-header); every
 * one checked, or the IP header only (frame_check has checked it already, but it is 20
 * bytes) */
#define CSUM_GEN (NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_UDP | NETIF_CHECKSUM_GEN_TCP | \
		  NETIF_CHECKSUM_GEN_ICMP)
#define CSUM_GEN_OFFLOAD (CSUM_GEN & ~NETIF_CHECKSUM_GEN_TCP)
#define CSUM_CHECK (NETIF_CHECKSUM_CHECK_IP | NETIF_CHECKSUM_CHECK_UDP | \
		    NETIF_CHECKSUM_CHECK_TCP | NETIF_CHECKSUM_CHECK_ICMP)
#define CSUM_TRUSTED (NETIF_CHECKSUM_CHECK_IP | NETIF_CHECKSUM_CHECK_ICMP)

/* ---- receive */

static void rx_free(struct pbuf *p)
{
	struct rxpbuf *r = (struct rxpbuf *)p;
	bool heap = r->heap;

	pkt_free(r->pkt);
	if (heap)
		kfree(r);
}

/* Connections in TIME_WAIT kept at most (Linux's tcp_max_tw_buckets): lwIP keeps them in
 * one list for 2 MSL (120 s) and walks it for every segment no open connection takes (a
 * SYN, each), so a server closing 1,500 connections a second (HTTP/1.0) walked 100,000s:
 * http_hello served 1,526 requests a second with its profile topped by tcp_input and
 * this walk. Past TW_MAX the oldest go, as Linux's go past its limit. */
#define TW_MAX 256

/* A connection request from a port whose last connection lwIP keeps in TIME_WAIT (we
 * closed first): lwIP 2.1 answers the SYN with a bare ACK and ignores the peer's RST, so
 * the new connection fails until TIME_WAIT ends (2 MSL, 120 s). A Linux client reuses a
 * port as soon as the connection is closed on its side (make soak, 2 HTTP GETs a second:
 * two of them hung for 30 s in 3 minutes). RFC 1122 4.2.2.13 lets a SYN whose sequence
 * number is beyond the old connection's end reopen it, as Linux and the BSDs do: the old
 * connection goes, and lwIP hands the SYN to the listener. (core lock held) */
static void reopen_time_wait(const struct pkt *k)
{
	const uint8_t *d = k->data, *ip = d + ETH_HLEN;

	if (k->len < ETH_HLEN + 20 || d[12] != 0x08 || d[13] != 0x00 || ip[9] != 6)
		return;
	unsigned ihl = (ip[0] & 15u) * 4;
	const uint8_t *t = ip + ihl;

	if ((ip[6] & 0x3f) || ip[7] || k->len < ETH_HLEN + ihl + 20 ||
	    (t[13] & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
		return;
	uint16_t sport = lwip_ntohs(ld16(t)), dport = lwip_ntohs(ld16(t + 2));
	uint32_t src = ld32(ip + 12), dst = ld32(ip + 16), seq = lwip_ntohl(ld32(t + 4));

	unsigned kept = 0;

	for (struct tcp_pcb *p = tcp_tw_pcbs, *next; p; p = next) {
		next = p->next;
		if (p->remote_port == sport && p->local_port == dport &&
		    ip4_addr_get_u32(&p->remote_ip) == src && ip4_addr_get_u32(&p->local_ip) == dst) {
			/* else an old duplicate: lwIP's ACK is right */
			if (TCP_SEQ_GT(seq, p->rcv_nxt)) {
				tcp_abort(p);
				st.tw_reopened++;
			}
			continue;
		}
		/* the newest first (lwIP adds at the head): those past TW_MAX go */
		if (++kept > TW_MAX) {
			tcp_abort(p);
			st.tw_dropped++;
		}
	}
}

/* A pbuf over a received buffer's bytes from data + skip, the pbuf itself in the page in
 * front of them or behind them, else on the heap; NULL when out of memory (k stays the
 * caller's). Freeing the pbuf frees k. */
static struct pbuf *rx_pbuf(struct pkt *k, unsigned skip)
{
	uint8_t *page = k->page;
	uintptr_t head = (uintptr_t)(k->data - page), end = head + k->len;
	struct rxpbuf *r;

	if (head >= sizeof(*r))
		r = (struct rxpbuf *)page;
	else if (ALIGN_UP(end, 16) + sizeof(*r) <= PAGE_SIZE)
		r = (struct rxpbuf *)(page + ALIGN_UP(end, 16));
	else if (!(r = kmalloc(sizeof(*r))))
		return NULL;
	r->heap = (uint8_t *)r < page || (uint8_t *)r >= page + PAGE_SIZE;
	r->pkt = k;
	r->pc.custom_free_function = rx_free;
	struct pbuf *p = pbuf_alloced_custom(PBUF_RAW, (u16_t)(k->len - skip), PBUF_REF, &r->pc,
					     k->data + skip, (u16_t)(k->len - skip));

	if (!p && r->heap)
		kfree(r);
	return p;
}

/* A frame in several buffers (NETDEV_F_LRO): a TCP segment of up to 64 KiB, to us. Its
 * buffers become one pbuf chain, no copy, from the IP header (with the Ethernet header
 * the frame can pass lwIP's 16-bit lengths, so it goes to ip4_input here, as
 * ethernet_input would after checking the same). Its headers are in the first buffer
 * (frame_check_split). (core lock held) */
static void feed_large(struct nif *n, struct pkt *k)
{
	const uint8_t *d = k->data;
	struct pbuf *p = NULL;

	if (pkt_frame_len(k) - ETH_HLEN > 0xffff || d[12] != 0x08 || d[13] != 0x00 ||
	    memcmp(d, n->dev->mac, ETH_ALEN) || k->len <= ETH_HLEN) {
		st.large_refused++;
		pkt_free(k);
		return;
	}
	for (struct pkt *b = k, *next; b; b = next) {
		next = b->frag;
		b->frag = NULL;
		struct pbuf *q = rx_pbuf(b, b == k ? ETH_HLEN : 0);

		if (!q) {
			st.feed_drops++;
			pkt_free(b);
			pkt_free(next);
			if (p)
				pbuf_free(p);
			return;
		}
		if (p)
			pbuf_cat(p, q);
		else
			p = q;
	}
	st.large_in++;
	NETIF_SET_CHECKSUM_CTRL(&n->lw, (k->flags & PKT_CSUM_OK ? CSUM_TRUSTED : CSUM_CHECK) |
						n->csum_gen);
	ip4_input(p, &n->lw); /* it takes p, and frees it if it cannot use it */
}

/* core lock held: the frame goes to lwIP, which owns it from here */
static void feed(struct nif *n, struct pkt *k)
{
	if (k->frag) {
		feed_large(n, k);
		return;
	}
	if (k->len > 0xffff) {
		st.feed_drops++;
		pkt_free(k);
		return;
	}
	struct pbuf *p = rx_pbuf(k, 0);

	if (!p) {
		st.feed_drops++;
		pkt_free(k);
		return;
	}
	reopen_time_wait(k);
	/* a transport checksum the device checked (or, for a packet from the host's own
	 * stack, one never made: virtio's NEEDS_CSUM) is not checked again; lwIP reads the
	 * netif's flags while it handles this frame, under the core lock */
	NETIF_SET_CHECKSUM_CTRL(&n->lw, (k->flags & PKT_CSUM_OK ? CSUM_TRUSTED : CSUM_CHECK) |
						n->csum_gen);
	if (n->lw.input(p, &n->lw) != ERR_OK) {
		st.feed_drops++;
		pbuf_free(p);
	}
}

/* the flow that claims this frame, or NULL */
static struct flow *classify(const struct pkt *k)
{
	const uint8_t *d = k->data;

	if (k->len < ETH_HLEN + 20 || d[12] != 0x08 || d[13] != 0x00)
		return NULL;
	const uint8_t *ip = d + ETH_HLEN;
	unsigned ihl = (ip[0] & 15u) * 4;

	if ((ip[0] >> 4) != 4 || ihl < 20 || k->len < ETH_HLEN + ihl + 4)
		return NULL;
	if ((ip[6] & 0x3f) || ip[7]) /* a fragment: reassembly is the net thread's */
		return NULL;
	uint8_t proto = ip[9];

	if (proto != 6 && proto != 17)
		return NULL;
	uint32_t src = ld32(ip + 12);
	uint16_t sport = ld16(ip + ihl), dport = ld16(ip + ihl + 2);
	struct flow *best = NULL;
	/* a listening TCP flow takes only connection requests (SYN without ACK): segments of a
	 * connection not yet accepted go to the net thread, not to a channel that only an
	 * accept() call drains */
	bool any_ok = proto == 17 ||
		      (k->len >= ETH_HLEN + ihl + 14 && (ip[ihl + 13] & 0x12) == 0x02);

	for (unsigned i = 0; i < MAX_FLOWS; i++) {
		struct flow *f = __atomic_load_n(&flows[i], __ATOMIC_ACQUIRE);

		if (!f || f->proto != proto || f->lport != dport)
			continue;
		if (f->rip == src && f->rport == sport)
			return f;
		if (!f->rip && !best && any_ok)
			best = f;
	}
	return best;
}

/* Busy polling (net_poll_us=N; net/README.md, "Busy polling"; off by default): once
 * packets come, a device's receive thread turns its interrupts off, and keeps them off
 * until none came for N us. Meanwhile a CPU with nothing to run looks at the device
 * (net_idle) and wakes the thread when packets wait, and one about to halt asks the
 * device for an interrupt at the next packet (rx_arm); so a packet waits neither for a
 * busy CPU's interrupt nor for a halted one's timer. The thread itself looks at least
 * every tick (net_tick_us=, 1 ms), for CPUs that never idle. */
static uint64_t busy_poll_ns, busy_tick_ns = 1000000;

/* the idle loop's hook, on a CPU with nothing to run (also while it polls, and before it
 * halts: halting): lock-free */
static void net_idle(bool halting)
{
	unsigned k = __atomic_load_n(&nnifs, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < k; i++) {
		struct nif *n = nifs[i];
		struct netdev *d = n->dev;

		if (!__atomic_load_n(&n->polling, __ATOMIC_ACQUIRE))
			continue;
		if (halting && d->ops->rx_arm)
			d->ops->rx_arm(d); /* then the look below: nothing slips in between */
		if (d->ops->rx_pending && !__atomic_load_n(&n->idle_woke, __ATOMIC_ACQUIRE) &&
		    d->ops->rx_pending(d)) {
			__atomic_store_n(&n->idle_woke, true, __ATOMIC_SEQ_CST);
			__atomic_fetch_add(&n->st_idle_wakes, 1, __ATOMIC_RELAXED);
			sem_up(&n->rx_wake);
		}
	}
}

static void notify(struct netdev *d)
{
	struct nif *n = d->owner;

	sem_up(&n->rx_wake);
}

/* A device's receive side: poll, classify into channels, wake the owners. No protocol
 * work here (net channels). */
static int rx_thread(void *arg)
{
	struct nif *n = arg;
	struct netdev *d = n->dev;
	struct pkt *in[BATCH];
	struct flow *woken[BATCH];

	uint64_t last = 0; /* when packets last came */

	for (;;) {
		__atomic_store_n(&n->idle_woke, false, __ATOMIC_SEQ_CST);
		unsigned cnt = d->ops->poll(d, in, BATCH), nw = 0;
		bool busy = __atomic_load_n(&n->polling, __ATOMIC_RELAXED);

		if (!cnt) {
			uint64_t now = clock_ns();

			if (busy && now - last < busy_poll_ns) {
				sem_down(&n->rx_wake,
					 now + MIN(busy_tick_ns, busy_poll_ns - (now - last)));
				continue;
			}
			if (busy) { /* quiet for the window: interrupts on, and a last look */
				__atomic_store_n(&n->polling, false, __ATOMIC_SEQ_CST);
				d->ops->irq(d, true);
				continue;
			}
			sem_down(&n->rx_wake, now + 100 * MS);
			continue;
		}
		last = clock_ns();
		if (!busy && busy_poll_ns) {
			d->ops->irq(d, false);
			__atomic_store_n(&n->polling, true, __ATOMIC_SEQ_CST);
			n->st_busy++;
		}
		__atomic_store_n(&n->rx_busy, true, __ATOMIC_SEQ_CST);
		for (unsigned i = 0; i < cnt; i++) {
			enum frame_verdict v =
				frame_check_split(in[i]->data, in[i]->len, pkt_frame_len(in[i]));

			st.rx_frames++;
			if (v != FRAME_OK) {
				st.malformed++;
				st.malformed_by[v]++;
				pkt_free(in[i]);
				continue;
			}
			struct flow *f = n == nifs[0] ? classify(in[i]) : NULL;

			if (f)
				st.classified++;
			else
				st.to_default++;
			if (!f)
				f = &n->deflt;
			if (!chan_push(&f->ch, in[i])) {
				f->drops++;
				st.chan_drops++;
				pkt_free(in[i]);
				continue;
			}
			unsigned k = 0;

			while (k < nw && woken[k] != f)
				k++;
			if (k == nw)
				woken[nw++] = f;
		}
		for (unsigned k = 0; k < nw; k++) {
			if (woken[k]->wake)
				sem_up(woken[k]->wake);
			for (unsigned i = 0; i < NET_POLLERS; i++) {
				struct sem *p = __atomic_load_n(&woken[k]->poller[i],
								__ATOMIC_ACQUIRE);

				if (p)
					sem_up(p);
			}
		}
		__atomic_add_fetch(&n->rx_gen, 1, __ATOMIC_SEQ_CST);
		__atomic_store_n(&n->rx_busy, false, __ATOMIC_SEQ_CST);
	}
	return 0;
}

/* ---- flows */

int net_flow_add(struct flow *f)
{
	/* a flow in the table already: its channel is in use, never reset it */
	for (unsigned i = 0; i < MAX_FLOWS; i++)
		if (__atomic_load_n(&flows[i], __ATOMIC_SEQ_CST) == f)
			return -EEXIST;
	chan_init(&f->ch);
	f->drops = 0;
	for (unsigned i = 0; i < MAX_FLOWS; i++) {
		struct flow *none = NULL;

		if (__atomic_compare_exchange_n(&flows[i], &none, f, false, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return 0;
	}
	return -ENOSPC;
}

void net_flow_del(struct flow *f)
{
	for (unsigned i = 0; i < MAX_FLOWS; i++) {
		struct flow *g = f;

		__atomic_compare_exchange_n(&flows[i], &g, NULL, false, __ATOMIC_SEQ_CST,
					    __ATOMIC_SEQ_CST);
	}
	/* a receive thread in the middle of a batch may still push into it */
	net_rx_barrier();
	net_drain(f);
}

/* A receive thread's batch takes microseconds and never blocks: the wait yields (the
 * thread may be on this CPU) and spins, rather than sleeping. (It slept a millisecond a
 * look: every poll(2) ends here (sock_poll_disarm), and 330-680 polls a boot of make
 * bench's UDP and HTTP batch on qemu-q35 found a batch in hand.) */
void net_rx_barrier(void)
{
	for (unsigned i = 0; i < nnifs; i++) {
		struct nif *n = nifs[i];
		uint64_t gen = __atomic_load_n(&n->rx_gen, __ATOMIC_SEQ_CST);
		unsigned long spins = 0;

		while (__atomic_load_n(&n->rx_busy, __ATOMIC_SEQ_CST) &&
		       __atomic_load_n(&n->rx_gen, __ATOMIC_SEQ_CST) == gen) {
			if (!spins) /* (no core lock here) */
				__atomic_add_fetch(&st.rx_barrier_waits, 1, __ATOMIC_RELAXED);
			thread_yield();
			spin_wait(&spins);
		}
	}
}

static void tcp_unstick(void);

unsigned net_drain(struct flow *f)
{
	unsigned n = 0;
	struct pkt *k;

	if (chan_empty(&f->ch))
		return 0;
	net_lock();
	while ((k = chan_pop(&f->ch))) {
		feed(nifs[0], k);
		n++;
	}
	tcp_unstick();
	net_unlock();
	return n;
}

/* ---- big TCP segments (TSO_MAX_IP) */

u16_t net_tcp_segment(const struct tcp_pcb *pcb)
{
	struct netif *lw = ip4_route(ip_2_ip4(&pcb->remote_ip));
	unsigned mss = pcb->mss;

	for (unsigned i = 0; i < nnifs; i++) {
		struct nif *n = nifs[i];

		/* (an MSS other than the device's own: the peer's smaller one, which the
		 * device's cut would exceed, or a larger one, whose segments it cuts anyway) */
		if (&n->lw != lw || !n->tso || mss != n->dev->mtu - 40u)
			continue;
		unsigned segs = MIN((TSO_MAX_IP - 40) / mss, pcb->cwnd / 4 / mss);

		return (u16_t)(MAX(segs, 1u) * mss);
	}
	return (u16_t)mss;
}

/* lwIP 2.1.3's tcp_split_unsent_seg (tcp_out.c, built as lwip_tcp_split_unsent_seg: the
 * Makefile) moves the head segment's FIN and PSH to the new remainder but ORs the rest of
 * the old flags back into the head (TCPH_SET_FLAG), so a FIN that tcp_send_fin had put on
 * the last unsent segment goes out on both parts: the peer takes the first FIN and ends
 * the stream there, short by the remainder's bytes (hp_tcp_lossy: 296 bytes, the last
 * device segment of 1 MiB, or 2 x 1460 + 296, in 3 of 13 runs). Every split (the persist
 * timer's and tcp_unstick's) comes here, and the head keeps only what the remainder did
 * not take. */
err_t lwip_tcp_split_unsent_seg(struct tcp_pcb *pcb, u16_t split);

err_t tcp_split_unsent_seg(struct tcp_pcb *pcb, u16_t split)
{
	struct tcp_seg *head = pcb->unsent;
	u16_t len = head ? head->len : 0;
	err_t e = lwip_tcp_split_unsent_seg(pcb, split);

	if (e == ERR_OK && head && head->len < len && head->next &&
	    (TCPH_FLAGS(head->tcphdr) & TCP_FIN)) { /* (head->next: the remainder) */
		TCPH_UNSET_FLAG(head->tcphdr, TCPH_FLAGS(head->next->tcphdr) & (TCP_FIN | TCP_PSH));
		st.fin_splits++;
	}
	return e;
}

/* lwIP sends only segments whole within the window, the congestion window (which a
 * retransmission timeout sets to one MSS) or the peer's (which a slow reader shrinks): a
 * big segment first in line with nothing in flight would wait there for ever, or, the
 * peer's window being the smaller, lwIP's persist timer would split it to that window,
 * and its split asserts at most one MSS (a kernel panic). So such a segment is split to
 * what the window takes, in whole MSS, here; a window under one MSS is left to the
 * persist timer. Under the core lock: after each drain (the window an acknowledgement
 * grew takes the next piece at once) and around the net thread's timers (so that the
 * persist timer never sees a big segment, and a timeout's window of one is acted on). */
static void tcp_unstick(void)
{
	for (struct tcp_pcb *pcb = tcp_active_pcbs; pcb; pcb = pcb->next) {
		struct tcp_seg *seg = pcb->unsent;
		tcpwnd_size_t w = MIN(pcb->cwnd, pcb->snd_wnd);
		u16_t mss = pcb->mss;

		if (!seg || pcb->unacked || seg->len <= w || w < mss)
			continue;
		/* (tcp_split_unsent_seg asserts a split of at most the MSS: it is made for the
		 * persist timer's, to a window smaller than one segment) */
		pcb->mss = (u16_t)(w / mss * mss);
		err_t e = tcp_split_unsent_seg(pcb, pcb->mss);

		pcb->mss = mss;
		if (e == ERR_OK) {
			st.big_tcp_split++;
			tcp_output(pcb);
		}
	}
}

/* ---- the net thread: default channels and timers */

static int net_thread(void *arg)
{
	for (;;) {
		for (unsigned i = 0; i < nnifs; i++) {
			struct nif *n = nifs[i];
			struct pkt *k;

			if (chan_empty(&n->deflt.ch))
				continue;
			net_lock();
			while ((k = chan_pop(&n->deflt.ch)))
				feed(n, k);
			net_unlock();
		}
		net_lock();
		tcp_unstick();
		sys_check_timeouts();
		tcp_unstick();
		uint32_t sleep = sys_timeouts_sleeptime();
		net_unlock();
		sem_down(&net_wake, clock_ns() + MIN(sleep, 100u) * MS);
	}
	return 0;
}

/* ---- bring-up */

/* What the device does for us: known once it is connected (a Xen vif negotiates with its
 * backend, maybe after nif_init): set again when the link is up. */
static void nif_offloads(struct nif *n)
{
	n->csum_tx = n->dev->features & NETDEV_F_CSUM_TX;
	n->tso = n->csum_tx && (n->dev->features & NETDEV_F_TSO4);
	n->csum_gen = n->csum_tx ? CSUM_GEN_OFFLOAD : CSUM_GEN;
	NETIF_SET_CHECKSUM_CTRL(&n->lw, CSUM_CHECK | n->csum_gen);
	/* big TCP segments pass lwIP's IP layer whole where the device cuts them (TSO_MAX_IP) */
	n->lw.mtu = n->tso ? TSO_MAX_IP : n->dev->mtu;
}

static err_t nif_init(struct netif *lw)
{
	struct nif *n = lw->state;

	lw->name[0] = 'e';
	lw->name[1] = 'n';
	lw->hwaddr_len = ETH_ALEN;
	memcpy(lw->hwaddr, n->dev->mac, ETH_ALEN);
	lw->mtu = n->dev->mtu;
	lw->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	lw->output = ip_out;
	lw->linkoutput = linkoutput;
	nif_offloads(n);
	return ERR_OK;
}

/* "A.B.C.D[/prefix]" */
static int parse_cidr(const char *s, ip4_addr_t *ip, ip4_addr_t *mask)
{
	char buf[24];
	uint8_t a[4];
	uint64_t prefix = 24;

	strlcpy(buf, s, sizeof(buf));
	char *slash = strchr(buf, '/');

	if (slash) {
		*slash = 0;
		if (parse_u64(slash + 1, &prefix) || prefix < 1 || prefix > 32)
			return -EINVAL;
	}
	if (inet_parse_ip(buf, a))
		return -EINVAL;
	IP4_ADDR(ip, a[0], a[1], a[2], a[3]);
	ip4_addr_set_u32(mask, lwip_htonl((uint32_t)(0xffffffffull << (32 - prefix))));
	return 0;
}

static int start(const char *cmdline, uint64_t deadline)
{
	char ipbuf[24] = "", gwbuf[20] = "";
	ip4_addr_t ip, mask, gw;
	bool dhcp = cmdline_get(cmdline, "ip", ipbuf, sizeof(ipbuf)) < 0 || !strcmp(ipbuf, "dhcp");

	ip4_addr_set_zero(&ip);
	ip4_addr_set_zero(&mask);
	ip4_addr_set_zero(&gw);
	if (!dhcp && parse_cidr(ipbuf, &ip, &mask)) {
		kprintf("net: ip=%s: not A.B.C.D[/prefix]\n", ipbuf);
		return -EINVAL;
	}
	if (cmdline_get(cmdline, "gw", gwbuf, sizeof(gwbuf)) >= 0) {
		uint8_t a[4];

		if (inet_parse_ip(gwbuf, a)) {
			kprintf("net: gw=%s: not A.B.C.D\n", gwbuf);
			return -EINVAL;
		}
		IP4_ADDR(&gw, a[0], a[1], a[2], a[3]);
	}
	uint64_t us;

	if (cmdline_get_u64(cmdline, "net_poll_us", &us) == 0)
		busy_poll_ns = MIN(us, 1000000) * 1000;
	if (cmdline_get_u64(cmdline, "net_tick_us", &us) == 0 && us)
		busy_tick_ns = MIN(us, 100000) * 1000;
	if (cmdline_get_u64(cmdline, "net_drop_tx", &us) == 0)
		drop_tx = us;
	sem_init(&net_wake, 0);
	random_bytes(isn_key, sizeof(isn_key));
	net_lock();
	lwip_init();
	net_unlock();
	for (unsigned i = 0; i < netdev_count() && nnifs < MAX_NIFS; i++) {
		struct nif *n = kcalloc(1, sizeof(*n));

		if (!n)
			return -ENOMEM;
		n->dev = netdev_get(i);
		sem_init(&n->rx_wake, 0);
		chan_init(&n->deflt.ch);
		n->deflt.wake = &net_wake;
		net_lock();
		/* only the first device gets the static address; others use DHCP */
		bool first = nnifs == 0;

		netif_add(&n->lw, first && !dhcp ? &ip : IP4_ADDR_ANY4,
			  first && !dhcp ? &mask : IP4_ADDR_ANY4, first ? &gw : IP4_ADDR_ANY4, n,
			  nif_init, ethernet_input);
		if (first)
			netif_set_default(&n->lw);
		netif_set_up(&n->lw);
		/* lwIP's link follows the device's: its first frames (a gratuitous ARP, DHCP's
		 * discover) would go to a link still down (a Xen vif connecting) and be lost */
		if (READ_ONCE(n->dev->link_up))
			netif_set_link_up(&n->lw);
		if (!first || dhcp)
			dhcp_start(&n->lw);
		net_unlock();
		nifs[nnifs++] = n;
		n->dev->owner = n;
		n->dev->notify = notify;
		n->dev->ops->irq(n->dev, true);
		if (!thread_create("netrx", rx_thread, n, CPU_ANY))
			return -ENOMEM;
	}
	if (!nnifs)
		return -ENODEV;
	if (busy_poll_ns)
		sched_set_idle_hook(net_idle);
	if (!thread_create("net", net_thread, NULL, CPU_ANY))
		return -ENOMEM;
	/* the links, 10 s at most: a Xen vif may still be connecting to its backend, and what
	 * is sent meanwhile is lost (seen: a test's peer starting on "ready" before the link
	 * was, and an app's first replies going nowhere) */
	for (unsigned i = 0; i < nnifs; i++) {
		uint64_t until = MIN(deadline, clock_ns() + 10000 * MS);

		while (!READ_ONCE(nifs[i]->dev->link_up) && clock_ns() < until)
			thread_sleep(20 * MS);
		bool up = READ_ONCE(nifs[i]->dev->link_up);

		if (!up)
			kprintf("net: %s: the link is still down; going on without waiting\n",
				nifs[i]->dev->name);
		net_lock();
		if (up)
			nif_offloads(nifs[i]);
		netif_set_link_up(&nifs[i]->lw); /* (no-op when it is up already) */
		net_unlock();
	}
	/* DHCP: wait for the first device's lease (1 ms steps: the wait is the boot's) */
	uint64_t t0 = clock_ns();

	while (dhcp && !net_addr() && clock_ns() < deadline)
		thread_sleep(MS);
	uint32_t a = net_addr();

	if (!a)
		return -ETIMEDOUT;
	char took[40] = "";

	if (dhcp)
		ksnprintf(took, sizeof(took), " after %lu ms",
			  (unsigned long)((clock_ns() - t0) / MS));
	kprintf("net: %s %u.%u.%u.%u%s on %s (%u device%s)%s\n",
		dhcp ? "DHCP lease" : "address", a & 255, a >> 8 & 255, a >> 16 & 255, a >> 24,
		dhcp ? "" : " (static)", nifs[0]->dev->name, nnifs, nnifs == 1 ? "" : "s", took);
	return 0;
}

int net_start(const char *cmdline, uint64_t deadline)
{
	if (!started) {
		started = true;
		start_rc = start(cmdline, deadline);
	}
	return start_rc;
}

uint32_t net_addr(void)
{
	if (!nnifs)
		return 0;
	return ip4_addr_get_u32(netif_ip4_addr(&nifs[0]->lw));
}

void net_quiesce(uint64_t deadline)
{
	for (unsigned i = 0; i < nnifs; i++)
		while (!chan_empty(&nifs[i]->deflt.ch) && clock_ns() < deadline)
			thread_sleep(MS);
	/* the net thread pops under the core lock: once we hold it, what it popped is done */
	net_lock();
	net_unlock();
}

/* connections with data or a FIN their peer has not acknowledged, and those bytes (core
 * lock held) */
static unsigned unacked(uint64_t *bytes)
{
	unsigned n = 0;

	*bytes = 0;
	for (struct tcp_pcb *p = tcp_active_pcbs; p; p = p->next) {
		bool fin = p->state == FIN_WAIT_1 || p->state == CLOSING || p->state == LAST_ACK;

		if (p->unsent || p->unacked || fin) {
			n++;
			*bytes += p->snd_lbb - p->lastack;
		}
	}
	return n;
}

void net_linger(uint64_t deadline)
{
	uint64_t t0 = clock_ns(), bytes = 0, bytes0;

	net_lock();
	unsigned n0 = unacked(&bytes0), n = n0;

	net_unlock();
	while (n && clock_ns() < deadline) {
		thread_sleep(5 * MS);
		net_lock();
		n = unacked(&bytes);
		net_unlock();
	}
	unsigned long ms = (unsigned long)((clock_ns() - t0) / MS);

	if (n0 && !n)
		kprintf("net: %u connections had %lu bytes on their way when the app ended: all "
			"acknowledged %lu ms later\n", n0, bytes0, ms);
	else if (n)
		kprintf("net: %u connections still had %lu bytes their peers had not acknowledged "
			"after %lu ms; the VM ends without them\n", n, bytes, ms);
}

void net_stats(struct net_stats *s)
{
	*s = st;
	s->ip_drop = lwip_stats.ip.drop;
	s->ip_chkerr = lwip_stats.ip.chkerr;
	s->ip_lenerr = lwip_stats.ip.lenerr;
	s->ip_proterr = lwip_stats.ip.proterr;
	s->udp_chkerr = lwip_stats.udp.chkerr;
	s->udp_drop = lwip_stats.udp.drop;
	s->tcp_chkerr = lwip_stats.tcp.chkerr;
	s->tcp_drop = lwip_stats.tcp.drop;
	s->icmp_drop = lwip_stats.icmp.drop;
	s->link_drop = lwip_stats.link.drop;
	s->etharp_drop = lwip_stats.etharp.drop;
	s->icmp_chkerr = lwip_stats.icmp.chkerr;
	s->dropped = s->malformed + s->udp_chkerr + s->tcp_chkerr + s->icmp_chkerr +
		     s->large_refused;
	for (unsigned i = 0; i < nnifs; i++)
		s->dropped += nifs[i]->dev->st.rx_bad;
}

void net_report(void)
{
	struct net_stats s;

	net_stats(&s);
	kprintf("net: %lu frames in (%lu to flow channels, %lu to the default one, %lu channel "
		"drops), %lu out (%lu dropped, %lu ms waiting for ring room)\n",
		s.rx_frames, s.classified, s.to_default, s.chan_drops, s.tx_frames, s.tx_drops,
		s.tx_waits);
	for (unsigned i = 0; i < nnifs; i++) {
		const struct netdev *d = nifs[i]->dev;
		uint64_t pk = d->st.rx_packets + d->st.tx_packets;

		kprintf("net: %s: %lu packets in, %lu out, %lu dropped in, %lu refused out, "
			"%lu bad; %lu kicks and %lu interrupts (%lu and %lu per 1000 packets)\n",
			d->name, d->st.rx_packets, d->st.tx_packets, d->st.rx_dropped,
			d->st.tx_dropped, d->st.rx_bad, d->st.kicks, d->st.irqs,
			pk ? d->st.kicks * 1000 / pk : 0, pk ? d->st.irqs * 1000 / pk : 0);
		if (busy_poll_ns)
			kprintf("net: %s: busy polling (%lu us): %lu windows, %lu wakes by an "
				"idle CPU\n", d->name, busy_poll_ns / 1000, nifs[i]->st_busy,
				__atomic_load_n(&nifs[i]->st_idle_wakes, __ATOMIC_RELAXED));
		if (d->ops->rings) {
			char buf[640];

			d->ops->rings(nifs[i]->dev, buf, sizeof(buf));
			kprintf("net: %s: %s\n", d->name, buf);
		}
	}
	kprintf("net: lwIP dropped: ip %lu (checksum %lu, length %lu, protocol %lu), udp %lu "
		"(checksum %lu), tcp %lu (checksum %lu), icmp %lu (checksum %lu), link %lu, other "
		"protocols %lu\n",
		s.ip_drop, s.ip_chkerr, s.ip_lenerr, s.ip_proterr, s.udp_drop, s.udp_chkerr,
		s.tcp_drop, s.tcp_chkerr, s.icmp_drop, s.icmp_chkerr, s.link_drop, s.etharp_drop);
	if (s.feed_drops)
		kprintf("net: %lu frames lwIP could not take (no memory for them)\n", s.feed_drops);
	if (s.arp_refused)
		kprintf("net: %lu packets refused while their next hop's address was being "
			"resolved (the ARP queue was full)\n", s.arp_refused);
	if (s.large_in || s.large_refused)
		kprintf("net: %lu large frames in (the device's segments received whole), %lu "
			"refused (not IPv4 to us, or larger than 64 KiB)\n", s.large_in,
			s.large_refused);
	if (s.big_tcp || s.big_tcp_split)
		kprintf("net: %lu TCP segments of many MSS sent for the device to cut, %lu split "
			"for a window that no longer took them\n", s.big_tcp,
			s.big_tcp_split);
	if (s.tso_gathered)
		kprintf("net: %lu TCP segments gathered into larger ones the device cuts (TSO)\n",
			s.tso_gathered);
	if (drop_tx)
		kprintf("net: %lu TCP frames lost on purpose (net_drop_tx=%lu: one in %lu)\n",
			s.lost_on_purpose, drop_tx, drop_tx);
	if (s.tcp_isns)
		kprintf("net: %lu TCP connections began at unpredictable sequence numbers (RFC "
			"6528)\n", s.tcp_isns);
	if (s.fin_splits)
		kprintf("net: %lu FINs taken off the first part of a split segment (lwIP's "
			"tcp_split_unsent_seg left them on both)\n", s.fin_splits);
	if (s.tcp_resets)
		kprintf("net: %lu TCP resets sent (a connection closed with data it had not read, "
			"aborted, or not known here)\n", s.tcp_resets);
	if (s.rx_barrier_waits)
		kprintf("net: %lu waits for a receive thread to finish its batch (a poll's end, a "
			"flow's removal)\n", s.rx_barrier_waits);
	if (s.acks_merged)
		kprintf("net: %lu acknowledgements made needless by later ones before they went "
			"out\n", s.acks_merged);
	if (s.tw_reopened)
		kprintf("net: %lu connection requests reopened a connection in TIME_WAIT\n",
			s.tw_reopened);
	if (s.tw_dropped)
		kprintf("net: %lu connections in TIME_WAIT ended early (more than %u)\n",
			s.tw_dropped, TW_MAX);
	if (s.malformed) {
		kprintf("net: %lu malformed frames refused before lwIP:", s.malformed);
		for (unsigned v = 1; v < FRAME_VERDICTS; v++)
			if (s.malformed_by[v])
				kprintf(" %s %lu", frame_verdict_name(v), s.malformed_by[v]);
		kprintf("\n");
	}
}
