/* netfront: a Xen virtual NIC (xen/io/netif.h) as a struct netdev.
 *
 * Queue pairs, as Linux's netfront: one per vCPU up to the backend's
 * multi-queue-max-queues (and NF_MAX_QUEUES, and the xnet_queues=N option), each a tx and
 * an rx ring with one event channel, or one each when the backend offers
 * feature-split-event-channels (xnet_split=0 keeps one). A frame goes out on its flow's
 * queue (netfront_flow_queue: a TCP or UDP flow stays on one queue, in order); poll takes
 * what every queue received. Queue i's events go to vCPU i. Receive is copy mode: we post
 * a granted page per buffer (cleared first), the backend copies a frame into it. Transmit
 * grants each packet's page read-only, with everything in it but the frame cleared (a v1
 * grant shows the backend the whole page). Completions are reaped by the next xmit or
 * poll, so sending costs no interrupt. Every response is copied out of the shared ring
 * once and checked there (id posted and not yet answered, status, offset + length within
 * the page) before use; a bad one is dropped and counted. A response index beyond our
 * requests means the backend lies about the ring itself: the device stops (reported once),
 * the backend is told (our state Closing) and everything is given back once it closes;
 * the device stays down until a backend connects again.
 *
 * The connection follows the backend's state (xenbus): InitWait -> we connect; Closing or
 * Closed, or our node removed (xl network-detach) -> we disconnect, fail what is in flight
 * and keep the netdev with its link down; the backend coming back (a restart, or
 * xl network-attach) -> we connect again. xmit and poll run under the device's mutex, so
 * they never see a half-torn-down ring. */
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "common/console.h"
#include "common/hal.h"
#include "common/netdev.h"
#include "hv_xen/events.h"
#include "hv_xen/grant.h"
#include "hv_xen/hypercall.h"
#include "hv_xen/platform.h"
#include "hv_xen/ring.h"
#include "hv_xen/xenbus.h"
#include "lib/cmdline.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include "netfront/nf.h"

#define RX_FILL 64 /* receive buffers kept posted */
#define TX_STALL_NS 1000000000ull /* the backend answered no transmit request for this long */
/* the largest packet sent: 2^4 pages (net/core.c's TSO_ORDER), 16 slots; Linux's
 * backend takes up to XEN_NETBK_LEGACY_SLOTS_MAX (18) */
#define TX_MAX_ORDER 4

static unsigned count;

static void kick(struct nf *nf, unsigned port)
{
	evtchn_send(port);
	nf->nd.st.kicks++;
}

/* ---- transmit */

/* With the lock held, after netfront_reap_tx. A backend that answers none of a queue's
 * waiting transmit requests for TX_STALL_NS may have missed its notification: it gets
 * another one each second, and the stall is reported (once) with its end, so a backend
 * that stopped taking requests shows in the log rather than as a silent network. */
static void tx_watch(struct nfq *q)
{
	struct nf *nf = q->nf;
	RING_IDX answered = q->tx.rsp_cons;
	uint64_t now;

	if (nf->broken)
		return;
	if (answered != q->tx_seen || q->tx.req_prod_pvt == answered) {
		if (q->tx_stall_since)
			kprintf("%s: the backend answers transmit requests again, after %lu ms "
				"(queue %u)\n",
				nf->nd.name, (clock_ns() - q->tx_stall_since) / 1000000, q->index);
		q->tx_seen = answered;
		q->tx_quiet_since = q->tx_stall_since = 0;
		return;
	}
	now = clock_ns();
	if (!q->tx_quiet_since) {
		q->tx_quiet_since = now;
		return;
	}
	if (now - q->tx_quiet_since < TX_STALL_NS)
		return;
	if (!q->tx_stall_since) {
		q->tx_stall_since = q->tx_quiet_since;
		nf->nd.st.tx_stalls++;
		kprintf("%s: the backend answered none of %u transmit requests for %lu ms "
			"(queue %u: requests %u, answered %u, it wants a kick at %u); notifying "
			"it again\n",
			nf->nd.name, q->tx.req_prod_pvt - answered,
			(now - q->tx_quiet_since) / 1000000, q->index, q->tx.req_prod_pvt, answered,
			__atomic_load_n(&q->tx.sring->req_event, __ATOMIC_ACQUIRE));
	}
	q->tx_quiet_since = now;
	kick(nf, q->tx_port);
}

/* With the lock held: queues p on q, one slot per page its frame spans; a TCP segment
 * for the backend to cut (gso_size, net/core.c's gathered ones) has an extra-info slot
 * after its first with the GSO facts (xen/io/netif.h, "Guest transmit"). false when q
 * has no room (p stays the caller's). */
