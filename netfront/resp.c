/* netfront's side of the responses (xen/io/netif.h): what the backend says is copied out
 * of the shared ring once and checked before anything is believed, because the backend
 * may lie or change the ring under us. Pure enough for the host tests (netfront/resp_test.c),
 * which run it against a fake ring and a fake grant table. */
#include "common/console.h"
#include "lib/string.h"
#include "hv_xen/grant.h"
#include "mm/mm.h"
#include "netfront/check.h"
#include "netfront/nf.h"

void netfront_end_pkt_grant(int ref, struct pkt *p)
{
	if (gnttab_end(ref)) {
		pkt_free(p);
		return;
	}
	gnttab_release(ref, mm_va_pfn(p->page));
	kfree(p);
}

/* With the lock held. Whether the backend's response index `prod` is one it may show: each
 * response answers one request we pushed (xen/io/ring.h), so it cannot pass req_prod. One
 * that does is a backend lying about the ring, whose slots beyond our requests are not
 * responses at all: we take nothing more from it, and the device stays down (counted,
 * reported once) until the backend connects again. */
static bool index_ok(struct nfq *q, const char *ring, RING_IDX prod, RING_IDX cons, RING_IDX req)
{
	struct nf *nf = q->nf;

	if (prod - cons <= req - cons)
		return true;
	nf->nd.st.rx_bad++;
	if (!nf->broken)
		kprintf("netfront: %s: %s response index %u is past our requests (answered %u, "
			"requested %u) on queue %u: the backend lies about the ring; the device "
			"stops until it connects again\n",
			nf->nd.name, ring, prod, cons, req, q->index);
	nf->broken = true;
	nf->nd.link_up = false;
	return false;
}

/* ---- transmit */

void netfront_tx_free(struct nfq *q, uint16_t head)
{
	struct pkt *p = q->tx_pkt[head];
	bool held = false;

	/* slot k of a packet holds page k of its block (the frame starts in the first) */
	for (uint16_t id = head; id != NF_TX_END; id = q->tx_next[id]) {
		if (gnttab_end(q->tx_ref[id]))
			q->tx_ref[id] = -1;
		else
			held = true;
	}
	if (!held) {
		pkt_free(p);
	} else {
		/* each page on its own: those still mapped wait for the backend */
		uint64_t pfn = mm_va_pfn(p->page), pages = 1ull << p->order, k = 0;

		if (p->order)
			mm_frames_split(pfn, p->order);
		for (uint16_t id = head; id != NF_TX_END; id = q->tx_next[id], k++) {
			if (q->tx_ref[id] >= 0)
				gnttab_release(q->tx_ref[id], pfn + k);
			else
				mm_frame_free(pfn + k);
		}
		for (; k < pages; k++)
			mm_frame_free(pfn + k);
		kfree(p);
	}
	for (uint16_t id = head, next; id != NF_TX_END; id = next) {
		next = q->tx_next[id];
		q->tx_pkt[id] = NULL;
		q->tx_free[q->tx_nfree++] = id;
	}
}

void netfront_reap_tx(struct nfq *q)
{
	struct nf *nf = q->nf;
	RING_IDX rp = q->tx.sring->rsp_prod;

	xen_rmb(); /* the responses before the index that covers them */
	if (!index_ok(q, "tx", rp, q->tx.rsp_cons, q->tx.req_prod_pvt))
		return;
	for (RING_IDX i = q->tx.rsp_cons; i != rp; i++) {
		netif_tx_response_t r;

		/* one read of the shared slot: what we check is what we use */
		RING_COPY_RESPONSE(&q->tx, i, &r);
		/* NETIF_RSP_NULL answers an extra-info slot (a large packet's GSO facts), which
		 * has no id: taken as long as such slots are unanswered */
		if (r.status == NETIF_RSP_NULL && q->tx_extras) {
			q->tx_extras--;
			continue;
		}
		if (r.status == NETIF_RSP_NULL || r.id >= TX_SIZE || !q->tx_pkt[r.id] ||
		    (q->tx_state[r.id] & NF_TX_ANSWERED)) {
			nf->nd.st.rx_bad++;
			continue;
		}
		uint16_t id = r.id, head = q->tx_head[id];

		q->tx_state[id] |= NF_TX_ANSWERED;
		if (r.status != NETIF_RSP_OKAY)
			q->tx_state[head] |= NF_TX_FAILED;
		if (--q->tx_left[head])
			continue;
		if (q->tx_state[head] & NF_TX_FAILED)
			nf->nd.st.tx_dropped++;
		netfront_tx_free(q, head);
	}
	q->tx.rsp_cons = rp;
}

