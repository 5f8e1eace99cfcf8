/* netfront's response side (resp.c) against a fake backend that writes the shared rings
 * by hand, as a lying one would (xen/io/netif.h, xen/io/ring.h): ids out of range, not
 * posted or answered twice, frames past the page, indexes past our requests, grants it
 * still maps. The grant table is a fake one (gnttab_use); the kernel services resp.c
 * calls are the host tests' shared fakes (common/devices_test.c), which count what
 * happened. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "netfront/nf.h"
#include "hv_xen/grant.h"
#include "tools/unit/unit.h"

/* common/devices_test.c: pkt_free's pages, and the console */
extern unsigned host_frames_freed, host_prints;
extern char host_last_print[256];
#define pkts_freed host_frames_freed
#define prints host_prints
#define last_print host_last_print

static void free_page(uint64_t pfn)
{
	free((void *)(uintptr_t)(pfn * PAGE_SIZE));
}

static struct grant_entry_v1 table[2 * (TX_SIZE + RX_SIZE)];

static struct nf *setup(void)
{
	struct nf *nf = calloc(1, sizeof(*nf));
	netif_tx_sring_t *tx = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	netif_rx_sring_t *rx = aligned_alloc(PAGE_SIZE, PAGE_SIZE);

	memset(tx, 0, PAGE_SIZE);
	memset(rx, 0, PAGE_SIZE);
	SHARED_RING_INIT(tx);
	FRONT_RING_INIT(&nf->tx, tx, PAGE_SIZE);
	SHARED_RING_INIT(rx);
	FRONT_RING_INIT(&nf->rx, rx, PAGE_SIZE);
	strcpy(nf->nd.name, "xnet9");
	nf->connected = true;
	memset(table, 0, sizeof(table));
	gnttab_use(table, sizeof(table) / sizeof(table[0]));
	gnttab_free_page = free_page;
	pkts_freed = prints = 0;
	return nf;
}

/* everything still posted goes, as disconnect would have it */
static void teardown(struct nf *nf)
{
	for (unsigned id = 0; id < TX_SIZE; id++)
		if (nf->tx_pkt[id])
			netfront_end_pkt_grant(nf->tx_ref[id], nf->tx_pkt[id]);
	for (unsigned id = 0; id < RX_SIZE; id++)
		if (nf->rx_pkt[id])
			netfront_end_pkt_grant(nf->rx_ref[id], nf->rx_pkt[id]);
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		table[i].flags &= ~(GTF_reading | GTF_writing);
	CHECK_EQ(gnttab_reclaim(), 0);
	free(nf->tx.sring);
	free(nf->rx.sring);
	free(nf);
}

static struct pkt *new_pkt(void)
{
	struct pkt *p = calloc(1, sizeof(*p));

	p->page = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	p->data = (uint8_t *)p->page + PKT_HEADROOM;
	return p;
}

/* n receive buffers posted with ids first, first + 1, ... */
static void post_rx(struct nf *nf, uint16_t first, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint16_t id = first + k;
		netif_rx_request_t *req = RING_GET_REQUEST(&nf->rx, nf->rx.req_prod_pvt++);

		nf->rx_pkt[id] = new_pkt();
		nf->rx_ref[id] = gnttab_grant(1, id, false);
		req->id = id;
		req->gref = nf->rx_ref[id];
	}
	RING_PUSH_REQUESTS(&nf->rx);
}

/* the backend's answer in the next response slot (not yet shown: see show) */
static void rx_rsp(struct nf *nf, RING_IDX at, uint16_t id, uint16_t off, uint16_t flags,
		   int16_t status)
{
	*RING_GET_RESPONSE(&nf->rx, at) =
		(netif_rx_response_t){ .id = id, .offset = off, .flags = flags, .status = status };
}

static void tx_rsp(struct nf *nf, RING_IDX at, uint16_t id, int16_t status)
{
	*RING_GET_RESPONSE(&nf->tx, at) = (netif_tx_response_t){ .id = id, .status = status };
}

TEST(netfront_rx_takes_good_frames)
{
	struct nf *nf = setup();
	struct pkt *got[8];

	post_rx(nf, 0, 4);
	rx_rsp(nf, 0, 2, 0, 0, 60);
	rx_rsp(nf, 1, 0, 100, NETRXF_data_validated, 1514);
	nf->rx.sring->rsp_prod = 2;
	CHECK_EQ(netfront_take_rx(nf, got, 8), 2);
	CHECK(got[0]->data == (uint8_t *)got[0]->page && got[0]->len == 60);
	CHECK(got[1]->data == (uint8_t *)got[1]->page + 100 && got[1]->len == 1514);
	CHECK_EQ(got[1]->flags, PKT_CSUM_OK);
	CHECK(!nf->rx_pkt[2] && !nf->rx_pkt[0] && nf->rx_pkt[1] && nf->rx_pkt[3]);
	CHECK_EQ(nf->rx_nfree, 2); /* ids 2 and 0 are free again */
	CHECK_EQ(nf->nd.st.rx_bad, 0);
	CHECK_EQ(nf->rx.rsp_cons, 2);
	CHECK_EQ(nf->rx.sring->rsp_event, 3); /* re-armed for the next one */
	pkt_free(got[0]);
	pkt_free(got[1]);
	teardown(nf);
}

/* ids past the ring, not posted, answered twice; frames past the page or empty: none is
 * believed, and the buffers of the ones that named a posted id are not handed out */
