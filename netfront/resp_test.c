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
void mm_frame_free(uint64_t pfn);
extern char host_last_print[256];
#define pkts_freed host_frames_freed
#define prints host_prints
#define last_print host_last_print

static void free_page(uint64_t pfn)
{
	free((void *)(uintptr_t)(pfn * PAGE_SIZE));
}

static struct grant_entry_v1 table[2 * (TX_SIZE + RX_SIZE)];

/* one queue of a device (the driver's nf->q[0]) */
static struct nfq *setup(void)
{
	struct nfq *q = calloc(1, sizeof(*q));
	netif_tx_sring_t *tx = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	netif_rx_sring_t *rx = aligned_alloc(PAGE_SIZE, PAGE_SIZE);

	memset(tx, 0, PAGE_SIZE);
	memset(rx, 0, PAGE_SIZE);
	SHARED_RING_INIT(tx);
	FRONT_RING_INIT(&q->tx, tx, PAGE_SIZE);
	SHARED_RING_INIT(rx);
	FRONT_RING_INIT(&q->rx, rx, PAGE_SIZE);
	q->nf = calloc(1, sizeof(*q->nf));
	q->nf->q = q;
	q->nf->nq = 1;
	strcpy(q->nf->nd.name, "xnet9");
	q->nf->connected = true;
	q->nf->irq_on = true; /* as after net_start */
	memset(table, 0, sizeof(table));
	gnttab_use(table, sizeof(table) / sizeof(table[0]));
	gnttab_free_page = free_page;
	pkts_freed = prints = 0;
	return q;
}

/* everything still posted goes, as disconnect would have it */
static void teardown(struct nfq *q)
{
	for (unsigned id = 0; id < TX_SIZE; id++)
		if (q->tx_pkt[id] && q->tx_head[id] == id)
			netfront_tx_free(q, (uint16_t)id);
	for (unsigned id = 0; id < RX_SIZE; id++)
		if (q->rx_pkt[id])
			netfront_end_pkt_grant(q->rx_ref[id], q->rx_pkt[id]);
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		table[i].flags &= ~(GTF_reading | GTF_writing);
	CHECK_EQ(gnttab_reclaim(), 0);
	free(q->tx.sring);
	free(q->rx.sring);
	free(q->nf);
	free(q);
}

static struct pkt *new_pkt(void)
{
	struct pkt *p = calloc(1, sizeof(*p));

	p->page = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	p->data = (uint8_t *)p->page + PKT_HEADROOM;
	return p;
}

/* n receive buffers posted with ids first, first + 1, ... */
static void post_rx(struct nfq *q, uint16_t first, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint16_t id = first + k;
		RING_IDX at = q->rx.req_prod_pvt++;
		netif_rx_request_t *req = RING_GET_REQUEST(&q->rx, at);

		q->rx_id_at[at % RX_SIZE] = id;
		q->rx_pkt[id] = new_pkt();
		q->rx_ref[id] = gnttab_grant(1, id, false);
		req->id = id;
		req->gref = q->rx_ref[id];
	}
	RING_PUSH_REQUESTS(&q->rx);
}

/* the backend's answer in the next response slot (not yet shown: see show) */
static void rx_rsp(struct nfq *q, RING_IDX at, uint16_t id, uint16_t off, uint16_t flags,
		   int16_t status)
{
	*RING_GET_RESPONSE(&q->rx, at) =
		(netif_rx_response_t){ .id = id, .offset = off, .flags = flags, .status = status };
}

static void tx_rsp(struct nfq *q, RING_IDX at, uint16_t id, int16_t status)
{
	*RING_GET_RESPONSE(&q->tx, at) = (netif_tx_response_t){ .id = id, .status = status };
}