static bool tx_one(struct nfq *q, struct pkt *p)
{
	struct nf *nf = q->nf;
	uint32_t off = p->data - (uint8_t *)p->page, end = off + p->len;
	unsigned slots = (end + PAGE_SIZE - 1) / PAGE_SIZE, extra = p->gso_size ? 1 : 0;
	bool csum = (p->flags & PKT_CSUM_PARTIAL) && (nf->nd.features & NETDEV_F_CSUM_TX);
	int ref[1 << TX_MAX_ORDER];

	if (p->len < ETH_HLEN || off >= PAGE_SIZE || end > PAGE_SIZE << p->order ||
	    p->order > TX_MAX_ORDER || p->len > XEN_NETIF_MAX_TX_SIZE ||
	    ((slots > 1 || extra) && !(nf->tso && csum))) {
		/* not sendable (a large packet after a backend without GSO came): dropped */
		nf->nd.st.tx_dropped++;
		pkt_free(p);
		return true;
	}
	if (RING_FREE_REQUESTS(&q->tx) < slots + extra || q->tx_nfree < slots)
		return false;
	/* A v1 grant covers the whole page (xen/grant_table.h), and the pages are not cleared
	 * when allocated: the backend must find nothing but the frame in them. */
	memset(p->page, 0, off);
	memset(p->data + p->len, 0, slots * PAGE_SIZE - end);
	for (unsigned k = 0; k < slots; k++) {
		ref[k] = gnttab_grant(nf->xb->otherend_id,
				      xen_gfn((uint8_t *)p->page + k * PAGE_SIZE), true);
		if (ref[k] < 0) {
			while (k--) /* never shown to the backend: they end */
				gnttab_end(ref[k]);
			return false;
		}
	}
	uint16_t prev = NF_TX_END;

	for (unsigned k = 0; k < slots; k++) {
		uint16_t id = q->tx_free[--q->tx_nfree];
		netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);
		uint32_t from = k ? k * PAGE_SIZE : off, to = MIN(end, (k + 1) * PAGE_SIZE);

		req->gref = ref[k];
		req->offset = from - k * PAGE_SIZE;
		req->id = id;
		req->size = k ? to - from : p->len; /* the first: the whole packet's */
		req->flags = k + 1 < slots ? NETTXF_more_data : 0;
		if (!k && csum)
			req->flags |= NETTXF_csum_blank | NETTXF_data_validated;
		if (!k && extra) {
			netif_extra_info_t *x = (void *)RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);

			req->flags |= NETTXF_extra_info;
			*x = (netif_extra_info_t){ .type = XEN_NETIF_EXTRA_TYPE_GSO,
						   .u.gso = { .size = p->gso_size,
							      .type = XEN_NETIF_GSO_TYPE_TCPV4 } };
			q->tx_extras++;
		}
		netfront_tx_slot(q, id, prev, p, ref[k]);
		prev = id;
	}
	q->tx_packets++;
	nf->nd.st.tx_packets++;
	nf->nd.st.tx_bytes += p->len;
	return true;
}

/* With the lock held, once resp.c found the backend lying about a ring's indexes: the
 * backend is told we gave up (our state Closing; it closes too and we let go of
 * everything, nf_otherend_changed), rather than left with a frontend that went silent.
 * The device stays down until a backend connects again (InitWait). */
static void give_up(struct nf *nf)
{
	if (!nf->broken || nf->gave_up)
		return;
	nf->gave_up = true;
	int rc = xenbus_switch_state(nf->xb, XenbusStateClosing);

	kprintf("%s: told %s we closed the device (%d)\n", nf->nd.name, nf->xb->otherend, rc);
}

static unsigned nf_xmit(struct netdev *d, struct pkt **pkts, unsigned n)
{
	struct nf *nf = container_of(d, struct nf, nd);
	unsigned sent = 0, used = 0; /* used: a bit per queue given packets */

	mutex_lock(&nf->lock, NO_DEADLINE);
	/* nothing before the backend is Connected (nf_otherend_changed says why) */
	if (!nf->connected || nf->broken || !nf->nd.link_up) {
		mutex_unlock(&nf->lock);
		return 0;
	}
	for (unsigned i = 0; i < nf->nq; i++)
		netfront_reap_tx(&nf->q[i]);
	for (; sent < n && !nf->broken; sent++) {
		struct pkt *p = pkts[sent];
		unsigned qi = netfront_flow_queue(p->data, p->len, nf->nq);

		/* a full queue ends the batch: the rest wait, in order, for the next try */
		if (!tx_one(&nf->q[qi], p))
			break;
		used |= 1u << qi;
	}
	for (unsigned i = 0; i < nf->nq && !nf->broken; i++) {
		struct nfq *q = &nf->q[i];
		int notify;

		if (used & 1u << i) {
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->tx, notify);
			if (notify)
				kick(nf, q->tx_port);
		}
		tx_watch(q);
	}
	give_up(nf);
	mutex_unlock(&nf->lock);
	return sent;
}