TEST(netfront_rx_drops_lying_responses)
{
	struct nf *nf = setup();
	struct pkt *got[16];

	post_rx(nf, 0, 8);
	rx_rsp(nf, 0, RX_SIZE, 0, 0, 60);	 /* past the ring */
	rx_rsp(nf, 1, 200, 0, 0, 60);		 /* never posted */
	rx_rsp(nf, 2, 1, 0, 0, 60);		 /* good */
	rx_rsp(nf, 3, 1, 0, 0, 60);		 /* the same buffer again */
	rx_rsp(nf, 4, 2, 4000, 0, 1514);	 /* runs off the page */
	rx_rsp(nf, 5, 3, 0xffff, 0, 0x7fff);	 /* far off it */
	rx_rsp(nf, 6, 4, 0, 0, 0);		 /* empty */
	rx_rsp(nf, 7, 5, 0, 0, NETIF_RSP_ERROR); /* failed: dropped, not bad */
	nf->rx.sring->rsp_prod = 8;
	CHECK_EQ(netfront_take_rx(nf, got, 16), 1);
	CHECK(got[0]->len == 60 && got[0]->data == got[0]->page);
	CHECK_EQ(nf->nd.st.rx_bad, 6);
	CHECK_EQ(nf->nd.st.rx_dropped, 1);
	CHECK_EQ(pkts_freed, 4); /* the buffers of ids 2..5 */
	CHECK(!nf->broken);
	pkt_free(got[0]);
	teardown(nf);
}

/* a response index past what we posted: nothing on the ring is read as a response, the
 * device stops, and it says so once */
TEST(netfront_rx_index_past_requests_stops_the_device)
{
	struct nf *nf = setup();
	struct pkt *got[8];

	post_rx(nf, 0, 2);
	rx_rsp(nf, 0, 0, 0, 0, 60);
	rx_rsp(nf, 1, 1, 0, 0, 60);
	rx_rsp(nf, 2, 1, 0, 0, 60); /* a slot we never posted a request for */
	nf->rx.sring->rsp_prod = 3;
	CHECK_EQ(netfront_take_rx(nf, got, 8), 0);
	CHECK(nf->broken);
	CHECK(!nf->nd.link_up);
	CHECK_EQ(nf->rx.rsp_cons, 0);
	CHECK_EQ(nf->nd.st.rx_bad, 1);
	CHECK_EQ(prints, 1);
	CHECK(!strncmp(last_print, "netfront: xnet9: rx response index 3", 36));
	CHECK_EQ(netfront_take_rx(nf, got, 8), 0);
	CHECK_EQ(prints, 1); /* reported once */
	CHECK(nf->rx_pkt[0] && nf->rx_pkt[1]);
	teardown(nf);
}

/* a buffer the backend still maps after answering is not handed out, nor freed: its page
 * goes only when the backend lets go */
TEST(netfront_rx_buffer_still_mapped_stays_out_of_use)
{
	struct nf *nf = setup();
	struct pkt *got[8];

	post_rx(nf, 0, 1);
	table[nf->rx_ref[0]].flags |= GTF_writing;
	rx_rsp(nf, 0, 0, 0, 0, 60);
	nf->rx.sring->rsp_prod = 1;
	CHECK_EQ(netfront_take_rx(nf, got, 8), 0);
	CHECK_EQ(nf->nd.st.rx_bad, 1);
	CHECK_EQ(pkts_freed, 0);
	struct gnttab_stats s;

	gnttab_stats(&s);
	CHECK_EQ(s.deferred, 1);
	teardown(nf); /* lets go: the page is freed then */
}

static void post_tx(struct nf *nf, uint16_t id)
{
	netif_tx_request_t *req = RING_GET_REQUEST(&nf->tx, nf->tx.req_prod_pvt++);

	nf->tx_pkt[id] = new_pkt();
	nf->tx_ref[id] = gnttab_grant(1, id, true);
	req->id = id;
	req->gref = nf->tx_ref[id];
	RING_PUSH_REQUESTS(&nf->tx);
}

TEST(netfront_tx_frees_each_answered_packet_once)
{
	struct nf *nf = setup();

	post_tx(nf, 3);
	post_tx(nf, 4);
	post_tx(nf, 5);
	post_tx(nf, 6);
	tx_rsp(nf, 0, 3, NETIF_RSP_OKAY);
	tx_rsp(nf, 1, 3, NETIF_RSP_OKAY);	/* again */
	tx_rsp(nf, 2, TX_SIZE, NETIF_RSP_OKAY); /* past the ring */
	tx_rsp(nf, 3, 5, NETIF_RSP_NULL);	/* we never sent an extra-info request */
	nf->tx.sring->rsp_prod = 4;
	netfront_reap_tx(nf);
	CHECK_EQ(pkts_freed, 1);
	CHECK(!nf->tx_pkt[3] && nf->tx_pkt[4] && nf->tx_pkt[5] && nf->tx_pkt[6]);
	CHECK_EQ(nf->tx_nfree, 1);
	CHECK_EQ(nf->nd.st.rx_bad, 3);
	CHECK_EQ(nf->tx.rsp_cons, 4);
	CHECK(!nf->broken);
	teardown(nf);
}

TEST(netfront_tx_index_past_requests_stops_the_device)
{
	struct nf *nf = setup();

	post_tx(nf, 0);
	tx_rsp(nf, 0, 0, NETIF_RSP_OKAY);
	nf->tx.sring->rsp_prod = TX_SIZE; /* within the ring, but past our one request */
	netfront_reap_tx(nf);
	CHECK(nf->broken);
	CHECK_EQ(pkts_freed, 0);
	CHECK_EQ(nf->tx.rsp_cons, 0);
	CHECK_EQ(prints, 1);
	CHECK(!strncmp(last_print, "netfront: xnet9: tx response index", 34));
	teardown(nf);
}