TEST(netfront_rx_takes_good_frames)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	post_rx(q, 0, 4);
	rx_rsp(q, 0, 2, 0, 0, 60);
	rx_rsp(q, 1, 0, 100, NETRXF_data_validated, 1514);
	rx_rsp(q, 2, 1, 0, NETRXF_csum_blank, 80); /* never summed: taken as checked */
	q->rx.sring->rsp_prod = 3;
	CHECK_EQ(netfront_take_rx(q, got, 8), 3);
	CHECK(got[0]->data == (uint8_t *)got[0]->page && got[0]->len == 60);
	CHECK(got[1]->data == (uint8_t *)got[1]->page + 100 && got[1]->len == 1514);
	CHECK_EQ(got[0]->flags, 0);
	CHECK_EQ(got[1]->flags, PKT_CSUM_OK);
	CHECK_EQ(got[2]->flags, PKT_CSUM_OK);
	CHECK(!q->rx_pkt[2] && !q->rx_pkt[0] && !q->rx_pkt[1] && q->rx_pkt[3]);
	CHECK_EQ(q->rx_nfree, 3); /* ids 2, 0 and 1 are free again */
	CHECK_EQ(q->nf->nd.st.rx_bad, 0);
	CHECK_EQ(q->rx.rsp_cons, 3);
	CHECK_EQ(q->rx.sring->rsp_event, 4); /* re-armed for the next one */
	CHECK_EQ(q->nf->pend_cons[0], 3);     /* what an idle CPU compares with */
	pkt_free(got[0]);
	pkt_free(got[1]);
	pkt_free(got[2]);
	teardown(q);
}

/* busy polling (interrupts off): responses are taken, the event is not re-armed, so the
 * backend sends none while the owner polls; one that comes during the take is seen */
TEST(netfront_rx_busy_polling_leaves_the_event)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	q->nf->irq_on = false;
	q->rx.sring->rsp_event = 1;
	post_rx(q, 0, 4);
	rx_rsp(q, 0, 0, 0, 0, 60);
	rx_rsp(q, 1, 1, 0, 0, 60);
	q->rx.sring->rsp_prod = 2;
	CHECK_EQ(netfront_take_rx(q, got, 8), 2);
	CHECK_EQ(q->rx.sring->rsp_event, 1); /* left where it was: no event for the next */
	CHECK_EQ(q->nf->pend_cons[0], 2);
	rx_rsp(q, 2, 2, 0, 0, 60);
	q->rx.sring->rsp_prod = 3;
	CHECK_EQ(netfront_take_rx(q, got + 2, 6), 1);
	CHECK_EQ(q->rx.sring->rsp_event, 1);
	for (int i = 0; i < 3; i++)
		pkt_free(got[i]);
	teardown(q);
}

/* ids past the ring, not posted, answered twice; frames past the page or empty: none is
 * believed, and the buffers of the ones that named a posted id are not handed out */
TEST(netfront_rx_drops_lying_responses)
{
	struct nfq *q = setup();
	struct pkt *got[16];

	post_rx(q, 0, 8);
	rx_rsp(q, 0, RX_SIZE, 0, 0, 60);	 /* past the ring */
	rx_rsp(q, 1, 200, 0, 0, 60);		 /* never posted */
	rx_rsp(q, 2, 1, 0, 0, 60);		 /* good */
	rx_rsp(q, 3, 1, 0, 0, 60);		 /* the same buffer again */
	rx_rsp(q, 4, 2, 4000, 0, 1514);	 /* runs off the page */
	rx_rsp(q, 5, 3, 0xffff, 0, 0x7fff);	 /* far off it */
	rx_rsp(q, 6, 4, 0, 0, 0);		 /* empty */
	rx_rsp(q, 7, 5, 0, 0, NETIF_RSP_ERROR); /* failed: dropped, not bad */
	q->rx.sring->rsp_prod = 8;
	CHECK_EQ(netfront_take_rx(q, got, 16), 1);
	CHECK(got[0]->len == 60 && got[0]->data == got[0]->page);
	CHECK_EQ(q->nf->nd.st.rx_bad, 6);
	CHECK_EQ(q->nf->nd.st.rx_dropped, 1);
	CHECK_EQ(pkts_freed, 4); /* the buffers of ids 2..5 */
	CHECK(!q->nf->broken);
	pkt_free(got[0]);
	teardown(q);
}

