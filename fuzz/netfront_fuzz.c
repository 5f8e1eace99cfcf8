/* netfront/resp.c: the transmit and receive responses from a lying backend. The input is
 * a script: the frontend posts receive buffers and transmit packets (as netfront.c's
 * refill and transmit do), and the backend writes responses into the shared rings (any
 * id, offset, flags, status), moves its producer indexes (honestly or not), maps and
 * unmaps granted pages, and scribbles on the ring pages; the frontend takes responses in
 * between. The grant table is a fake one (hv_xen/grant.c's allocator over a table here);
 * pkt_free, kfree and the page free are stubs that check what is freed. Whatever the
 * backend does: a received packet is a buffer we posted and did not get back yet, handed
 * out once, with its frame inside its page; nothing is freed twice, nothing the backend
 * still maps is freed, the free id lists stay exact, the consumer never passes our
 * requests, and a device the backend lied to takes nothing more. Extra-info and
 * more-data slots (never asked for) give their buffers back. Transmit packets may be
 * large, as tx_one sends them: two pages, a slot each and an extra-info slot between
 * (the backend answers any of them, or an extra with NETIF_RSP_NULL): the block goes only
 * once every slot is answered, whole, or page by page (mm_frames_split) when the backend
 * still maps some, and no page it maps is freed. The input as a frame: its
 * transmit queue (netfront_flow_queue) is in range and read within the frame. */
#include <stdarg.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "fuzz/fuzz.h"
#include "hv_xen/grant.h"
#include "netfront/nf.h"

#define MAX_RECS 4096

enum state { FREE, POSTED, HANDED, PAGE_HELD, GONE };

/* a packet of ours; each of its pages starts with a pointer back here (the stubs find
 * it by page). A large one has 2 pages; split (mm_frames_split), they go one by one. */
struct rec {
	struct pkt *p;
	void *page;
	uint32_t gfn; /* the fake frame number its first page's grant names (then gfn + 1) */
	enum state st;
	unsigned pages;
	bool split;
	bool page_gone[2]; /* split: each page freed */
};

static struct rec recs[MAX_RECS];
static unsigned nrecs;
static struct grant_entry_v1 table[2 * (TX_SIZE + RX_SIZE)];
#define NTABLE (sizeof(table) / sizeof(table[0]))
/* the entries the backend has ever mapped in this input: only they can carry
 * GTF_reading/GTF_writing (Xen sets them, and backend_map plays Xen) */
static uint16_t mapped[NTABLE];
static bool ever_mapped[NTABLE];
static unsigned nmapped;
static bool in_harness_free;

void kprintf(const char *fmt, ...)
{
	(void)fmt;
}

uint64_t mm_va_pfn(const void *va)
{
	return (uintptr_t)va / PAGE_SIZE;
}

/* the packet whose page (any of a large one's) this is; *at: which page */
static struct rec *rec_of(void *page, unsigned *at)
{
	struct rec *r;

	memcpy(&r, page, sizeof(r));
	FUZZ_CHECK(r >= recs && r < recs + nrecs);
	uintptr_t off = (uintptr_t)page - (uintptr_t)r->page;

	FUZZ_CHECK(off % PAGE_SIZE == 0 && off / PAGE_SIZE < r->pages);
	*at = (unsigned)(off / PAGE_SIZE);
	return r;
}

static struct rec *rec_of_page(void *page)
{
	unsigned at;
	struct rec *r = rec_of(page, &at);

	FUZZ_CHECK(at == 0);
	return r;
}

/* a page may go only when no grant the backend has mapped names it */
FUZZ_NOCOV static void check_page_unmapped(const struct rec *r, unsigned at)
{
	for (unsigned k = 0; k < nmapped; k++)
		FUZZ_CHECK(table[mapped[k]].frame != r->gfn + at ||
			   !(table[mapped[k]].flags & (GTF_reading | GTF_writing)));
}

FUZZ_NOCOV static void check_unmapped(const struct rec *r)
{
	for (unsigned at = 0; at < r->pages; at++)
		check_page_unmapped(r, at);
}

/* a split packet is gone once its struct and every page are */
static void split_done(struct rec *r)
{
	for (unsigned at = 0; at < r->pages; at++)
		if (!r->page_gone[at])
			return;
	if (r->p)
		return;
	r->st = GONE;
	free(r->page);
}

void pkt_free(struct pkt *p)
{
	if (!p)
		return;
	struct rec *r = rec_of_page(p->page);

	FUZZ_CHECK(r->p == p && !r->split);
	/* the driver frees only what it still owns; the harness what it was handed */
	FUZZ_CHECK(r->st == (in_harness_free ? HANDED : POSTED));
	check_unmapped(r);
	r->st = GONE;
	free(r->page);
	free(p);
}