/* ---- receive */

static void refill_rx(struct nfq *q)
{
	struct nf *nf = q->nf;
	int notify;
	bool any = false;

	while (q->rx_nfree > RX_SIZE - RX_FILL && !RING_FULL(&q->rx)) {
		struct pkt *p = pkt_alloc();

		if (!p)
			break;
		/* the backend can read all of a page it may write into: none of our old data */
		memset(p->page, 0, PAGE_SIZE);
		int ref = gnttab_grant(nf->xb->otherend_id, xen_gfn(p->page), false);

		if (ref < 0) {
			pkt_free(p);
			break;
		}
		uint16_t id = q->rx_free[--q->rx_nfree];
		RING_IDX at = q->rx.req_prod_pvt++;
		netif_rx_request_t *req = RING_GET_REQUEST(&q->rx, at);

		req->id = id;
		req->gref = ref;
		q->rx_id_at[at % RX_SIZE] = id;
		q->rx_pkt[id] = p;
		q->rx_ref[id] = ref;
		any = true;
	}
	if (!any)
		return;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->rx, notify);
	if (notify)
		kick(nf, q->rx_port);
}

static unsigned nf_poll(struct netdev *d, struct pkt **pkts, unsigned max)
{
	struct nf *nf = container_of(d, struct nf, nd);
	unsigned n = 0;

	mutex_lock(&nf->lock, NO_DEADLINE);
	/* no receive buffer before the backend is Connected (nf_otherend_changed) */
	if (!nf->connected || nf->broken || !nf->nd.link_up) {
		mutex_unlock(&nf->lock);
		return 0;
	}
	/* each poll starts at the next queue: a busy one does not keep the others waiting */
	unsigned first = nf->rx_next++ % nf->nq;

	for (unsigned k = 0; k < nf->nq && !nf->broken; k++) {
		struct nfq *q = &nf->q[(first + k) % nf->nq];

		if (n < max)
			n += netfront_take_rx(q, pkts + n, max - n);
		if (nf->broken)
			break;
		refill_rx(q);
		netfront_reap_tx(q);
		tx_watch(q);
	}
	give_up(nf);
	mutex_unlock(&nf->lock);
	return n;
}

/* Responses wait in a receive ring: no lock, any CPU. A ring given up meanwhile is still
 * our memory (the direct map), and a wrong answer costs a poll. */
static bool nf_rx_pending(struct netdev *d)
{
	struct nf *nf = container_of(d, struct nf, nd);

	for (unsigned i = 0; i < NF_MAX_QUEUES; i++) {
		const netif_rx_sring_t *r = __atomic_load_n(&nf->pend_ring[i], __ATOMIC_ACQUIRE);

		if (r && __atomic_load_n(&r->rsp_prod, __ATOMIC_ACQUIRE) !=
				 __atomic_load_n(&nf->pend_cons[i], __ATOMIC_ACQUIRE))
			return true;
	}
	return false;
}

/* Busy polling, a CPU about to halt: each receive ring's event re-armed at what we took,
 * without the lock (rx_thread may be polling elsewhere: at worst an event it did not
 * need). The caller then looks (nf_rx_pending). */