/* a response index past what we posted: nothing on the ring is read as a response, the
 * device stops, and it says so once */
TEST(netfront_rx_index_past_requests_stops_the_device)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	post_rx(q, 0, 2);
	rx_rsp(q, 0, 0, 0, 0, 60);
	rx_rsp(q, 1, 1, 0, 0, 60);
	rx_rsp(q, 2, 1, 0, 0, 60); /* a slot we never posted a request for */
	q->rx.sring->rsp_prod = 3;
	CHECK_EQ(netfront_take_rx(q, got, 8), 0);
	CHECK(q->nf->broken);
	CHECK(!q->nf->nd.link_up);
	CHECK_EQ(q->rx.rsp_cons, 0);
	CHECK_EQ(q->nf->nd.st.rx_bad, 1);
	CHECK_EQ(prints, 1);
	CHECK(!strncmp(last_print, "netfront: xnet9: rx response index 3", 36));
	CHECK_EQ(netfront_take_rx(q, got, 8), 0);
	CHECK_EQ(prints, 1); /* reported once */
	CHECK(q->rx_pkt[0] && q->rx_pkt[1]);
	teardown(q);
}

/* a buffer the backend still maps after answering is not handed out, nor freed: its page
 * goes only when the backend lets go */
TEST(netfront_rx_buffer_still_mapped_stays_out_of_use)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	post_rx(q, 0, 1);
	table[q->rx_ref[0]].flags |= GTF_writing;
	rx_rsp(q, 0, 0, 0, 0, 60);
	q->rx.sring->rsp_prod = 1;
	CHECK_EQ(netfront_take_rx(q, got, 8), 0);
	CHECK_EQ(q->nf->nd.st.rx_bad, 1);
	CHECK_EQ(pkts_freed, 0);
	struct gnttab_stats s;

	gnttab_stats(&s);
	CHECK_EQ(s.deferred, 1);
	teardown(q); /* lets go: the page is freed then */
}

static void post_tx(struct nfq *q, uint16_t id)
{
	netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);

	netfront_tx_slot(q, id, NF_TX_END, new_pkt(), gnttab_grant(1, id, true));
	req->id = id;
	req->gref = q->tx_ref[id];
	RING_PUSH_REQUESTS(&q->tx);
}

/* a large packet in a block of 2^order pages, as netfront.c's tx_one sends it: a slot
 * per page (ids first, first + 1, ...) and an extra-info slot after the first */
static struct pkt *post_tx_large(struct nfq *q, uint16_t first, unsigned order)
{
	struct pkt *p = calloc(1, sizeof(*p));
	unsigned pages = 1u << order;
	uint16_t prev = NF_TX_END;

	p->page = aligned_alloc(PAGE_SIZE, pages * PAGE_SIZE);
	p->data = (uint8_t *)p->page + PKT_HEADROOM;
	p->order = (uint8_t)order;
	for (unsigned k = 0; k < pages; k++) {
		uint16_t id = first + k;
		netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);

		netfront_tx_slot(q, id, prev, p, gnttab_grant(1, id, true));
		req->id = id;
		req->gref = q->tx_ref[id];
		prev = id;
		if (!k) {
			q->tx.req_prod_pvt++; /* the extra-info slot */
			q->tx_extras++;
		}
	}
	RING_PUSH_REQUESTS(&q->tx);
	return p;
}