/* resp.c frees a packet's struct alone when the backend still maps its page */
void kfree(void *ptr)
{
	struct pkt *p = ptr;
	struct rec *r = rec_of_page(p->page);

	FUZZ_CHECK(r->p == p && r->st == POSTED);
	r->st = PAGE_HELD;
	r->p = NULL;
	free(p);
	if (r->split)
		split_done(r);
}

/* a large packet's block, its pages freed one by one from now on (before the kfree of
 * its struct) */
void mm_frames_split(uint64_t pfn, unsigned order)
{
	struct rec *r = rec_of_page((void *)(uintptr_t)(pfn * PAGE_SIZE));

	FUZZ_CHECK(r->st == POSTED && r->p && !r->split && r->pages == 1u << order);
	r->split = true;
}

/* one page: of a split block, or given back once the backend let go (gnttab_reclaim) */
static void free_one(uint64_t pfn, bool deferred)
{
	unsigned at;
	struct rec *r = rec_of((void *)(uintptr_t)(pfn * PAGE_SIZE), &at);

	check_page_unmapped(r, at);
	if (!r->split) {
		FUZZ_CHECK(deferred && r->st == PAGE_HELD && r->pages == 1);
		r->st = GONE;
		free(r->page);
		return;
	}
	FUZZ_CHECK(!r->page_gone[at]);
	r->page_gone[at] = true;
	split_done(r);
}

void mm_frame_free(uint64_t pfn)
{
	free_one(pfn, false);
}

static void free_page(uint64_t pfn)
{
	free_one(pfn, true);
}

static struct rec *new_pkt(unsigned pages)
{
	if (nrecs == MAX_RECS)
		return NULL;
	struct rec *r = &recs[nrecs++];

	*r = (struct rec){ .p = calloc(1, sizeof(*r->p)), .pages = pages, .st = POSTED };
	r->page = aligned_alloc(PAGE_SIZE, pages * PAGE_SIZE);
	for (unsigned at = 0; at < pages; at++)
		memcpy((uint8_t *)r->page + at * PAGE_SIZE, &r, sizeof(r));
	r->p->page = r->page;
	r->p->data = (uint8_t *)r->page + PKT_HEADROOM;
	r->p->order = pages > 1;
	r->gfn = 2 * nrecs;
	return r;
}

/* tx_one's large packet: two pages, a slot each, the extra-info slot after the first */
static void post_large(struct nfq *q)
{
	if (RING_FREE_REQUESTS(&q->tx) < 3 || q->tx_nfree < 2)
		return;
	struct rec *r = new_pkt(2);

	if (!r)
		return;
	uint16_t prev = NF_TX_END;

	for (unsigned at = 0; at < 2; at++) {
		int ref = gnttab_grant(1, r->gfn + at, true);
		uint16_t id = q->tx_free[--q->tx_nfree];
		netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);

		FUZZ_CHECK(ref >= GNT_RESERVED && !q->tx_pkt[id]);
		*req = (netif_tx_request_t){ .id = id, .gref = ref, .size = at ? 100 : 4196,
					     .flags = at ? 0 : NETTXF_more_data | NETTXF_extra_info };
		if (!at) {
			netif_extra_info_t *x = (void *)RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);

			*x = (netif_extra_info_t){ .type = XEN_NETIF_EXTRA_TYPE_GSO,
						   .u.gso = { .size = 1460, .type = XEN_NETIF_GSO_TYPE_TCPV4 } };
			q->tx_extras++;
		}
		netfront_tx_slot(q, id, prev, r->p, ref);
		prev = id;
	}
}

/* netfront.c's refill_rx and transmit, without the hypervisor */
static void post(struct nfq *q, bool rx, unsigned n, bool large)
{
	for (unsigned k = 0; k < n; k++) {
		bool full = rx ? RING_FULL(&q->rx) : RING_FULL(&q->tx);

		if (full || !(rx ? q->rx_nfree : q->tx_nfree))
			break;
		if (!rx && large && k % 2) {
			post_large(q);
			continue;
		}
		struct rec *r = new_pkt(1);

		if (!r)
			break;
		int ref = gnttab_grant(1, r->gfn, !rx);

		FUZZ_CHECK(ref >= GNT_RESERVED);
		if (rx) {
			uint16_t id = q->rx_free[--q->rx_nfree];
			RING_IDX at = q->rx.req_prod_pvt++;
			netif_rx_request_t *req = RING_GET_REQUEST(&q->rx, at);

			q->rx_id_at[at % RX_SIZE] = id;

			FUZZ_CHECK(!q->rx_pkt[id]);
			*req = (netif_rx_request_t){.id = id, .gref = ref};
			q->rx_pkt[id] = r->p;
			q->rx_ref[id] = ref;
		} else {
			uint16_t id = q->tx_free[--q->tx_nfree];
			netif_tx_request_t *req = RING_GET_REQUEST(&q->tx, q->tx.req_prod_pvt++);

			FUZZ_CHECK(!q->tx_pkt[id]);
			*req = (netif_tx_request_t){.id = id, .gref = ref, .size = 60};
			netfront_tx_slot(q, id, NF_TX_END, r->p, ref);
		}
	}
	RING_PUSH_REQUESTS(&q->rx);
	RING_PUSH_REQUESTS(&q->tx);
}

