/* virtio-net (virtio 1.2, 5.1) as a struct netdev: one receive and one transmit queue.
 *
 * Receive: each buffer is a packet's page, the virtio header in the headroom just before
 * the frame; refilled in batches after each poll, one notification per refill. Ours hold
 * any frame up to the MTU; with GUEST_TSO4 (and MRG_RXBUF, which it needs here) the host
 * may send a TCP frame of up to 64 KiB (the segments its stack would have cut, whole) over
 * several buffers: they go up as one struct pkt chained by frag (NETDEV_F_LRO), no copy.
 * Without GUEST_TSO4 a multi-buffer frame is dropped whole. A partial checksum from the
 * host (NEEDS_CSUM) is taken as checked (partial_csum_ok).
 *
 * Transmit: the header goes into the headroom too, so a packet is one descriptor (two
 * without ANY_LAYOUT); a burst is published with one notification, and completions are
 * reaped by the next xmit or poll: the transmit queue never interrupts. Used entries are
 * checked by the virtqueue (index, id, length); a device that lies about either used ring
 * is counted in rx_bad, reported once and reset, and its link stays down. */
#include "virtio/virtio.h"

#include "common/console.h"
#include "common/netdev.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include <linux/virtio_net.h>

#define RXQ 0
#define TXQ 1
#define QSIZE 256
#define BATCH 32
/* the largest frame GUEST_TSO4 makes (NETDEV_LRO_MAX) takes at most this many of our
 * buffers (the first holds the header, too) */
#define LARGE_BUFS (NETDEV_LRO_MAX / PKT_MAX + 2)

struct vnet {
	struct netdev nd;
	struct virtio_dev *vd;
	struct virtq rx, tx;
	struct mutex tx_lock; /* xmit and poll both reap the transmit queue */
	unsigned hdr_len;
	bool any_layout, csum_tx, tso;
	unsigned skip; /* buffers left of a frame being dropped (MRG_RXBUF) */
	bool lro;      /* GUEST_TSO4: multi-buffer frames are taken (large) */
	struct pkt *large, *large_tail; /* a multi-buffer frame being put together */
	unsigned large_left;		/* its buffers still to come */
	unsigned rx_posted;
	struct mutex fail_lock;
	bool dead; /* atomic: it lied about a used ring and was reset (fail_device) */
	char info[160];
};

static unsigned count;

#define F(x) (1ull << (x))

static void refill(struct vnet *v)
{
	unsigned added = 0;

	while (v->rx.num_free) {
		struct pkt *p = pkt_alloc();

		if (!p)
			break; /* out of memory: the next poll tries again */
		struct virtq_buf b = { virtio_pa(p->data - v->hdr_len),
				       (uint32_t)(PKT_MAX + v->hdr_len), true };

		if (virtq_add(&v->rx, &b, 1, p)) {
			pkt_free(p);
			break;
		}
		added++;
	}
	v->rx_posted += added;
	if (added) {
		uint64_t k = v->vd->kicks;

		virtio_kick(v->vd, &v->rx);
		v->nd.st.kicks += v->vd->kicks - k;
	}
}

static bool is_dead(struct vnet *v)
{
	return __atomic_load_n(&v->dead, __ATOMIC_ACQUIRE);
}

/* A device that lies about a used ring (virtq.h) cannot be trusted with the buffers it
 * holds: the link goes down and the device is reset, once, reported once. When this
 * returns the reset is done, so the caller may take its queue's buffers back
 * (virtq_detach) and free them; the other queue's side does so when it sees `dead`. */
static void fail_device(struct vnet *v, struct virtq *q, int why)
{
	v->nd.st.rx_bad++;
	mutex_lock(&v->fail_lock, NO_DEADLINE);
	if (!is_dead(v)) {
		v->nd.link_up = false;
		kprintf("%s: the device's %s used ring %s (%s): resetting it, link down\n",
			v->nd.name, q == &v->rx ? "receive" : "transmit",
			why == -EIO ? "reports more bytes than a buffer holds" :
				      "runs past the buffers it holds or names one it does not hold",
			v->vd->where);
		v->vd->t->reset(v->vd);
		__atomic_store_n(&v->dead, true, __ATOMIC_RELEASE);
	}
	mutex_unlock(&v->fail_lock);
}

/* tx_lock held */
static void reap_tx(struct vnet *v)
{
	void *c = NULL;
	uint32_t len;
	int rc;

	while ((rc = virtq_get(&v->tx, &c, &len)) != 0) {
		if (rc < 0) {
			fail_device(v, &v->tx, rc);
			break;
		}
		pkt_free(c);
	}
	if (is_dead(v)) { /* reset: what the device held is ours again */
		if (c)
			pkt_free(c);
		while ((c = virtq_detach(&v->tx)))
			pkt_free(c);
	}
}