static void nf_rx_arm(struct netdev *d)
{
	struct nf *nf = container_of(d, struct nf, nd);

	for (unsigned i = 0; i < NF_MAX_QUEUES; i++) {
		netif_rx_sring_t *r = __atomic_load_n(&nf->pend_ring[i], __ATOMIC_ACQUIRE);

		if (r)
			__atomic_store_n(&r->rsp_event,
					 __atomic_load_n(&nf->pend_cons[i], __ATOMIC_ACQUIRE) + 1,
					 __ATOMIC_SEQ_CST);
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Off: the receive rings' response events are not re-armed (netfront_take_rx), so the
 * backend sends none. On: re-armed, and a last look: what came meanwhile is notified. */
static void nf_irq(struct netdev *d, bool on)
{
	struct nf *nf = container_of(d, struct nf, nd);
	int more = 0;

	__atomic_store_n(&nf->irq_on, on, __ATOMIC_SEQ_CST);
	if (!on)
		return;
	mutex_lock(&nf->lock, NO_DEADLINE);
	for (unsigned i = 0; nf->connected && !nf->broken && i < nf->nq; i++) {
		int m;

		RING_FINAL_CHECK_FOR_RESPONSES(&nf->q[i].rx, m);
		more |= m;
	}
	mutex_unlock(&nf->lock);
	void (*notify)(struct netdev *) = __atomic_load_n(&nf->nd.notify, __ATOMIC_ACQUIRE);

	if (more && notify)
		notify(&nf->nd);
}

/* interrupt context: only wake the owner */
static void nf_event(void *arg)
{
	struct nf *nf = arg;

	/* queues deliver on several vCPUs at once */
	__atomic_fetch_add(&nf->nd.st.irqs, 1, __ATOMIC_RELAXED);
	void (*notify)(struct netdev *) = __atomic_load_n(&nf->nd.notify, __ATOMIC_ACQUIRE);

	/* (also while busy polling: then only an event nf_rx_arm asked for comes) */
	if (notify)
		notify(&nf->nd);
}

/* e.g. "queue 0: tx 113 requests, 2 answered, kick at 2; rx 64 posted, 10 filled, kick
 * at 11; 12 events; ...". A backend that stopped taking requests shows as answered far
 * behind requests. */
static void nf_rings(struct netdev *d, char *buf, unsigned len)
{
	struct nf *nf = container_of(d, struct nf, nd);
	unsigned at = 0;

	mutex_lock(&nf->lock, NO_DEADLINE);
	if (!nf->connected) {
		ksnprintf(buf, len, "not connected");
	} else if (nf->broken) {
		ksnprintf(buf, len, "stopped: the backend lied about a ring's indexes");
	} else {
		for (unsigned i = 0; i < nf->nq && at < len; i++) {
			const struct nfq *q = &nf->q[i];
			const netif_tx_sring_t *t = q->tx.sring;
			const netif_rx_sring_t *r = q->rx.sring;

			at += ksnprintf(buf + at, len - at,
					"queue %u: tx %u requests, %u answered, kick at %u; rx %u "
					"posted, %u filled, kick at %u; %lu out, %lu in, %lu events; ",
					i, q->tx.req_prod_pvt,
					__atomic_load_n(&t->rsp_prod, __ATOMIC_ACQUIRE),
					__atomic_load_n(&t->req_event, __ATOMIC_ACQUIRE),
					q->rx.req_prod_pvt,
					__atomic_load_n(&r->rsp_prod, __ATOMIC_ACQUIRE),
					__atomic_load_n(&r->req_event, __ATOMIC_ACQUIRE), q->tx_packets,
					q->rx_packets,
					q->tx_irq.count + (nf->split ? q->rx_irq.count : 0));
		}
		if (at < len)
			ksnprintf(buf + at, len - at, "%lu transmit stalls", d->st.tx_stalls);
	}
	mutex_unlock(&nf->lock);
}

/* test=net_lie: queue 0's transmit responses "run past" our requests. Nothing else
 * writes that index while we send nothing, so the next poll or xmit sees the lie. */
static int nf_lie(struct netdev *d)
{
	struct nf *nf = container_of(d, struct nf, nd);
	int rc = -ENOTCONN;

	mutex_lock(&nf->lock, NO_DEADLINE);
	if (nf->connected && !nf->broken) {
		__atomic_store_n(&nf->q[0].tx.sring->rsp_prod, nf->q[0].tx.req_prod_pvt + 5,
				 __ATOMIC_RELEASE);
		rc = 0;
	}
	mutex_unlock(&nf->lock);
	return rc;
}

static const struct netdev_ops nf_ops = {
	.xmit = nf_xmit,
	.poll = nf_poll,
	.rx_pending = nf_rx_pending,
	.rx_arm = nf_rx_arm,
	.irq = nf_irq,
	.rings = nf_rings,
	.lie = nf_lie,
};

/* ---- connection */

static void close_port(unsigned port)
{
	struct evtchn_close c = { .port = port };

	xen_event_channel_op(EVTCHNOP_close, &c);
}

static void end_ring(int ref, void **page)
{
	if (*page) {
		uint64_t pfn = mm_va_pfn(*page);

		if (ref >= 0)
			gnttab_release(ref, pfn);
		else
			mm_frame_free(pfn);
	}
	*page = NULL;
}

/* Gives back what queue q holds (packets in flight fail), whatever part of it was set up. */
static void queue_down(struct nf *nf, struct nfq *q)
{
	if (q->rx_bound) /* split channels only */
		hal->irq_unbind(&q->rx_irq);
	if (q->tx_bound)
		hal->irq_unbind(&q->tx_irq);
	if (q->index < NF_MAX_QUEUES)
		__atomic_store_n(&nf->pend_ring[q->index], NULL, __ATOMIC_SEQ_CST);
	if (q->rx_port && q->rx_port != q->tx_port)
		close_port(q->rx_port);
	if (q->tx_port)
		close_port(q->tx_port);
	q->tx_bound = q->rx_bound = false;
	q->tx_port = q->rx_port = 0;
	for (unsigned id = 0; id < TX_SIZE; id++) {
		if (q->tx_pkt[id] && q->tx_head[id] == id) {
			netfront_tx_free(q, (uint16_t)id);
			nf->nd.st.tx_dropped++;
		}
	}
	q->tx_extras = 0;
	for (unsigned id = 0; id < RX_SIZE; id++) {
		if (q->rx_pkt[id]) {
			netfront_end_pkt_grant(q->rx_ref[id], q->rx_pkt[id]);
			q->rx_pkt[id] = NULL;
		}
	}
	pkt_free(q->rx_head); /* a packet half received (its grants are over) */
	q->rx_head = q->rx_tail = NULL;
	q->rx_skip_extra = q->rx_drop_frags = false;
	end_ring(q->tx_ring_ref, &q->tx_page);
	end_ring(q->rx_ring_ref, &q->rx_page);
}

static void queues_free(struct nf *nf)
{
	for (unsigned i = 0; i < nf->nq; i++)
		queue_down(nf, &nf->q[i]);
	kfree(nf->q);
	nf->q = NULL;
	nf->nq = 0;
}

/* Fails everything in flight and gives back rings, grants and event channels. With the
 * lock held. */
static void disconnect(struct nf *nf)
{
	if (!nf->connected)
		return;
	nf->connected = false;
	nf->nd.link_up = false;
	queues_free(nf);
	kprintf("%s: disconnected from %s\n", nf->nd.name, nf->xb->otherend);
}

/* our key dir/key = v */
static int put_key(uint32_t tx, struct nf *nf, const char *dir, const char *key, int v)
{
	char path[96], leaf[40];

	ksnprintf(leaf, sizeof(leaf), "%s%s", dir, key);
	xenbus_path(nf->xb, leaf, path, sizeof(path));
	return xs_printf(tx, path, "%d", v);
}

/* A queue's keys, at the top of our node (one queue) or under queue-N/ */
static int write_queue_keys(uint32_t tx, struct nf *nf, struct nfq *q)
{
	char dir[16] = "";
	int rc;

	if (nf->nq > 1)
		ksnprintf(dir, sizeof(dir), "queue-%u/", q->index);
	if ((rc = put_key(tx, nf, dir, "tx-ring-ref", q->tx_ring_ref)) ||
	    (rc = put_key(tx, nf, dir, "rx-ring-ref", q->rx_ring_ref)))
		return rc;
	if (!nf->split)
		return put_key(tx, nf, dir, "event-channel", (int)q->tx_port);
	if ((rc = put_key(tx, nf, dir, "event-channel-tx", (int)q->tx_port)))
		return rc;
	return put_key(tx, nf, dir, "event-channel-rx", (int)q->rx_port);
}

/* whether leaf is among the n names of a directory listing; a listing that could not be
 * read (n < 0) has them all */
static bool listed(const char *names, int n, const char *leaf)
{
	for (const char *p = names; n > 0; n--, p += strlen(p) + 1)
		if (!strcmp(p, leaf))
			return true;
	return n < 0;
}

static void rm_listed(uint32_t tx, struct nf *nf, const char *names, int n, const char *leaf)
{
	char path[96];

	if (!listed(names, n, leaf))
		return;
	xenbus_path(nf->xb, leaf, path, sizeof(path));
	xs_rm(tx, path);
}

/* The keys of the other layouts, left by an earlier connection (xen/io/netif.h: a
 * frontend with queues writes no top-level ring keys, one with one queue no queue-N/).
 * One listing of the directory, then a removal for each one there (each request is a
 * round trip to xenstored: 1-7 ms nested under TCG, and 11 of them at a first connect,
 * where there is none to remove). */
static void remove_stale_keys(uint32_t tx, struct nf *nf)
{
	static const char *const top[] = { "tx-ring-ref", "rx-ring-ref", "event-channel",
					   "event-channel-tx", "event-channel-rx" };
	char names[1024], leaf[16];
	int n = xs_directory(tx, nf->xb->nodename, names, sizeof(names));

	for (unsigned i = 0; nf->nq > 1 && i < sizeof(top) / sizeof(top[0]); i++)
		rm_listed(tx, nf, names, n, top[i]);
	for (unsigned i = nf->nq > 1 ? nf->nq : 0; i < NF_MAX_QUEUES; i++) {
		ksnprintf(leaf, sizeof(leaf), "queue-%u", i);
		rm_listed(tx, nf, names, n, leaf);
	}
	if (nf->nq == 1) {
		rm_listed(tx, nf, names, n, nf->split ? "event-channel" : "event-channel-tx");
		if (!nf->split)
			rm_listed(tx, nf, names, n, "event-channel-rx");
	}
}

static int write_keys(uint32_t tx, void *arg)
{
	struct nf *nf = arg;
	char path[96];
	/* feature-sg and feature-gso-tcpv4: the backend may send us a TCP segment of up to
	 * 64 KiB in several slots, its GSO facts in an extra-info slot (resp.c) */
	const char *sg = nf->sg ? "1" : "0";
	const char *const keys[][2] = {
		{ "request-rx-copy", "1" },	{ "feature-rx-notify", "1" },
		{ "feature-sg", sg },		{ "feature-gso-tcpv4", sg },
		{ "feature-no-csum-offload", "0" },
	};
	int rc;

	remove_stale_keys(tx, nf);
	xenbus_path(nf->xb, "multi-queue-num-queues", path, sizeof(path));
	if (nf->nq > 1 || nf->multi_queue_offered) {
		if ((rc = xs_printf(tx, path, "%u", nf->nq)))
			return rc;
	} else {
		xs_rm(tx, path);
	}
	for (unsigned i = 0; i < nf->nq; i++)
		if ((rc = write_queue_keys(tx, nf, &nf->q[i])))
			return rc;
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		xenbus_path(nf->xb, keys[i][0], path, sizeof(path));
		if ((rc = xs_write(tx, path, keys[i][1])))
			return rc;
	}
	return 0;
}

static void *ring_page(void)
{
	int64_t pfn = mm_frame_alloc();

	if (pfn < 0)
		return NULL;
	void *p = mm_frame_va(pfn);

	memset(p, 0, PAGE_SIZE);
	return p;
}

static int open_port(struct nf *nf, unsigned *port)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = nf->xb->otherend_id };
	int rc = (int)xen_event_channel_op(EVTCHNOP_alloc_unbound, &a);

	if (!rc)
		*port = a.port;
	return rc;
}

