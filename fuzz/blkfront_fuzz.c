/* blkfront/resp.c: the requests and responses of a lying block backend. The input is a
 * script: the frontend submits reads, writes and flushes (put on the ring by the driver's
 * own blkfront_issue, queued when the ring or the grant table is full; flushes as
 * FLUSH_DISKCACHE or, toggled, WRITE_BARRIER); the backend writes responses (any id,
 * operation, status; mostly ones that name a request of ours), moves its producer index
 * (honestly or not), maps and unmaps granted pages (also ones it was not told of, as they
 * are made), scribbles on the ring page, and may change the ring while a request
 * completes; the frontend takes responses, retries held requests, and the backend goes
 * away or connects again. The grant table is a fake one (hv_xen/grant.c's allocator over a
 * table here, small enough to run out); blkdev_complete is a stub that checks each
 * completion. Whatever the backend does: every request ends exactly once (a refused one
 * never), only once no grant of its pages is still on, with 0 or -EOPNOTSUPP only if the
 * ring showed that answer for it; the slots stay partitioned between the free list and the
 * requests in flight; the consumer never passes our requests, and while connected every
 * request in flight and not held has a response slot of its own to come; after a lie the
 * device is down for good (failed) with nothing in flight but held requests; at the end,
 * with the backend gone, everything has ended. */
#include <stdarg.h>
#include <stdint.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "blkfront/resp.h"
#include "fuzz/fuzz.h"
#include "hv_xen/grant.h"
#include "hv_xen/xenbus.h"
#include "lib/errno.h"

#define MAX_RECS 512
#define MAX_LOG 4096
#define GFNS 16 /* fake frames per request: its pages are gfn .. gfn + BF_SEGS - 1 */

/* a request of the harness's: what became of it */
enum rec_state { NEW, REFUSED, QUEUED, GIVEN, DONE };

struct rec {
	struct blk_req r;
	enum rec_state st;
	uint64_t id;  /* on the ring, once given */
	uint8_t op;   /* blkif's */
	uint32_t gfn; /* its first page's */
};

/* a response the backend showed (any slot of the ring, as the consumer could read it), for
 * the check of completions with good news */
struct said {
	uint64_t id;
	uint8_t op;
	int16_t status;
};

static struct rec recs[MAX_RECS];
static unsigned nrecs;
static struct said said[MAX_LOG];
static unsigned nsaid;
static bool said_full; /* no room to remember more: answers are not checked */
static blkif_response_t seen[BF_RING]; /* each slot as last logged */
static struct grant_entry_v1 table[GNT_RESERVED + 64];
static struct bf *bf;
static struct xenbus_dev xb = { .otherend_id = 1, .devid = 51712 };
static uint8_t *ring_page;
static RING_IDX bcur; /* the backend's response cursor */
static bool eager;    /* the backend maps each grant as it is made, before it is told */
/* what the backend does inside the next completion: 0 nothing, 1 a response, 2 an index */
static int mid_how;
static blkif_response_t mid_rsp;
static RING_IDX mid_at;

void kprintf(const char *fmt, ...)
{
	(void)fmt;
}

void sem_up(struct sem *s)
{
	s->count++;
}

/* no grant that is still on names a page of q's */
FUZZ_NOCOV static void check_unmapped(const struct rec *q)
{
	for (unsigned i = GNT_RESERVED; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].frame >= q->gfn && table[i].frame < q->gfn + GFNS)
			FUZZ_CHECK(!(table[i].flags &
				     (GTF_permit_access | GTF_reading | GTF_writing)));
}

/* the backend maps every grant of the pages from gfn (a request's) that is on now */
static void map_grants(uint32_t gfn)
{
	for (unsigned i = GNT_RESERVED; i < sizeof(table) / sizeof(table[0]); i++)
		if (table[i].flags & GTF_permit_access && table[i].frame >= gfn &&
		    table[i].frame < gfn + GFNS)
			table[i].flags |= GTF_reading;
}

/* whether the backend ever showed `status` for q's request */
FUZZ_NOCOV static bool was_said(const struct rec *q, int16_t status)
{
	if (said_full)
		return true;
	for (unsigned i = 0; i < nsaid; i++)
		if (said[i].id == q->id && said[i].op == q->op && said[i].status == status)
			return true;
	return false;
}