/* the id lists: every id free or posted, never both, never twice */
FUZZ_NOCOV static void check_ids(struct pkt **pkts, const uint16_t *free_ids, unsigned nfree,
				 unsigned size)
{
	static uint8_t seen[RX_SIZE > TX_SIZE ? RX_SIZE : TX_SIZE];
	unsigned posted = 0;

	memset(seen, 0, sizeof(seen));
	FUZZ_CHECK(nfree <= size);
	for (unsigned i = 0; i < nfree; i++) {
		FUZZ_CHECK(free_ids[i] < size && !seen[free_ids[i]] && !pkts[free_ids[i]]);
		seen[free_ids[i]] = 1;
	}
	for (unsigned id = 0; id < size; id++)
		if (pkts[id]) {
			FUZZ_CHECK(rec_of_page(pkts[id]->page)->st == POSTED);
			posted++;
		}
	FUZZ_CHECK(posted + nfree == size);
}

static void take(struct nfq *q, unsigned max)
{
	struct pkt *got[64];
	RING_IDX cons = q->rx.rsp_cons, req = q->rx.req_prod_pvt;
	unsigned n = netfront_take_rx(q, got, max);

	FUZZ_CHECK(n <= max);
	FUZZ_CHECK(q->rx.rsp_cons - cons <= req - cons);
	for (unsigned i = 0; i < n; i++) {
		struct pkt *p = got[i];
		struct rec *r = rec_of_page(p->page);

		FUZZ_CHECK(r->p == p && r->st == POSTED); /* ours, posted, not handed out yet */
		r->st = HANDED;
		FUZZ_CHECK(p->len > 0 && p->data >= (uint8_t *)p->page);
		FUZZ_CHECK(p->data + p->len <= (uint8_t *)p->page + PAGE_SIZE);
		for (unsigned id = 0; id < RX_SIZE; id++)
			FUZZ_CHECK(q->rx_pkt[id] != p);
	}
	in_harness_free = true;
	for (unsigned i = 0; i < n; i++)
		pkt_free(got[i]);
	in_harness_free = false;
}

static void reap(struct nfq *q)
{
	RING_IDX cons = q->tx.rsp_cons, req = q->tx.req_prod_pvt;
	bool broken;

	netfront_reap_tx(q);
	broken = q->nf->broken;
	FUZZ_CHECK(q->tx.rsp_cons - cons <= req - cons);
	/* an index past our requests: nothing of that ring taken */
	if (broken)
		FUZZ_CHECK(q->tx.rsp_cons == cons);
}

/* the backend maps or unmaps the page a granted ref names; Xen sets these flags only on
 * entries we granted */
static void backend_map(struct fz *f)
{
	unsigned ref = GNT_RESERVED + fz_u16(f) % (NTABLE - GNT_RESERVED);
	uint8_t how = fz_u8(f);

	if (how & 1) {
		table[ref].flags &= (uint16_t) ~(GTF_reading | GTF_writing);
	} else if (table[ref].flags & GTF_permit_access) {
		table[ref].flags |= how & 2 ? GTF_writing : GTF_reading;
		if (!ever_mapped[ref]) {
			ever_mapped[ref] = true;
			mapped[nmapped++] = (uint16_t)ref;
		}
	}
}