/* Rings, grants and event channels of queue q; on failure what it took stays in q for
 * queue_down. */
static int queue_up(struct nf *nf, struct nfq *q, unsigned cpu)
{
	int rc;

	q->tx_ring_ref = q->rx_ring_ref = -1;
	q->tx_page = ring_page();
	q->rx_page = ring_page();
	if (!q->tx_page || !q->rx_page)
		return -ENOMEM;
	SHARED_RING_INIT((netif_tx_sring_t *)q->tx_page);
	FRONT_RING_INIT(&q->tx, (netif_tx_sring_t *)q->tx_page, PAGE_SIZE);
	SHARED_RING_INIT((netif_rx_sring_t *)q->rx_page);
	FRONT_RING_INIT(&q->rx, (netif_rx_sring_t *)q->rx_page, PAGE_SIZE);
	q->tx_ring_ref = gnttab_grant(nf->xb->otherend_id, xen_gfn(q->tx_page), false);
	q->rx_ring_ref = gnttab_grant(nf->xb->otherend_id, xen_gfn(q->rx_page), false);
	if (q->tx_ring_ref < 0 || q->rx_ring_ref < 0)
		return -ENOSPC;
	if ((rc = open_port(nf, &q->tx_port)))
		return rc;
	if (nf->split && (rc = open_port(nf, &q->rx_port)))
		return rc;
	if (!nf->split)
		q->rx_port = q->tx_port;
	if (q->index < NF_MAX_QUEUES) {
		__atomic_store_n(&nf->pend_cons[q->index], q->rx.rsp_cons, __ATOMIC_RELEASE);
		__atomic_store_n(&nf->pend_ring[q->index], q->rx.sring, __ATOMIC_RELEASE);
	}
	q->tx_irq = (struct irq){ .kind = IRQ_EVTCHN, .num = q->tx_port, .cpu = cpu,
				  .fn = nf_event, .arg = nf };
	if ((rc = hal->irq_bind(&q->tx_irq)))
		return rc;
	q->tx_bound = true;
	if (nf->split) {
		q->rx_irq = q->tx_irq;
		q->rx_irq.num = q->rx_port;
		if ((rc = hal->irq_bind(&q->rx_irq)))
			return rc;
		q->rx_bound = true;
	}
	q->tx_nfree = q->rx_nfree = 0;
	for (unsigned i = 0; i < TX_SIZE; i++)
		q->tx_free[q->tx_nfree++] = TX_SIZE - 1 - i;
	for (unsigned i = 0; i < RX_SIZE; i++)
		q->rx_free[q->rx_nfree++] = RX_SIZE - 1 - i;
	return 0;
}