static unsigned vn_xmit(struct netdev *d, struct pkt **p, unsigned n)
{
	struct vnet *v = container_of(d, struct vnet, nd);
	unsigned sent = 0;

	if (!d->link_up)
		return 0;
	mutex_lock(&v->tx_lock, NO_DEADLINE);
	reap_tx(v);
	if (is_dead(v))
		n = 0;
	for (; sent < n; sent++) {
		struct pkt *k = p[sent];
		struct virtio_net_hdr_v1 *h = (void *)(k->data - v->hdr_len);

		if (k->len > PKT_ROOM(k) || k->data - (uint8_t *)k->page < (long)v->hdr_len ||
		    (k->gso_size && !(v->tso && (k->flags & PKT_CSUM_PARTIAL))))
			break;
		memset(h, 0, v->hdr_len);
		if ((k->flags & PKT_CSUM_PARTIAL) && v->csum_tx) {
			h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			h->csum_start = k->csum_start;
			h->csum_offset = k->csum_offset;
		}
		if (k->gso_size) { /* the TCP header's length: its data offset */
			h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
			h->gso_size = k->gso_size;
			h->hdr_len = (uint16_t)(k->csum_start + (k->data[k->csum_start + 12] >> 4) * 4);
		}
		struct virtq_buf b[2] = {
			{ virtio_pa(h), v->hdr_len, false },
			{ virtio_pa(k->data), k->len, false },
		};
		int rc;

		if (v->any_layout) {
			b[0].len += k->len;
			rc = virtq_add(&v->tx, b, 1, k);
		} else {
			rc = virtq_add(&v->tx, b, 2, k);
		}
		if (rc)
			break; /* full: the caller keeps the rest */
		d->st.tx_packets++;
		d->st.tx_bytes += k->len;
	}
	if (sent) {
		uint64_t kk = v->vd->kicks;

		virtio_kick(v->vd, &v->tx);
		d->st.kicks += v->vd->kicks - kk;
	}
	mutex_unlock(&v->tx_lock);
	return sent;
}

/* NEEDS_CSUM on a received packet: its transport checksum was never made (a packet from
 * the host's own stack, or a segment of a larger one); the field holds the pseudo-header's
 * sum. As Linux does, the packet is taken as checked (nothing between the sender and this
 * guest could have damaged it) and the checksum is not completed; a range outside the
 * packet is a lie, and the packet is dropped. */
static bool partial_csum_ok(const struct pkt *p, const struct virtio_net_hdr_v1 *h)
{
	uint32_t start = h->csum_start, at = start + h->csum_offset;

	return start < p->len && at + 2 <= p->len;
}

/* After the reset: the receive buffers (and p, a lie's) back to the pool; the transmit
 * side's too, when its lock is free. Returns 0: nothing more is received. */
static unsigned drop_rx(struct vnet *v, struct pkt *p)
{
	void *c;

	if (p)
		pkt_free(p);
	pkt_free(v->large);
	v->large = v->large_tail = NULL;
	v->large_left = 0;
	while ((c = virtq_detach(&v->rx)))
		pkt_free(c);
	v->rx_posted = 0;
	if (mutex_trylock(&v->tx_lock)) {
		reap_tx(v);
		mutex_unlock(&v->tx_lock);
	}
	return 0;
}