FUZZ_NOCOV static void log_rsp(const blkif_response_t *r)
{
	if (nsaid < MAX_LOG)
		said[nsaid++] = (struct said){ r->id, r->operation, r->status };
	else
		said_full = true;
}

/* Every response slot as it is now, before the consumer reads it: what the backend wrote
 * there, scribbled, or left of our request (a slot holds a request until its response
 * overwrites it, and its bytes read as a response too). */
FUZZ_NOCOV static void log_ring(void)
{
	for (RING_IDX i = 0; i < BF_RING; i++) {
		blkif_response_t r = *RING_GET_RESPONSE(&bf->ring, i);

		if (r.id != seen[i].id || r.operation != seen[i].operation ||
		    r.status != seen[i].status) {
			log_rsp(&r);
			seen[i] = r;
		}
	}
}

static void write_rsp(RING_IDX at, const blkif_response_t *r)
{
	*RING_GET_RESPONSE(&bf->ring, at) = *r;
}

void blkdev_complete(struct blkdev *d, struct blk_req *r, int status)
{
	struct rec *q = container_of(r, struct rec, r);

	FUZZ_CHECK(q >= recs && q < recs + nrecs && &q->r == r);
	FUZZ_CHECK(q->st == GIVEN || q->st == QUEUED); /* ours, and not ended before */
	if (q->st == QUEUED)
		FUZZ_CHECK(status == -EIO || status == -ENODEV);
	else if (status == 0)
		FUZZ_CHECK(was_said(q, BLKIF_RSP_OKAY));
	else if (status == -EOPNOTSUPP)
		FUZZ_CHECK(was_said(q, BLKIF_RSP_EOPNOTSUPP));
	else
		FUZZ_CHECK(status == -EIO || status == -ENODEV);
	check_unmapped(q);
	q->st = DONE;
	r->status = status;
	if (status)
		d->st.errors++;
	/* the backend changes the ring while we take from it */
	if (mid_how == 1) {
		write_rsp(mid_at, &mid_rsp);
		log_rsp(&mid_rsp);
	} else if (mid_how == 2)
		bf->ring.sring->rsp_prod = mid_at;
	mid_how = 0;
}

/* hv_xen/xen.c's: our requests' fake buffers' page numbers. blkfront_issue asks before
 * each grant, so an eager backend maps the request's grants made so far here. */
uint64_t xen_gfn(const void *va)
{
	uint64_t gfn = (uintptr_t)va / PAGE_SIZE;

	if (eager)
		map_grants(gfn - (gfn - 1) % GFNS);
	return gfn;
}

/* the driver's issue step (resp.c): true when r is on the ring (or held) */
static bool issue(struct rec *q)
{
	RING_IDX at = bf->ring.req_prod_pvt;
	unsigned nfree = bf->nfree;

	if (!blkfront_issue(bf, &q->r)) {
		FUZZ_CHECK(bf->ring.req_prod_pvt == at && bf->nfree == nfree);
		return false;
	}
	q->st = GIVEN;
	if (bf->ring.req_prod_pvt != at) {
		const blkif_request_t *req = RING_GET_REQUEST(&bf->ring, at);
		const struct bf_shadow *s = &bf->shadow[req->id & ((1u << BF_ID_SLOT_BITS) - 1)];

		FUZZ_CHECK(bf->ring.req_prod_pvt == at + 1);
		FUZZ_CHECK(s->req == &q->r && s->id == req->id && s->op == req->operation);
		FUZZ_CHECK(req->nr_segments == (q->r.count + 7) / 8);
		q->id = req->id;
		q->op = req->operation;
	} else {
		/* held: the backend mapped a grant it was never told of */
		FUZZ_CHECK(bf->nheld > 0);
	}
	if (eager)
		map_grants(q->gfn);
	return true;
}

/* blkfront.c's issue_queued and push */
static void issue_queued(void)
{
	while (bf->queue) {
		struct rec *q = container_of(bf->queue, struct rec, r);
		struct blk_req *next = bf->queue->next;

		if (!issue(q))
			break;
		bf->queue = next;
		if (!bf->queue)
			bf->queue_tail = &bf->queue;
	}
	RING_PUSH_REQUESTS(&bf->ring);
}

