/* netfront: a Xen virtual NIC (xen/io/netif.h) as a struct netdev.
 *
 * One tx and one rx ring, one event channel. Receive is copy mode: we post a granted page
 * per buffer (cleared first), the backend copies a frame into it. Transmit grants each
 * packet's page read-only, with everything in it but the frame cleared (a v1 grant shows
 * the backend the whole page). Completions are reaped by the next xmit or poll, so sending
 * costs no interrupt. Every response is copied out of the shared ring once and checked
 * there (id posted and not yet answered, status, offset + length within the page) before
 * use; a bad one is dropped and counted. A response index beyond our requests means the
 * backend lies about the ring itself: the device stops (reported once) until the backend
 * connects again.
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
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include "netfront/nf.h"

#define RX_FILL 64 /* receive buffers kept posted */
#define TX_STALL_NS 1000000000ull /* the backend answered no transmit request for this long */

static unsigned count;

static void kick(struct nf *nf)
{
	evtchn_send(nf->port);
	nf->nd.st.kicks++;
}

/* ---- transmit */

/* With the lock held, after netfront_reap_tx. A backend that answers none of our waiting
 * transmit requests for TX_STALL_NS may have missed its notification: it gets another one
 * each second, and the stall is reported (once) with its end, so a backend that stopped
 * taking requests shows in the log rather than as a silent network. */
static void tx_watch(struct nf *nf)
{
	RING_IDX answered = nf->tx.rsp_cons;
	uint64_t now;

	if (nf->broken)
		return;
	if (answered != nf->tx_seen || nf->tx.req_prod_pvt == answered) {
		if (nf->tx_stall_since)
			kprintf("%s: the backend answers transmit requests again, after %lu ms\n",
				nf->nd.name, (clock_ns() - nf->tx_stall_since) / 1000000);
		nf->tx_seen = answered;
		nf->tx_quiet_since = nf->tx_stall_since = 0;
		return;
	}
	now = clock_ns();
	if (!nf->tx_quiet_since) {
		nf->tx_quiet_since = now;
		return;
	}
	if (now - nf->tx_quiet_since < TX_STALL_NS)
		return;
	if (!nf->tx_stall_since) {
		nf->tx_stall_since = nf->tx_quiet_since;
		nf->nd.st.tx_stalls++;
		kprintf("%s: the backend answered none of %u transmit requests for %lu ms "
			"(requests %u, answered %u, it wants a kick at %u); notifying it again\n",
			nf->nd.name, nf->tx.req_prod_pvt - answered,
			(now - nf->tx_quiet_since) / 1000000, nf->tx.req_prod_pvt, answered,
			__atomic_load_n(&nf->tx.sring->req_event, __ATOMIC_ACQUIRE));
	}
	nf->tx_quiet_since = now;
	kick(nf);
}

static unsigned nf_xmit(struct netdev *d, struct pkt **pkts, unsigned n)
{
	struct nf *nf = container_of(d, struct nf, nd);
	unsigned sent = 0;
	int notify;

	mutex_lock(&nf->lock, NO_DEADLINE);
	if (nf->connected && !nf->broken)
		netfront_reap_tx(nf);
	if (!nf->connected || nf->broken) {
		mutex_unlock(&nf->lock);
		return 0;
	}
	for (; sent < n; sent++) {
		struct pkt *p = pkts[sent];
		uint32_t off = p->data - (uint8_t *)p->page;

		if (RING_FULL(&nf->tx) || !nf->tx_nfree)
			break;
		if (p->len < ETH_HLEN || off + p->len > PAGE_SIZE) {
			nf->nd.st.tx_dropped++; /* not sendable: taken and dropped */
			pkt_free(p);
			continue;
		}
		/* A v1 grant covers the whole page (xen/grant_table.h), and the page is not
		 * cleared when allocated: the backend must find nothing but the frame in it. */
		memset(p->page, 0, off);
		memset(p->data + p->len, 0, PAGE_SIZE - off - p->len);
		int ref = gnttab_grant(nf->xb->otherend_id, xen_gfn(p->page), true);

		if (ref < 0)
			break;
		uint16_t id = nf->tx_free[--nf->tx_nfree];
		netif_tx_request_t *req = RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt++);

		req->gref = ref;
		req->offset = off;
		req->flags = 0;
		req->id = id;
		req->size = p->len;
		nf->tx_pkt[id] = p;
		nf->tx_ref[id] = ref;
		d->st.tx_packets++;
		d->st.tx_bytes += p->len;
	}
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->tx, notify);
	if (notify)
		kick(nf);
	tx_watch(nf);
	mutex_unlock(&nf->lock);
	return sent;
}