/* What the backend offers and the options allow: the queues and the event channels. */
static void choose_layout(struct nf *nf)
{
	struct xenbus_dev *xb = nf->xb;
	char path[128];
	uint64_t max = 0, split = 0;
	unsigned cpus = sched_cpus_online();

	ksnprintf(path, sizeof(path), "%s/multi-queue-max-queues", xb->otherend);
	nf->multi_queue_offered = !xs_read_u64(XS_NO_TX, path, &max) && max >= 1;
	if (!nf->multi_queue_offered)
		max = 1;
	ksnprintf(path, sizeof(path), "%s/feature-split-event-channels", xb->otherend);
	if (xs_read_u64(XS_NO_TX, path, &split))
		split = 0;
	nf->nq = cpus ? cpus : 1;
	if (nf->want_queues && nf->want_queues < nf->nq)
		nf->nq = nf->want_queues;
	if (nf->nq > max)
		nf->nq = (unsigned)max;
	if (nf->nq > NF_MAX_QUEUES)
		nf->nq = NF_MAX_QUEUES;
	nf->split = split == 1 && nf->want_split;
}

/* With the lock held; on failure everything taken is given back. */
static int connect(struct nf *nf)
{
	struct xenbus_dev *xb = nf->xb;
	char path[128];
	uint64_t copy = 0;
	int rc;

	ksnprintf(path, sizeof(path), "%s/feature-rx-copy", xb->otherend);
	if (xs_read_u64(XS_NO_TX, path, &copy) || !copy) {
		kprintf("%s: the backend cannot copy into our buffers (feature-rx-copy)\n",
			nf->nd.name);
		return -EOPNOTSUPP;
	}
	/* checksums: the backend completes those of TCP segments we send with csum_blank
	 * (the pseudo-header's sum in the field, net/core.c), unless it says it cannot; it
	 * may send us segments with csum_blank too (feature-no-csum-offload 0 in write_keys),
	 * which come with data_validated and are taken as checked (resp.c) */
	uint64_t no_csum = 0;

	ksnprintf(path, sizeof(path), "%s/feature-no-csum-offload", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &no_csum);
	/* large transmit: the backend takes a packet in several slots and cuts a TCP
	 * segment of up to 64 KiB itself (feature-sg, feature-gso-tcpv4), which needs
	 * checksum offload; xnet_tso=0 sends 1,500-byte frames only */
	uint64_t sg = 0, gso = 0;

	ksnprintf(path, sizeof(path), "%s/feature-sg", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &sg);
	ksnprintf(path, sizeof(path), "%s/feature-gso-tcpv4", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &gso);
	nf->tso = nf->want_tso && sg == 1 && gso == 1 && !no_csum;
	nf->nd.features = NETDEV_F_CSUM_RX | (no_csum ? 0 : NETDEV_F_CSUM_TX) |
			  (nf->sg ? NETDEV_F_LRO : 0) | (nf->tso ? NETDEV_F_TSO4 : 0);
	choose_layout(nf);
	nf->q = kcalloc(nf->nq, sizeof(*nf->q));
	if (!nf->q) {
		nf->nq = 0;
		return -ENOMEM;
	}
	for (unsigned i = 0; i < nf->nq; i++) {
		nf->q[i].nf = nf;
		nf->q[i].index = i;
		nf->q[i].tx_ring_ref = nf->q[i].rx_ring_ref = -1;
	}
	for (unsigned i = 0; i < nf->nq; i++) {
		if ((rc = queue_up(nf, &nf->q[i], i % sched_cpus_online()))) {
			queues_free(nf);
			return rc;
		}
	}
	nf->broken = nf->gave_up = false;
	nf->connected = true;
	if ((rc = xs_transaction(write_keys, nf, NULL)) ||
	    (rc = xenbus_switch_state(xb, XenbusStateConnected))) {
		disconnect(nf);
		return rc;
	}
	/* the receive buffers wait for the backend's Connected (nf_otherend_changed) */
	nf->connects++;
	return 0;
}