TEST(netfront_tx_large_packet_freed_when_its_last_slot_is_answered)
{
	struct nfq *q = setup();
	struct gnttab_stats s0;

	gnttab_stats(&s0);
	post_tx_large(q, 10, 2); /* slots 10, (extra), 11, 12, 13 */
	post_tx(q, 20);
	post_tx(q, 21); /* unanswered: room in the ring for the bad answers below */
	post_tx(q, 22);
	/* Linux's backend: the first slot's answer, then the extra's (id: whatever the
	 * slot held), the one-slot packet, then the others as it lets go of them */
	tx_rsp(q, 0, 10, NETIF_RSP_OKAY);
	tx_rsp(q, 1, 0x101, NETIF_RSP_NULL);
	tx_rsp(q, 2, 20, NETIF_RSP_OKAY);
	tx_rsp(q, 3, 12, NETIF_RSP_OKAY);
	tx_rsp(q, 4, 12, NETIF_RSP_OKAY); /* again: bad, and not counted as slot 13 */
	tx_rsp(q, 5, 11, NETIF_RSP_OKAY);
	q->tx.sring->rsp_prod = 6;
	netfront_reap_tx(q);
	CHECK_EQ(pkts_freed, 1); /* the one-slot packet; the large one waits for 13 */
	CHECK(q->tx_pkt[10] && q->tx_pkt[11] && q->tx_pkt[13] && !q->tx_pkt[20]);
	CHECK_EQ(q->tx_nfree, 1);
	CHECK_EQ(q->tx_left[10], 1);
	CHECK_EQ(q->tx_extras, 0);
	CHECK_EQ(q->nf->nd.st.rx_bad, 1);
	tx_rsp(q, 6, 0x101, NETIF_RSP_NULL); /* no extra-info slot left unanswered: bad */
	tx_rsp(q, 7, 13, NETIF_RSP_ERROR);
	q->tx.sring->rsp_prod = 8;
	netfront_reap_tx(q);
	CHECK_EQ(pkts_freed, 2);
	CHECK(!q->tx_pkt[10] && !q->tx_pkt[11] && !q->tx_pkt[12] && !q->tx_pkt[13]);
	CHECK_EQ(q->tx_nfree, 5); /* every id given back, once */
	CHECK_EQ(q->nf->nd.st.rx_bad, 2);
	CHECK_EQ(q->nf->nd.st.tx_dropped, 1); /* a slot refused: the packet counts once */
	struct gnttab_stats s;

	gnttab_stats(&s);
	CHECK_EQ(s.granted - s0.granted, 7);
	CHECK_EQ(s.ended - s0.ended, 5); /* all but 21's and 22's */
	teardown(q);
}

TEST(netfront_tx_large_packet_keeps_the_pages_the_backend_still_maps)
{
	struct nfq *q = setup();

	gnttab_free_page = mm_frame_free; /* a page of a split block */
	post_tx_large(q, 0, 2);
	table[q->tx_ref[2]].flags |= GTF_reading; /* page 2 still mapped */
	for (unsigned k = 0; k < 4; k++)
		tx_rsp(q, k + (k > 0), (uint16_t)k, NETIF_RSP_OKAY);
	tx_rsp(q, 1, 0, NETIF_RSP_NULL);
	q->tx.sring->rsp_prod = 5;
	netfront_reap_tx(q);
	CHECK_EQ(pkts_freed, 3); /* pages 0, 1 and 3, one by one */
	CHECK_EQ(q->tx_nfree, 4);
	struct gnttab_stats s;

	gnttab_stats(&s);
	CHECK_EQ(s.deferred, 1);
	teardown(q); /* lets go: page 2 is freed then, and the block with it */
	CHECK_EQ(pkts_freed, 4);
}

TEST(netfront_tx_queue_down_frees_a_large_packet_in_flight_once)
{
	struct nfq *q = setup();

	post_tx_large(q, 5, 1);
	tx_rsp(q, 0, 5, NETIF_RSP_OKAY);
	q->tx.sring->rsp_prod = 1;
	netfront_reap_tx(q);
	CHECK_EQ(pkts_freed, 0);
	teardown(q); /* as queue_down: the head frees it, the other slot with it */
	CHECK_EQ(pkts_freed, 1);
}