/* ---- receive */

static void refill_rx(struct nf *nf)
{
	int notify;
	bool any = false;

	while (nf->rx_nfree > RX_SIZE - RX_FILL && !RING_FULL(&nf->rx)) {
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
		uint16_t id = nf->rx_free[--nf->rx_nfree];
		netif_rx_request_t *req = RING_GET_REQUEST(&nf->rx, nf->rx.req_prod_pvt++);

		req->id = id;
		req->gref = ref;
		nf->rx_pkt[id] = p;
		nf->rx_ref[id] = ref;
		any = true;
	}
	if (!any)
		return;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&nf->rx, notify);
	if (notify)
		kick(nf);
}

static unsigned nf_poll(struct netdev *d, struct pkt **pkts, unsigned max)
{
	struct nf *nf = container_of(d, struct nf, nd);
	unsigned n;

	mutex_lock(&nf->lock, NO_DEADLINE);
	if (!nf->connected || nf->broken) {
		mutex_unlock(&nf->lock);
		return 0;
	}
	n = netfront_take_rx(nf, pkts, max);
	if (!nf->broken) {
		refill_rx(nf);
		netfront_reap_tx(nf);
		tx_watch(nf);
	}
	mutex_unlock(&nf->lock);
	return n;
}

static void nf_irq(struct netdev *d, bool on)
{
	struct nf *nf = container_of(d, struct nf, nd);

	__atomic_store_n(&nf->irq_on, on, __ATOMIC_RELEASE);
}

/* interrupt context: only wake the owner */
static void nf_event(void *arg)
{
	struct nf *nf = arg;

	nf->nd.st.irqs++;
	if (__atomic_load_n(&nf->irq_on, __ATOMIC_ACQUIRE) && nf->nd.notify)
		nf->nd.notify(&nf->nd);
}

/* e.g. "tx ring: 113 requests, backend answered 2, wants a kick at 2; rx ring: ..." A
 * backend that stopped taking requests shows as answered far behind requests. */
static void nf_rings(struct netdev *d, char *buf, unsigned len)
{
	struct nf *nf = container_of(d, struct nf, nd);

	mutex_lock(&nf->lock, NO_DEADLINE);
	if (!nf->connected) {
		ksnprintf(buf, len, "not connected");
	} else if (nf->broken) {
		ksnprintf(buf, len, "stopped: the backend lied about a ring's indexes");
	} else {
		const netif_tx_sring_t *t = nf->tx.sring;
		const netif_rx_sring_t *r = nf->rx.sring;

		ksnprintf(buf, len,
			  "tx ring: %u requests, backend answered %u, wants a kick at %u; rx ring: "
			  "%u buffers posted, backend filled %u, wants a kick at %u; %lu transmit "
			  "stalls",
			  nf->tx.req_prod_pvt, __atomic_load_n(&t->rsp_prod, __ATOMIC_ACQUIRE),
			  __atomic_load_n(&t->req_event, __ATOMIC_ACQUIRE), nf->rx.req_prod_pvt,
			  __atomic_load_n(&r->rsp_prod, __ATOMIC_ACQUIRE),
			  __atomic_load_n(&r->req_event, __ATOMIC_ACQUIRE), d->st.tx_stalls);
	}
	mutex_unlock(&nf->lock);
}