/* watch thread */
static void nf_otherend_changed(struct xenbus_dev *xb)
{
	struct nf *nf = xb->priv;
	int rc;

	mutex_lock(&nf->lock, NO_DEADLINE);
	switch (xb->otherend_state) {
	case XenbusStateInitWait:
		/* a fresh backend, or one back after a restart: (re)connect */
		disconnect(nf);
		if (xb->state != XenbusStateInitialising)
			xenbus_switch_state(xb, XenbusStateInitialising);
		if ((rc = connect(nf)))
			kprintf("%s: connecting to %s failed (%d)\n", nf->nd.name, xb->otherend, rc);
		break;
	case XenbusStateConnected:
		if (nf->connected && !nf->broken && !nf->nd.link_up) {
			/* Only now, with the backend's channels bound, any request: Linux's
			 * netback (6.1 and later) binds a queue's event channel after starting
			 * its receive thread, and Xen marks the channel pending at the bind. If
			 * its handler then finds work (receive buffers or transmit requests
			 * already posted), the receive thread may EOI the channel before the
			 * binder has stored its irq number: the EOI goes to irq 0 and the channel
			 * stays masked for good (seen in the Xen rig: the first transmit request
			 * consumed when the vif came up, no notification handled after it; with
			 * split channels the receive channel dies the same way, silently). An
			 * empty ring at the bind leaves the handler nothing to do: it EOIs the
			 * channel itself. The refill notifies the backend (its req_event is 1). */
			for (unsigned i = 0; i < nf->nq; i++)
				refill_rx(&nf->q[i]);
			nf->nd.link_up = true;
			kprintf("%s: connected to %s (%s): %u queue%s, %s event channel%s%s\n",
				nf->nd.name, xb->otherend, nf->connects > 1 ? "again" : "first time",
				nf->nq, nf->nq == 1 ? "" : "s", nf->split ? "split" : "shared",
				nf->split ? "s" : "", nf->tso ? ", large transmit (gso-tcpv4)" : "");
		}
		break;
	case XenbusStateClosing:
	case XenbusStateClosed:
		disconnect(nf);
		/* tell the backend we let go; not when the toolstack removed our node */
		if (!xb->gone && xb->state != XenbusStateClosed)
			xenbus_switch_state(xb, XenbusStateClosed);
		break;
	default:
		break;
	}
	mutex_unlock(&nf->lock);
}