/* bf_submit: refused when down; on the ring, or queued behind what waits */
static void submit(uint8_t how)
{
	if (nrecs == MAX_RECS)
		return;
	struct rec *q = &recs[nrecs];

	*q = (struct rec){ .gfn = 1 + nrecs * GFNS };
	q->r.buf = (void *)((uintptr_t)q->gfn * PAGE_SIZE); /* never read: only granted */
	nrecs++;
	q->r.op = how % 3 == 0 ? BLK_FLUSH : how % 3 == 1 ? BLK_READ : BLK_WRITE;
	q->r.count = q->r.op == BLK_FLUSH ? 0 : 8 * (1 + how / 3 % BF_SEGS);
	if (!bf->connected) {
		q->st = REFUSED;
		return;
	}
	q->r.next = NULL;
	if (!bf->queue && issue(q)) {
		RING_PUSH_REQUESTS(&bf->ring);
		return;
	}
	q->st = QUEUED;
	*bf->queue_tail = &q->r;
	bf->queue_tail = &q->r.next;
}

/* the device's thread: responses, then the queue; a lie disconnects */
static void take(void)
{
	RING_IDX cons = bf->ring.rsp_cons, req = bf->ring.req_prod_pvt;

	if (!bf->connected) {
		blkfront_retry_held(bf);
		return;
	}
	log_ring();
	int rc = blkfront_take_responses(bf);

	FUZZ_CHECK(rc == 0 || rc == -EPROTO);
	FUZZ_CHECK(bf->ring.rsp_cons - cons <= req - cons);
	FUZZ_CHECK(bf->ring.req_prod_pvt == req);
	if (rc == 0) {
		FUZZ_CHECK(bf->connected && !bf->failed);
		issue_queued();
	} else {
		FUZZ_CHECK(!bf->connected && bf->failed);
	}
}

/* a new ring, as connect() sets it up: every slot but the held ones free */
static void connect(void)
{
	memset(ring_page, 0, PAGE_SIZE);
	SHARED_RING_INIT((blkif_sring_t *)ring_page);
	FRONT_RING_INIT(&bf->ring, (blkif_sring_t *)ring_page, PAGE_SIZE);
	bf->nfree = 0;
	for (unsigned i = 0; i < BF_RING; i++)
		if (!bf->shadow[BF_RING - 1 - i].req)
			bf->free_ids[bf->nfree++] = BF_RING - 1 - i;
	bf->connected = true;
	bcur = 0;
}

/* a response of the backend's: any, or (`ours`) for the request in a slot, as it was
 * issued; with a status blkif.h defines (`known`) or any */
static blkif_response_t backend_rsp(struct fz *f, bool ours, bool known)
{
	uint64_t raw = fz_u64(f);
	uint8_t rop = fz_u8(f);
	uint16_t status = fz_u16(f);
	const struct bf_shadow *s = &bf->shadow[raw % BF_RING];
	blkif_response_t r = { .id = raw, .operation = rop, .status = (int16_t)status };

	if (ours) {
		r.id = s->id;
		r.operation = s->op;
	}
	if (known)
		r.status = (int16_t)-(status % 3); /* OKAY, ERROR, EOPNOTSUPP */
	return r;
}

/* the id lists: every slot free or holding a request, never both, never twice; held ones
 * counted; a request in flight is ours and given; while connected, each in flight and not
 * held has its response slot to come */
FUZZ_NOCOV static void check_state(void)
{
	uint8_t seen[BF_RING] = { 0 };
	unsigned inflight = 0, held = 0;

	FUZZ_CHECK(bf->nfree <= BF_RING);
	for (unsigned i = 0; i < bf->nfree; i++) {
		uint16_t id = bf->free_ids[i];

		FUZZ_CHECK(id < BF_RING && !seen[id] && !bf->shadow[id].req);
		seen[id] = 1;
	}
	for (unsigned id = 0; id < BF_RING; id++) {
		const struct bf_shadow *s = &bf->shadow[id];

		if (!s->req) {
			FUZZ_CHECK(seen[id] && !s->held);
			continue;
		}
		struct rec *q = container_of(s->req, struct rec, r);

		FUZZ_CHECK(q >= recs && q < recs + nrecs && q->st == GIVEN);
		if (s->held)
			held++;
		else
			inflight++;
	}
	FUZZ_CHECK(held == bf->nheld);
	FUZZ_CHECK(bf->nfree + held + inflight == BF_RING);
	if (bf->connected) {
		FUZZ_CHECK(bf->ring.req_prod_pvt - bf->ring.rsp_cons == inflight);
	} else {
		FUZZ_CHECK(inflight == 0 && !bf->queue);
	}
}