static const struct netdev_ops nf_ops = {
	.xmit = nf_xmit,
	.poll = nf_poll,
	.irq = nf_irq,
	.rings = nf_rings,
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

/* Fails everything in flight and gives back rings, grants and the event channel. With
 * the lock held. */
static void disconnect(struct nf *nf)
{
	if (!nf->connected)
		return;
	nf->connected = false;
	nf->nd.link_up = false;
	hal->irq_unbind(&nf->irq);
	close_port(nf->port);
	for (unsigned id = 0; id < TX_SIZE; id++) {
		if (nf->tx_pkt[id]) {
			netfront_end_pkt_grant(nf->tx_ref[id], nf->tx_pkt[id]);
			nf->tx_pkt[id] = NULL;
			nf->nd.st.tx_dropped++;
		}
	}
	for (unsigned id = 0; id < RX_SIZE; id++) {
		if (nf->rx_pkt[id]) {
			netfront_end_pkt_grant(nf->rx_ref[id], nf->rx_pkt[id]);
			nf->rx_pkt[id] = NULL;
		}
	}
	end_ring(nf->tx_ring_ref, &nf->tx_page);
	end_ring(nf->rx_ring_ref, &nf->rx_page);
	kprintf("%s: disconnected from %s\n", nf->nd.name, nf->xb->otherend);
}

static int write_keys(uint32_t tx, void *arg)
{
	struct nf *nf = arg;
	char path[96];
	static const char *const keys[][2] = {
		{ "request-rx-copy", "1" },	{ "feature-rx-notify", "1" },
		{ "feature-sg", "0" },		{ "feature-gso-tcpv4", "0" },
		{ "feature-no-csum-offload", "1" },
	};
	int rc;

	xenbus_path(nf->xb, "tx-ring-ref", path, sizeof(path));
	if ((rc = xs_printf(tx, path, "%d", nf->tx_ring_ref)))
		return rc;
	xenbus_path(nf->xb, "rx-ring-ref", path, sizeof(path));
	if ((rc = xs_printf(tx, path, "%d", nf->rx_ring_ref)))
		return rc;
	xenbus_path(nf->xb, "event-channel", path, sizeof(path));
	if ((rc = xs_printf(tx, path, "%u", nf->port)))
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
	nf->tx_ring_ref = nf->rx_ring_ref = -1;
	nf->tx_page = ring_page();
	nf->rx_page = ring_page();
	if (!nf->tx_page || !nf->rx_page) {
		rc = -ENOMEM;
		goto fail;
	}
	SHARED_RING_INIT((netif_tx_sring_t *)nf->tx_page);
	FRONT_RING_INIT(&nf->tx, (netif_tx_sring_t *)nf->tx_page, PAGE_SIZE);
	SHARED_RING_INIT((netif_rx_sring_t *)nf->rx_page);
	FRONT_RING_INIT(&nf->rx, (netif_rx_sring_t *)nf->rx_page, PAGE_SIZE);
	nf->tx_ring_ref = gnttab_grant(xb->otherend_id, xen_gfn(nf->tx_page), false);
	nf->rx_ring_ref = gnttab_grant(xb->otherend_id, xen_gfn(nf->rx_page), false);
	if (nf->tx_ring_ref < 0 || nf->rx_ring_ref < 0) {
		rc = -ENOSPC;
		goto fail;
	}
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = xb->otherend_id };

	if ((rc = (int)xen_event_channel_op(EVTCHNOP_alloc_unbound, &a)))
		goto fail;
	nf->port = a.port;
	nf->irq = (struct irq){ .kind = IRQ_EVTCHN, .num = nf->port, .cpu = 0, .fn = nf_event,
				.arg = nf };
	if ((rc = hal->irq_bind(&nf->irq))) {
		close_port(nf->port);
		goto fail;
	}
	nf->tx_nfree = nf->rx_nfree = 0;
	for (unsigned i = 0; i < TX_SIZE; i++)
		nf->tx_free[nf->tx_nfree++] = TX_SIZE - 1 - i;
	for (unsigned i = 0; i < RX_SIZE; i++)
		nf->rx_free[nf->rx_nfree++] = RX_SIZE - 1 - i;
	nf->rx_skip_extra = false;
	nf->broken = false;
	nf->tx_seen = 0;
	nf->tx_quiet_since = nf->tx_stall_since = 0;
	nf->connected = true;
	if ((rc = xs_transaction(write_keys, nf, NULL)) ||
	    (rc = xenbus_switch_state(xb, XenbusStateConnected))) {
		disconnect(nf);
		return rc;
	}
	refill_rx(nf);
	nf->connects++;
	return 0;
fail:
	end_ring(nf->tx_ring_ref, &nf->tx_page);
	end_ring(nf->rx_ring_ref, &nf->rx_page);
	return rc;
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
			nf->nd.link_up = true;
			kprintf("%s: connected to %s (%s)\n", nf->nd.name, xb->otherend,
				nf->connects > 1 ? "again" : "first time");
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
	ksnprintf(nf->info, sizeof(nf->info), "netfront %s, backend domain %u, copy-mode rx",
		  xb->nodename, xb->otherend_id);
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