static unsigned vn_poll(struct netdev *d, struct pkt **out, unsigned max)
{
	struct vnet *v = container_of(d, struct vnet, nd);
	unsigned n = 0;
	void *c;
	uint32_t len;
	int rc;

	if (is_dead(v))
		return drop_rx(v, NULL);
	while (n < max && (rc = virtq_get(&v->rx, &c, &len)) != 0) {
		struct pkt *p = c;

		v->rx_posted--;
		if (rc < 0) {
			/* what came before the lie was real: it goes up */
			fail_device(v, &v->rx, rc);
			drop_rx(v, p);
			return n;
		}
		if (v->skip) {
			v->skip--;
			pkt_free(p);
			continue;
		}
		if (v->large_left) { /* the next part of a large frame: no header */
			struct pkt *k = v->large;

			p->data -= v->hdr_len;
			p->len = len;
			p->flags = 0;
			v->large_tail->frag = p;
			v->large_tail = p;
			if (!len || pkt_frame_len(k) > NETDEV_LRO_MAX) { /* a lie: dropped whole */
				d->st.rx_bad++;
				v->skip = v->large_left - 1;
				v->large = NULL;
				v->large_left = 0;
				pkt_free(k);
				continue;
			}
			if (--v->large_left)
				continue;
			v->large = NULL;
			d->st.rx_packets++;
			d->st.rx_bytes += pkt_frame_len(k);
			d->st.rx_large++;
			out[n++] = k;
			continue;
		}
		const struct virtio_net_hdr_mrg_rxbuf *h = (void *)(p->data - v->hdr_len);
		unsigned bufs = v->hdr_len == sizeof(*h) ? h->num_buffers : 1;

		if (len < v->hdr_len + ETH_HLEN) {
			d->st.rx_bad++;
			v->skip = bufs > 1 ? bufs - 1 : 0;
			pkt_free(p);
			continue;
		}
		if (bufs > 1 && (!v->lro || bufs > LARGE_BUFS)) {
			v->skip = bufs - 1u;
			d->st.rx_dropped++;
			pkt_free(p);
			continue;
		}
		p->len = len - v->hdr_len;
		p->flags = 0;
		if (h->hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			if (!partial_csum_ok(p, (const void *)h)) {
				d->st.rx_bad++;
				pkt_free(p);
				continue;
			}
			p->flags = PKT_CSUM_OK;
		} else if (h->hdr.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
			p->flags = PKT_CSUM_OK;
		}
		if (bufs > 1) { /* the rest follows (in this poll, or the next) */
			v->large = v->large_tail = p;
			v->large_left = bufs - 1;
			continue;
		}
		d->st.rx_packets++;
		d->st.rx_bytes += p->len;
		out[n++] = p;
	}
	if (v->rx.num_free >= BATCH || v->rx_posted < BATCH)
		refill(v);
	if (mutex_trylock(&v->tx_lock)) {
		reap_tx(v);
		mutex_unlock(&v->tx_lock);
	}
	return n;
}

static void vn_irq(struct netdev *d, bool on)
{
	struct vnet *v = container_of(d, struct vnet, nd);

	if (!on) {
		virtq_irq_off(&v->rx);
	} else if (virtq_irq_on(&v->rx) && d->notify) {
		d->notify(d); /* something arrived meanwhile */
	}
}

/* busy polling's look from an idle CPU: no lock (a stale answer costs a poll) */
static bool vn_rx_pending(struct netdev *d)
{
	struct vnet *v = container_of(d, struct vnet, nd);

	return !is_dead(v) && virtq_pending(&v->rx) != 0;
}

static void vn_rx_arm(struct netdev *d)
{
	struct vnet *v = container_of(d, struct vnet, nd);

	if (!is_dead(v))
		virtq_irq_arm(&v->rx);
}

/* interrupt context: only wake the owner (with interrupts off, busy polling's owner, only
 * one vn_rx_arm asked for comes) */
static void rx_event(void *arg)
{
	struct vnet *v = arg;

	__atomic_fetch_add(&v->nd.st.irqs, 1, __ATOMIC_RELAXED);
	if (v->nd.notify)
		v->nd.notify(&v->nd);
}

/* the transmit queue's interrupts stay off (reaped by xmit and poll); with a shared line
 * (virtio-mmio) this runs on every receive interrupt too */
static void tx_event(void *arg)
{
}

static const struct netdev_ops vn_ops = {
	.xmit = vn_xmit, .poll = vn_poll, .irq = vn_irq, .rx_pending = vn_rx_pending,
	.rx_arm = vn_rx_arm
};

/* shutdown: no more transmits, and what was queued goes out before the reset (which would
 * drop it), waiting at most 500 ms */
static void vn_stop(struct virtio_dev *vd)
{
	struct vnet *v = vd->driver;
	uint64_t until = clock_ns() + 500000000ull;
	bool drained;

	v->nd.link_up = false;
	do {
		mutex_lock(&v->tx_lock, NO_DEADLINE);
		reap_tx(v);
		drained = v->tx.num_free == v->tx.num;
		mutex_unlock(&v->tx_lock);
	} while (!drained && clock_ns() < until && (thread_sleep(1000000), true));
	if (!drained)
		kprintf("%s: %u packets not sent by the device at shutdown\n", v->nd.name,
			v->tx.num - v->tx.num_free);
}