static void run(struct nfq *q, struct fz *f)
{
	RING_IDX brx = 0, btx = 0; /* the backend's own response cursors */

	for (unsigned steps = 0; f->n && steps < 200; steps++) {
		uint8_t op = fz_u8(f);

		switch (op % 10) {
		case 0:
			post(q, true, 1 + op / 10 % 16, false);
			break;
		case 1:
			post(q, false, 1 + op / 10 % 16, op >= 128);
			break;
		case 2: {
			netif_rx_response_t r = {.id = fz_u16(f),
						 .offset = fz_u16(f),
						 .flags = fz_u16(f),
						 .status = (int16_t)fz_u16(f)};

			if (op & 0x80) /* mostly an id of ours */
				r.id %= RX_SIZE;
			*RING_GET_RESPONSE(&q->rx, brx++) = r;
			break;
		}
		case 3: {
			netif_tx_response_t r = {.id = fz_u16(f), .status = (int16_t)fz_u16(f)};

			if (op & 0x80)
				r.id %= TX_SIZE;
			*RING_GET_RESPONSE(&q->tx, btx++) = r;
			break;
		}
		case 4: /* rx producer: the honest one, or anything */
			q->rx.sring->rsp_prod = op & 0x80 ? fz_u32(f) : brx;
			break;
		case 5:
			q->tx.sring->rsp_prod = op & 0x80 ? fz_u32(f) : btx;
			break;
		/* netfront.c takes nothing more once the backend lied about an index */
		case 6:
			if (!q->nf->broken)
				take(q, 1 + op / 10 % 64);
			break;
		case 7:
			if (!q->nf->broken)
				reap(q);
			break;
		case 8:
			backend_map(f);
			break;
		case 9: { /* a write anywhere in either shared page */
			uint16_t at = fz_u16(f);
			uint8_t *page =
			    (uint8_t *)(at & 0x8000 ? (void *)q->tx.sring : (void *)q->rx.sring);

			page[at % PAGE_SIZE] = fz_u8(f);
			break;
		}
		}
		/* the id lists change only when the frontend posts or takes */
		if (op % 10 == 0 || op % 10 == 6)
			check_ids(q->rx_pkt, q->rx_free, q->rx_nfree, RX_SIZE);
		if (op % 10 == 1 || op % 10 == 7)
			check_ids(q->tx_pkt, q->tx_free, q->tx_nfree, TX_SIZE);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	struct nf *nf = calloc(1, sizeof(*nf));
	struct nfq *q = calloc(1, sizeof(*q));
	netif_tx_sring_t *tx = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	netif_rx_sring_t *rx = aligned_alloc(PAGE_SIZE, PAGE_SIZE);

	/* the input as a frame to transmit: its queue is one of nq, read within the frame
	 * (a heap block of exactly its length: ASan sees a read past it) */
	if (size) {
		uint8_t *frame = malloc(size);
		unsigned nq = 1 + data[0] % NF_MAX_QUEUES;

		memcpy(frame, data, size);
		FUZZ_CHECK(netfront_flow_queue(frame, (uint32_t)size, nq) < nq);
		free(frame);
	}
	memset(tx, 0, PAGE_SIZE);
	memset(rx, 0, PAGE_SIZE);
	SHARED_RING_INIT(tx);
	FRONT_RING_INIT(&q->tx, tx, PAGE_SIZE);
	SHARED_RING_INIT(rx);
	FRONT_RING_INIT(&q->rx, rx, PAGE_SIZE);
	q->nf = nf;
	nf->q = q;
	nf->nq = 1;
	strcpy(nf->nd.name, "xnet0");
	nf->connected = nf->nd.link_up = true;
	for (unsigned i = 0; i < TX_SIZE; i++)
		q->tx_free[q->tx_nfree++] = TX_SIZE - 1 - i;
	for (unsigned i = 0; i < RX_SIZE; i++)
		q->rx_free[q->rx_nfree++] = RX_SIZE - 1 - i;
	memset(table, 0, sizeof(table));
	memset(ever_mapped, 0, sizeof(ever_mapped));
	nmapped = 0;
	gnttab_use(table, NTABLE);
	gnttab_free_page = free_page;
	nrecs = 0;

	run(q, &f);

	/* disconnect: everything still posted goes; the backend lets go; all is freed */
	for (unsigned id = 0; id < TX_SIZE; id++)
		if (q->tx_pkt[id] && q->tx_head[id] == id)
			netfront_tx_free(q, (uint16_t)id);
	for (unsigned id = 0; id < RX_SIZE; id++)
		if (q->rx_pkt[id])
			netfront_end_pkt_grant(q->rx_ref[id], q->rx_pkt[id]);
	for (unsigned i = 0; i < NTABLE; i++) {
		FUZZ_CHECK(ever_mapped[i] || !(table[i].flags & (GTF_reading | GTF_writing)));
		table[i].flags &= (uint16_t) ~(GTF_reading | GTF_writing);
	}
	FUZZ_CHECK(gnttab_reclaim() == 0);
	for (unsigned i = 0; i < nrecs; i++)
		FUZZ_CHECK(recs[i].st == GONE);
	free(tx);
	free(rx);
	free(q);
	free(nf);
	return 0;
}