TEST(netfront_tx_frees_each_answered_packet_once)
{
	struct nfq *q = setup();

	post_tx(q, 3);
	post_tx(q, 4);
	post_tx(q, 5);
	post_tx(q, 6);
	tx_rsp(q, 0, 3, NETIF_RSP_OKAY);
	tx_rsp(q, 1, 3, NETIF_RSP_OKAY);	/* again */
	tx_rsp(q, 2, TX_SIZE, NETIF_RSP_OKAY); /* past the ring */
	tx_rsp(q, 3, 5, NETIF_RSP_NULL);	/* we never sent an extra-info request */
	q->tx.sring->rsp_prod = 4;
	netfront_reap_tx(q);
	CHECK_EQ(pkts_freed, 1);
	CHECK(!q->tx_pkt[3] && q->tx_pkt[4] && q->tx_pkt[5] && q->tx_pkt[6]);
	CHECK_EQ(q->tx_nfree, 1);
	CHECK_EQ(q->nf->nd.st.rx_bad, 3);
	CHECK_EQ(q->tx.rsp_cons, 4);
	CHECK(!q->nf->broken);
	teardown(q);
}

TEST(netfront_tx_index_past_requests_stops_the_device)
{
	struct nfq *q = setup();

	post_tx(q, 0);
	tx_rsp(q, 0, 0, NETIF_RSP_OKAY);
	q->tx.sring->rsp_prod = TX_SIZE; /* within the ring, but past our one request */
	netfront_reap_tx(q);
	CHECK(q->nf->broken);
	CHECK_EQ(pkts_freed, 0);
	CHECK_EQ(q->tx.rsp_cons, 0);
	CHECK_EQ(prints, 1);
	CHECK(!strncmp(last_print, "netfront: xnet9: tx response index", 34));
	teardown(q);
}

/* an extra-info slot (never asked for) takes a request slot without naming its buffer:
 * that buffer is freed and its id is free again, nothing leaks; a chain of extras
 * (XEN_NETIF_EXTRA_FLAG_MORE) is skipped whole, and the packet they belong to dropped */
TEST(netfront_rx_extra_info_slots_give_their_buffers_back)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	post_rx(q, 10, 5); /* ids 10..14 at slots 0..4 */
	rx_rsp(q, 0, 10, 0, NETRXF_extra_info, 60);
	*(netif_extra_info_t *)RING_GET_RESPONSE(&q->rx, 1) =
		(netif_extra_info_t){ .type = XEN_NETIF_EXTRA_TYPE_GSO,
				      .flags = XEN_NETIF_EXTRA_FLAG_MORE };
	*(netif_extra_info_t *)RING_GET_RESPONSE(&q->rx, 2) =
		(netif_extra_info_t){ .type = XEN_NETIF_EXTRA_TYPE_HASH };
	rx_rsp(q, 3, 13, 0, 0, 60); /* a packet again */
	q->rx.sring->rsp_prod = 4;
	CHECK_EQ(netfront_take_rx(q, got, 8), 1);
	CHECK_EQ(got[0]->len, 60);
	CHECK(!q->rx_pkt[10] && !q->rx_pkt[11] && !q->rx_pkt[12] && !q->rx_pkt[13]);
	CHECK(q->rx_pkt[14]);
	CHECK_EQ(q->rx_nfree, 4);
	CHECK_EQ(pkts_freed, 3); /* 10 (its packet dropped), 11 and 12 (the extras' slots) */
	CHECK_EQ(q->nf->nd.st.rx_bad, 3);
	CHECK(!q->rx_skip_extra);
	pkt_free(got[0]);
	teardown(q);
}

/* more-data (we offer no feature-sg): the packet and every slot continuing it dropped,
 * their buffers back; the packet after them is taken */
TEST(netfront_rx_more_data_fragments_are_dropped)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	post_rx(q, 0, 4);
	rx_rsp(q, 0, 0, 0, NETRXF_more_data, 1000);
	rx_rsp(q, 1, 1, 0, NETRXF_more_data, 1000);
	rx_rsp(q, 2, 2, 0, 0, 500);
	rx_rsp(q, 3, 3, 0, 0, 60);
	q->rx.sring->rsp_prod = 4;
	CHECK_EQ(netfront_take_rx(q, got, 8), 1);
	CHECK_EQ(got[0]->len, 60);
	CHECK_EQ(q->rx_nfree, 4);
	CHECK_EQ(pkts_freed, 3);
	CHECK_EQ(q->nf->nd.st.rx_bad, 3);
	CHECK(!q->rx_drop_frags);
	pkt_free(got[0]);
	teardown(q);
}