/* ---- receive */

/* The buffer id's grant ends and the id is free again; the packet is freed (or its page
 * kept until the backend lets go). */
static void drop_rx(struct nfq *q, uint16_t id)
{
	struct pkt *p = q->rx_pkt[id];

	q->rx_pkt[id] = NULL;
	q->rx_free[q->rx_nfree++] = id;
	netfront_end_pkt_grant(q->rx_ref[id], p);
}

/* a response's buffer: the packet, or NULL when the response is bad (counted). r is our
 * copy of the slot: the backend can change the ring under us, not r. */
static struct pkt *take_rx(struct nfq *q, const netif_rx_response_t *r)
{
	struct nf *nf = q->nf;
	uint16_t id = r->id;
	enum rx_verdict v = netif_rx_verdict(r, RX_SIZE, id < RX_SIZE && q->rx_pkt[id], PAGE_SIZE,
					     nf->sg);

	if (v == RX_BAD_ID) {
		nf->nd.st.rx_bad++;
		return NULL;
	}
	struct pkt *p = q->rx_pkt[id];
	int ref = q->rx_ref[id];

	q->rx_pkt[id] = NULL;
	q->rx_free[q->rx_nfree++] = id;
	if (!gnttab_end(ref)) {
		/* still mapped by the backend: its page stays out of use until it lets go */
		gnttab_release(ref, mm_va_pfn(p->page));
		kfree(p);
		nf->nd.st.rx_bad++;
		return NULL;
	}
	/* within the page, no error; one slot per packet unless we offered feature-sg */
	if (v != RX_OK) {
		if (v == RX_ERROR)
			nf->nd.st.rx_dropped++;
		else
			nf->nd.st.rx_bad++;
		pkt_free(p);
		return NULL;
	}
	p->data = (uint8_t *)p->page + r->offset;
	p->len = r->status;
	/* csum_blank: summed by nobody (dom0's own stack), its field holds the pseudo-header's
	 * sum; Linux's backend sets data_validated with it, another might not */
	p->flags = r->flags & (NETRXF_data_validated | NETRXF_csum_blank) ? PKT_CSUM_OK : 0;
	return p;
}

/* Slot i holds an extra-info (netif_extra_info_t): with feature-sg the GSO facts of the
 * packet before it (which we need not: lwIP takes the segment as it is), else one we never
 * asked for. It took the request at slot i, whose buffer it does not name, so that buffer
 * is ours again. */
static void skip_extra(struct nfq *q, RING_IDX i)
{
	netif_extra_info_t x;
	uint16_t id = q->rx_id_at[i % RX_SIZE];

	memcpy(&x, RING_GET_RESPONSE(&q->rx, i), sizeof(x));
	q->rx_skip_extra = x.flags & XEN_NETIF_EXTRA_FLAG_MORE;
	if (!q->nf->sg)
		q->nf->nd.st.rx_bad++;
	if (q->rx_pkt[id])
		drop_rx(q, id);
}

/* the packet being put together is dropped (a bad slot, too many, too long) */
static void drop_partial(struct nfq *q)
{
	if (!q->rx_head)
		return;
	pkt_free(q->rx_head);
	q->rx_head = q->rx_tail = NULL;
	q->rx_slots = 0;
	q->nf->nd.st.rx_bad++;
}

/* One response slot's buffer p (NULL: a bad slot, already counted) with the slot's
 * flags: a whole packet to hand up, or NULL (none yet, or dropped). */
static struct pkt *assemble(struct nfq *q, struct pkt *p, uint16_t flags)
{
	bool more = flags & NETRXF_more_data, first = !q->rx_head;