int virtio_net_probe(struct virtio_dev *vd)
{
	uint64_t want = F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_MTU) |
			F(VIRTIO_NET_F_MRG_RXBUF) | F(VIRTIO_NET_F_STATUS) |
			F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |
			F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO4) |
			F(VIRTIO_RING_F_EVENT_IDX) | F(VIRTIO_F_ANY_LAYOUT);
	/* the spec's (5.1.3.1), and ours: large frames only in page-sized buffers */
	static const struct virtio_dep deps[] = {
		{ VIRTIO_NET_F_HOST_TSO4, F(VIRTIO_NET_F_CSUM) },
		{ VIRTIO_NET_F_GUEST_TSO4, F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_MRG_RXBUF) },
	};
	struct vnet *v = kcalloc(1, sizeof(*v));
	int rc;

	if (!v)
		return -ENOMEM;
	vd->deps = deps;
	vd->ndeps = ARRAY_SIZE(deps);
	v->vd = vd;
	vd->driver = v;
	vd->stop = vn_stop;
	mutex_init(&v->tx_lock);
	mutex_init(&v->fail_lock);
	if ((rc = virtio_start(vd, want, 0)))
		goto fail;
	uint64_t f = vd->features;

	v->hdr_len = f & (F(VIRTIO_F_VERSION_1) | F(VIRTIO_NET_F_MRG_RXBUF))
			     ? sizeof(struct virtio_net_hdr_mrg_rxbuf)
			     : sizeof(struct virtio_net_hdr);
	v->any_layout = f & (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_ANY_LAYOUT));
	v->csum_tx = f & F(VIRTIO_NET_F_CSUM);
	v->tso = f & F(VIRTIO_NET_F_HOST_TSO4);
	v->lro = f & F(VIRTIO_NET_F_GUEST_TSO4);
	if (f & F(VIRTIO_NET_F_MAC)) {
		for (unsigned i = 0; i < ETH_ALEN; i++)
			v->nd.mac[i] = (uint8_t)vd->t->config(vd, i, 1);
	} else { /* a locally administered address of our own */
		static const uint8_t mac[ETH_ALEN] = { 0x02, 0x41, 0x4d, 0x50, 0x48, 0x00 };

		memcpy(v->nd.mac, mac, ETH_ALEN);
		v->nd.mac[5] = (uint8_t)count;
	}
	v->nd.mtu = 1500;
	if (f & F(VIRTIO_NET_F_MTU)) {
		uint16_t mtu = (uint16_t)vd->t->config(vd, offsetof(struct virtio_net_config, mtu), 2);

		if (mtu >= 68 && mtu <= PKT_MAX - ETH_HLEN)
			v->nd.mtu = mtu;
	}
	if ((rc = virtio_queue(vd, RXQ, &v->rx, QSIZE, false, rx_event, v)) ||
	    (rc = virtio_queue(vd, TXQ, &v->tx, QSIZE, false, tx_event, v)))
		goto fail;
	virtq_irq_off(&v->tx);
	v->nd.features = (v->csum_tx ? NETDEV_F_CSUM_TX : 0) |
			 (f & F(VIRTIO_NET_F_GUEST_CSUM) ? NETDEV_F_CSUM_RX : 0) |
			 (v->tso ? NETDEV_F_TSO4 : 0) | (v->lro ? NETDEV_F_LRO : 0);
	ksnprintf(v->nd.name, sizeof(v->nd.name), "vnet%u", count++);
	ksnprintf(v->info, sizeof(v->info),
		  "virtio-net %s, queues %u/%u, header %u, features%s%s%s%s%s%s%s%s", vd->where,
		  v->rx.num, v->tx.num, v->hdr_len, f & F(VIRTIO_F_VERSION_1) ? " version-1" : "",
		  f & F(VIRTIO_RING_F_EVENT_IDX) ? " event-idx" : "",
		  f & F(VIRTIO_NET_F_MRG_RXBUF) ? " mrg-rxbuf" : "", v->csum_tx ? " csum" : "",
		  f & F(VIRTIO_NET_F_GUEST_CSUM) ? " guest-csum" : "", v->tso ? " host-tso4" : "",
		  v->lro ? " guest-tso4" : "",
		  f & F(VIRTIO_NET_F_MTU) ? " mtu" : "");
	v->nd.info = v->info;
	v->nd.ops = &vn_ops;
	virtio_ready(vd);
	refill(v);
	v->nd.link_up = true;
	if (f & F(VIRTIO_NET_F_STATUS))
		v->nd.link_up = vd->t->config(vd, offsetof(struct virtio_net_config, status), 2) &
				VIRTIO_NET_S_LINK_UP;
	netdev_register(&v->nd);
	return 0;
fail:
	vd->t->reset(vd); /* its interrupts go with it: nothing can reach v any more */
	vd->driver = NULL;
	kfree(v);
	return rc;
}