/* Each step is an operation byte: what, in its low 4 bits; its high bits are flags (0x80,
 * 0x40, 0x20) or a count (op >> 4); then its operands. */
static void run(struct fz *f)
{
	for (unsigned steps = 0; f->n && steps < 200; steps++) {
		uint8_t op = fz_u8(f);

		switch (op & 15) {
		case 0: /* a request: kind and pages */
			submit(fz_u8(f));
			break;
		case 1: {
			blkif_response_t r = backend_rsp(f, op & 0x80, op & 0x40);

			write_rsp(bcur++, &r);
			break;
		}
		case 2: /* the producer index: the honest one, or anything */
			bf->ring.sring->rsp_prod = op & 0x80 ? fz_u32(f) : bcur;
			break;
		case 10:
			eager = !eager;
			break;
		case 11: /* the backend offers barriers only, or flushes again */
			bf->barrier_only = !bf->barrier_only;
			break;
		case 3:
		default:
			take();
			break;
		case 4: { /* the backend maps or unmaps a granted page; Xen maps only grants */
			unsigned n = sizeof(table) / sizeof(table[0]);
			unsigned ref = GNT_RESERVED + fz_u8(f) % (n - GNT_RESERVED);

			if (op & 0x80)
				table[ref].flags &= (uint16_t) ~(GTF_reading | GTF_writing);
			else if (table[ref].flags & GTF_permit_access)
				table[ref].flags |= op & 0x40 ? GTF_writing : GTF_reading;
			break;
		}
		case 5: /* a byte anywhere in the ring page */
			ring_page[fz_u16(f) % PAGE_SIZE] = fz_u8(f);
			break;
		case 6: /* the thread's timer, with requests held */
			blkfront_retry_held(bf);
			break;
		case 7: /* inside the next completion: a response written, or the index moved */
			if (op & 0x80) {
				mid_how = 2;
				mid_at = op & 0x40 ? fz_u32(f) : bcur + (op >> 4) % 4;
			} else {
				mid_how = 1;
				mid_rsp = backend_rsp(f, op & 0x40, op & 0x20);
				mid_at = bcur++;
			}
			break;
		case 8: /* the backend goes away, or comes back (after a lie: the disk was
			 * detached and attached again, with requests still held) */
			if (bf->connected) {
				blkfront_fail(bf, -ENODEV);
			} else {
				bf->failed = false;
				connect();
			}
			break;
		case 9: /* the backend answers the oldest requests it has, honestly */
			for (unsigned k = 0; k < 1 + (op >> 4) % 8; k++) {
				RING_IDX at = bcur;
				const blkif_request_t *req = RING_GET_REQUEST(&bf->ring, at);
				blkif_response_t r = { .id = req->id, .operation = req->operation };

				if ((int32_t)(at - bf->ring.req_prod_pvt) >= 0)
					break;
				write_rsp(at, &r);
				bcur++;
			}
			bf->ring.sring->rsp_prod = bcur;
			break;
		}
		check_state();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { data, size };

	bf = calloc(1, sizeof(*bf));
	ring_page = aligned_alloc(PAGE_SIZE, PAGE_SIZE);
	bf->xb = &xb;
	strcpy(bf->bd.name, "xblk0");
	bf->queue_tail = &bf->queue;
	memset(table, 0, sizeof(table));
	gnttab_use(table, sizeof(table) / sizeof(table[0]));
	nrecs = nsaid = 0;
	said_full = eager = false;
	memset(seen, 0, sizeof(seen));
	mid_how = 0;
	connect();

	run(&f);

	/* the backend goes away and lets go of every page: everything given ends */
	blkfront_fail(bf, -ENODEV);
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		table[i].flags &= (uint16_t) ~(GTF_reading | GTF_writing);
	blkfront_retry_held(bf);
	check_state();
	FUZZ_CHECK(bf->nheld == 0 && bf->nfree == BF_RING);
	for (unsigned i = 0; i < nrecs; i++)
		FUZZ_CHECK(recs[i].st == DONE || recs[i].st == REFUSED);
	struct gnttab_stats st;

	gnttab_stats(&st);
	FUZZ_CHECK(st.free == st.total && st.deferred == 0);
	free(ring_page);
	free(bf);
	return 0;
}