	/* what follows this slot belongs to it: extra-info slots (after a packet's first
	 * slot only), then more data slots */
	q->rx_skip_extra = flags & NETRXF_extra_info;
	if (!p || (!first && (flags & NETRXF_extra_info))) {
		pkt_free(p);
		drop_partial(q);
		q->rx_drop_frags = more;
		return NULL;
	}
	if (first && !more)
		return p;
	if (first) {
		q->rx_head = p;
		q->rx_slots = 0;
	} else {
		q->rx_tail->frag = p;
	}
	q->rx_tail = p;
	if (++q->rx_slots > NF_RX_MAX_SLOTS || pkt_frame_len(q->rx_head) > NETDEV_LRO_MAX) {
		drop_partial(q);
		q->rx_drop_frags = more;
		return NULL;
	}
	if (more)
		return NULL;
	p = q->rx_head;
	q->rx_head = q->rx_tail = NULL;
	q->nf->nd.st.rx_large++;
	return p;
}

unsigned netfront_take_rx(struct nfq *q, struct pkt **pkts, unsigned max)
{
	struct nf *nf = q->nf;
	unsigned n = 0;
	int more;

	do {
		RING_IDX rp = q->rx.sring->rsp_prod;

		xen_rmb();
		if (!index_ok(q, "rx", rp, q->rx.rsp_cons, q->rx.req_prod_pvt))
			break;
		RING_IDX i = q->rx.rsp_cons;

		for (; i != rp && n < max; i++) {
			netif_rx_response_t r;

			if (q->rx_skip_extra) {
				skip_extra(q, i);
				continue;
			}
			/* one read of the shared slot: what we check is what we use */
			RING_COPY_RESPONSE(&q->rx, i, &r);
			if (q->rx_drop_frags) {
				/* a fragment of a packet already dropped */
				q->rx_drop_frags = r.flags & NETRXF_more_data;
				nf->nd.st.rx_bad++;
				if (r.id < RX_SIZE && q->rx_pkt[r.id])
					drop_rx(q, r.id);
				continue;
			}
			struct pkt *p = assemble(q, take_rx(q, &r), r.flags);

			if (p) {
				pkts[n++] = p;
				q->rx_packets++;
				nf->nd.st.rx_packets++;
				nf->nd.st.rx_bytes += pkt_frame_len(p);
			}
		}
		q->rx.rsp_cons = i;
		if (q->index < NF_MAX_QUEUES)
			__atomic_store_n(&nf->pend_cons[q->index], i, __ATOMIC_RELEASE);
		if (n == max)
			break;
		/* re-arm the event, then look once more: nothing slips in between; with the
		 * interrupts off (busy polling) only the look */
		if (__atomic_load_n(&nf->irq_on, __ATOMIC_SEQ_CST))
			RING_FINAL_CHECK_FOR_RESPONSES(&q->rx, more);
		else
			more = RING_HAS_UNCONSUMED_RESPONSES(&q->rx);
	} while (more);
	return n;
}

/* ---- transmit queue selection */

static uint32_t mix(uint32_t h, uint32_t w)
{
	h ^= w;
	h *= 0x9e3779b1u; /* 2^32 / golden ratio: spreads the bits of w over h */
	return h ^ h >> 15;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

unsigned netfront_flow_queue(const uint8_t *frame, uint32_t len, unsigned nq)
{
	if (nq <= 1 || len < ETH_HLEN + 20 || frame[12] != 0x08 || frame[13] != 0x00)
		return 0;
	const uint8_t *ip = frame + ETH_HLEN;
	uint32_t ihl = (ip[0] & 15u) * 4;
	uint32_t h = mix(mix(0, be32_at(ip + 12)), be32_at(ip + 16));
	bool fragment = (ip[6] & 0x3f) || ip[7]; /* more fragments, or an offset */

	h = mix(h, ip[9]);
	if ((ip[9] == 6 || ip[9] == 17) && !fragment && ihl >= 20 && ETH_HLEN + ihl + 4 <= len)
		h = mix(h, be32_at(ip + ihl)); /* the source and destination ports */
	return (unsigned)(((uint64_t)h * nq) >> 32);
}