static uint32_t frame_udp(uint8_t *f, uint32_t src, uint16_t sport, uint16_t dport, uint16_t frag)
{
	memset(f, 0, 64);
	f[12] = 0x08;
	f[14] = 0x45;
	f[20] = frag >> 8;
	f[21] = frag & 0xff;
	f[23] = 17;
	f[26] = src >> 24, f[27] = src >> 16, f[28] = src >> 8, f[29] = src;
	f[30] = 10, f[31] = 0, f[32] = 9, f[33] = 1;
	f[34] = sport >> 8, f[35] = sport & 0xff, f[36] = dport >> 8, f[37] = dport & 0xff;
	return 64;
}

/* a flow keeps one queue; flows spread over the queues; fragments of a datagram (whose
 * later parts carry no ports) follow their addresses only; short or non-IPv4 frames,
 * and one queue, give queue 0 */
TEST(netfront_flow_queue_keeps_flows_and_spreads_them)
{
	uint8_t f[64];
	unsigned per[4] = { 0 };

	for (unsigned port = 1000; port < 1400; port++) {
		unsigned a = netfront_flow_queue(f, frame_udp(f, 0x0a000902, 7, port, 0), 4);
		unsigned b = netfront_flow_queue(f, frame_udp(f, 0x0a000902, 7, port, 0), 4);

		CHECK_EQ(a, b);
		CHECK(a < 4);
		per[a]++;
	}
	for (unsigned i = 0; i < 4; i++)
		CHECK(per[i] > 50); /* 100 each if even; no queue left idle */
	unsigned head = netfront_flow_queue(f, frame_udp(f, 0x0a000902, 7, 1, 0x2000), 4);
	unsigned tail = netfront_flow_queue(f, frame_udp(f, 0x0a000902, 99, 99, 0x00b9), 4);

	CHECK_EQ(head, tail);
	CHECK_EQ(netfront_flow_queue(f, frame_udp(f, 0x0a000902, 7, 1234, 0), 1), 0);
	CHECK_EQ(netfront_flow_queue(f, 33, 4), 0);
	f[12] = 0x08, f[13] = 0x06; /* ARP */
	CHECK_EQ(netfront_flow_queue(f, 64, 4), 0);
	/* ports past the frame's end are not read: addresses only */
	frame_udp(f, 0x0a000902, 7, 1234, 0);
	f[14] = 0x4f; /* a 60-byte IP header: the ports would be at 74 */
	CHECK(netfront_flow_queue(f, 64, 4) < 4);
}

/* feature-sg offered: a packet in three slots with a GSO extra-info slot after its first
 * comes up as one chained packet (the extra's buffer back, not counted as bad), its slots
 * possibly in two looks at the ring; then a one-slot packet as usual */