static void nf_stop(struct xenbus_dev *xb)
{
	struct nf *nf = xb->priv;

	mutex_lock(&nf->lock, NO_DEADLINE);
	disconnect(nf);
	xenbus_switch_state(xb, XenbusStateClosing);
	mutex_unlock(&nf->lock);
}

static int parse_mac(const char *s, uint8_t mac[ETH_ALEN])
{
	for (int i = 0; i < ETH_ALEN; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++, s++) {
			char c = *s;
			unsigned d = c >= '0' && c <= '9' ? c - '0' :
				     c >= 'a' && c <= 'f' ? c - 'a' + 10 :
				     c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;

			if (d > 15)
				return -EINVAL;
			v = v * 16 + d;
		}
		mac[i] = v;
		if (*s != (i == ETH_ALEN - 1 ? 0 : ':'))
			return -EINVAL;
		if (*s)
			s++;
	}
	return 0;
}

/* An on/off option, on unless NAME=0 */
static bool flag_option(struct nf *nf, const char *cl, const char *name)
{
	uint64_t v;
	int rc = cmdline_get_u64(cl, name, &v);

	if (rc == -ENOENT)
		return true;
	if (!rc && v <= 1)
		return v;
	kprintf("%s: %s must be 0 or 1: ignored\n", nf->nd.name, name);
	return true;
}

/* xnet_queues=N (1..NF_MAX_QUEUES): at most N queue pairs; xnet_split=0: one event
 * channel per queue even when the backend offers two; xnet_lro=0, xnet_tso=0: no large
 * packets received, sent (README.md, "Kernel options") */
static void options(struct nf *nf)
{
	const char *cl = xen_cmdline();
	uint64_t v;
	int rc;

	if ((rc = cmdline_get_u64(cl, "xnet_queues", &v)) != -ENOENT) {
		if (rc || v < 1 || v > NF_MAX_QUEUES)
			kprintf("%s: xnet_queues must be 1 to %u: ignored\n", nf->nd.name,
				NF_MAX_QUEUES);
		else
			nf->want_queues = (unsigned)v;
	}
	nf->want_split = flag_option(nf, cl, "xnet_split");
	nf->sg = flag_option(nf, cl, "xnet_lro");
	nf->want_tso = flag_option(nf, cl, "xnet_tso");
}

static int nf_probe(struct xenbus_dev *xb)
{
	char path[96], mac[32];
	struct nf *nf = kcalloc(1, sizeof(*nf));

	if (!nf)
		return -ENOMEM;
	xenbus_path(xb, "mac", path, sizeof(path));
	if (xs_read(XS_NO_TX, path, mac, sizeof(mac)) < 0 || parse_mac(mac, nf->nd.mac)) {
		kprintf("netfront: %s has no usable mac ('%s'): ignored\n", xb->nodename, mac);
		kfree(nf);
		return -EINVAL;
	}
	nf->xb = xb;
	xb->priv = nf;
	mutex_init(&nf->lock);
	ksnprintf(nf->nd.name, sizeof(nf->nd.name), "xnet%u", count++);
	nf->nd.mtu = 1500;
	nf->nd.ops = &nf_ops;
	options(nf);
	char queues[24] = "one per vCPU";

	if (nf->want_queues)
		ksnprintf(queues, sizeof(queues), "up to %u", nf->want_queues);
	ksnprintf(nf->info, sizeof(nf->info),
		  "netfront %s, backend domain %u, copy-mode rx%s, queues: %s, event channels: %s",
		  xb->nodename, xb->otherend_id, nf->sg ? " with large receive (sg, gso-tcpv4)" : "",
		  queues, nf->want_split ? "split if offered" : "shared");
	nf->nd.info = nf->info;
	netdev_register(&nf->nd);
	return 0;
}

XENBUS_DRIVER(netfront_driver) = {
	.type = "vif",
	.probe = nf_probe,
	.otherend_changed = nf_otherend_changed,
	.stop = nf_stop,
};
