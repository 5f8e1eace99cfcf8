/* netfront's side of the responses (xen/io/netif.h): what the backend says is copied out
 * of the shared ring once and checked before anything is believed, because the backend
 * may lie or change the ring under us. Pure enough for the host tests (netfront/resp_test.c),
 * which run it against a fake ring and a fake grant table. */
#include "common/console.h"
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
static bool index_ok(struct nf *nf, const char *ring, RING_IDX prod, RING_IDX cons, RING_IDX req)
{
	if (prod - cons <= req - cons)
		return true;
	nf->nd.st.rx_bad++;
	if (!nf->broken)
		kprintf("netfront: %s: %s response index %u is past our requests (answered %u, "
			"requested %u): the backend lies about the ring; the device stops until "
			"it connects again\n",
			nf->nd.name, ring, prod, cons, req);
	nf->broken = true;
	nf->nd.link_up = false;
	return false;
}

/* ---- transmit */

void netfront_reap_tx(struct nf *nf)
{
	RING_IDX rp = nf->tx.sring->rsp_prod;

	xen_rmb(); /* the responses before the index that covers them */
	if (!index_ok(nf, "tx", rp, nf->tx.rsp_cons, nf->tx.req_prod_pvt))
		return;
	for (RING_IDX i = nf->tx.rsp_cons; i != rp; i++) {
		netif_tx_response_t r;

		/* one read of the shared slot: what we check is what we use */
		RING_COPY_RESPONSE(&nf->tx, i, &r);
		/* NETIF_RSP_NULL only follows an extra-info request, which we never make */
		if (r.id >= TX_SIZE || !nf->tx_pkt[r.id] || r.status == NETIF_RSP_NULL) {
			nf->nd.st.rx_bad++;
			continue;
		}
		uint16_t id = r.id;

		if (r.status != NETIF_RSP_OKAY)
			nf->nd.st.tx_dropped++;
		netfront_end_pkt_grant(nf->tx_ref[id], nf->tx_pkt[id]);
		nf->tx_pkt[id] = NULL;
		nf->tx_free[nf->tx_nfree++] = id;
	}
	nf->tx.rsp_cons = rp;
}

/* ---- receive */

/* a response's buffer: the packet, or NULL when the response is bad (counted). r is our
 * copy of the slot: the backend can change the ring under us, not r. */
static struct pkt *take_rx(struct nf *nf, const netif_rx_response_t *r)
{
	uint16_t id = r->id;
	enum rx_verdict v = netif_rx_verdict(r, RX_SIZE, id < RX_SIZE && nf->rx_pkt[id], PAGE_SIZE);

	if (v == RX_BAD_ID) {
		nf->nd.st.rx_bad++;
		return NULL;
	}
	struct pkt *p = nf->rx_pkt[id];
	int ref = nf->rx_ref[id];

	nf->rx_pkt[id] = NULL;
	nf->rx_free[nf->rx_nfree++] = id;
	if (!gnttab_end(ref)) {
		/* still mapped by the backend: its page stays out of use until it lets go */
		gnttab_release(ref, mm_va_pfn(p->page));
		kfree(p);
		nf->nd.st.rx_bad++;
		return NULL;
	}
	/* one slot per packet (no feature-sg, no GSO), within the page, no error */
	if (v != RX_OK) {
		if (r->flags & NETRXF_extra_info)
			nf->rx_skip_extra = true; /* the next slot is the extra, not a packet */
		if (v == RX_ERROR)
			nf->nd.st.rx_dropped++;
		else
			nf->nd.st.rx_bad++;
		pkt_free(p);
		return NULL;
	}
	p->data = (uint8_t *)p->page + r->offset;
	p->len = r->status;
	p->flags = r->flags & NETRXF_data_validated ? PKT_CSUM_OK : 0;
	return p;
}

unsigned netfront_take_rx(struct nf *nf, struct pkt **pkts, unsigned max)
{
	unsigned n = 0;
	int more;

	do {
		RING_IDX rp = nf->rx.sring->rsp_prod;

		xen_rmb();
		if (!index_ok(nf, "rx", rp, nf->rx.rsp_cons, nf->rx.req_prod_pvt))
			break;
		RING_IDX i = nf->rx.rsp_cons;

		for (; i != rp && n < max; i++) {
			netif_rx_response_t r;

			if (nf->rx_skip_extra) {
				nf->rx_skip_extra = false;
				continue;
			}
			/* one read of the shared slot: what we check is what we use */
			RING_COPY_RESPONSE(&nf->rx, i, &r);
			struct pkt *p = take_rx(nf, &r);

			if (p) {
				pkts[n++] = p;
				nf->nd.st.rx_packets++;
				nf->nd.st.rx_bytes += p->len;
			}
		}
		nf->rx.rsp_cons = i;
		if (n == max)
			break;
		/* re-arm the event, then look once more: nothing slips in between */
		RING_FINAL_CHECK_FOR_RESPONSES(&nf->rx, more);
	} while (more);
	return n;
}