TEST(netfront_rx_large_packets_in_several_slots)
{
	struct nfq *q = setup();
	struct pkt *got[8];

	q->nf->sg = true;
	post_rx(q, 0, 8);
	rx_rsp(q, 0, 0, 0, NETRXF_more_data | NETRXF_extra_info | NETRXF_csum_blank, 4096);
	*(netif_extra_info_t *)RING_GET_RESPONSE(&q->rx, 1) =
		(netif_extra_info_t){ .type = XEN_NETIF_EXTRA_TYPE_GSO };
	rx_rsp(q, 2, 2, 0, NETRXF_more_data, 4096);
	q->rx.sring->rsp_prod = 3; /* the rest comes later */
	CHECK_EQ(netfront_take_rx(q, got, 8), 0);
	CHECK(q->rx_head && q->rx_slots == 2);
	rx_rsp(q, 3, 3, 0, 0, 1000);
	rx_rsp(q, 4, 4, 0, 0, 60);
	q->rx.sring->rsp_prod = 5;
	CHECK_EQ(netfront_take_rx(q, got, 8), 2);
	CHECK_EQ(got[0]->len, 4096);
	CHECK_EQ(got[0]->flags, PKT_CSUM_OK);
	CHECK(got[0]->frag && got[0]->frag->len == 4096 && got[0]->frag->frag &&
	      got[0]->frag->frag->len == 1000 && !got[0]->frag->frag->frag);
	CHECK_EQ(pkt_frame_len(got[0]), 9192);
	CHECK_EQ(got[1]->len, 60);
	CHECK(!got[1]->frag);
	CHECK_EQ(q->nf->nd.st.rx_bad, 0);
	CHECK_EQ(q->nf->nd.st.rx_large, 1);
	CHECK_EQ(q->nf->nd.st.rx_packets, 2);
	CHECK_EQ(q->nf->nd.st.rx_bytes, 9192 + 60);
	CHECK_EQ(pkts_freed, 1); /* the extra-info slot's buffer */
	CHECK_EQ(q->rx_nfree, 5); /* every id answered is free again */
	CHECK(!q->rx_head && !q->rx_skip_extra && !q->rx_drop_frags);
	pkt_free(got[0]);
	pkt_free(got[1]);
	CHECK_EQ(pkts_freed, 1 + 4);
	teardown(q);
}

/* a backend that lies inside a large packet: a slot past its page, an extra-info on a
 * later slot, more slots than a 64 KiB packet takes, more than 64 KiB: each packet is
 * dropped whole with the slots that continue it, every buffer back, and the packets
 * between them are taken */
TEST(netfront_rx_large_packet_lies_drop_it_whole)
{
	struct nfq *q = setup();
	struct pkt *got[8];
	RING_IDX at = 0;

	q->nf->sg = true;
	post_rx(q, 0, 80);
	/* 1: its second slot runs off the page, a third continues it */
	rx_rsp(q, at++, 0, 0, NETRXF_more_data, 4096);
	rx_rsp(q, at++, 1, 100, NETRXF_more_data, 4096);
	rx_rsp(q, at++, 2, 0, 0, 100);
	rx_rsp(q, at++, 3, 0, 0, 60); /* taken */
	/* 2: an extra-info on its second slot (and the extra slot itself) */
	rx_rsp(q, at++, 4, 0, NETRXF_more_data, 4096);
	rx_rsp(q, at++, 5, 0, NETRXF_extra_info, 100);
	*(netif_extra_info_t *)RING_GET_RESPONSE(&q->rx, at++) =
		(netif_extra_info_t){ .type = XEN_NETIF_EXTRA_TYPE_GSO };
	rx_rsp(q, at++, 7, 0, 0, 61); /* taken */
	/* 3: 19 slots of 100 bytes (too many) */
	for (unsigned k = 0; k < 19; k++, at++)
		rx_rsp(q, at, (uint16_t)at, 0, k < 18 ? NETRXF_more_data : 0, 100);
	rx_rsp(q, at, (uint16_t)at, 0, 0, 62); /* taken */
	at++;
	/* 4: 17 full pages: past 64 KiB at the 17th */
	for (unsigned k = 0; k < 17; k++, at++)
		rx_rsp(q, at, (uint16_t)at, 0, k < 16 ? NETRXF_more_data : 0, 4096);
	rx_rsp(q, at, (uint16_t)at, 0, 0, 63); /* taken */
	at++;
	q->rx.sring->rsp_prod = at;
	CHECK_EQ(netfront_take_rx(q, got, 8), 4);
	for (unsigned k = 0; k < 4; k++) {
		CHECK_EQ(got[k]->len, 60 + k);
		CHECK(!got[k]->frag);
		pkt_free(got[k]);
	}
	CHECK(!q->rx_head && !q->rx_drop_frags && !q->rx_skip_extra);
	CHECK_EQ(q->rx_nfree, at);
	CHECK_EQ(pkts_freed, at); /* every buffer the backend answered */
	CHECK_EQ(q->nf->nd.st.rx_large, 0);
	CHECK(q->nf->nd.st.rx_bad >= 4);
	teardown(q);
}
