/* blkfront's response side (resp.c) against a fake backend that writes the shared ring by
 * hand, as a lying one would (xen/io/blkif.h, xen/io/ring.h): ids out of range, not in
 * flight or answered twice, operations and statuses that are not the request's, indexes
 * past our requests, grants it still maps, a ring it changes while we read it. The grant
 * table is a fake one (gnttab_use); requests go on the ring by blkfront_issue, and each
 * records how often and how it completed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "blkfront/resp.h"
#include "hv_xen/grant.h"
#include "hv_xen/xenbus.h"
#include "lib/errno.h"
#include "tools/unit/unit.h"

/* common/devices_test.c: the console */
extern unsigned host_prints;
extern char host_last_print[256];

/* whether the kernel's last line starts so */
static bool said(const char *start)
{
	return !strncmp(host_last_print, start, strlen(start));
}

static struct grant_entry_v1 table[GNT_RESERVED + BF_RING * BF_SEGS];
/* the device's xenbus node, for the ids blkfront_issue puts in a request */
static struct xenbus_dev xb = { .otherend_id = 1, .devid = 51712 };

/* the backend maps each grant as soon as it is made, before it is told of the request */
static bool map_as_granted;

/* hv_xen/xen.c's, for blkfront_issue: our fake buffers' page numbers. blkfront_issue asks
 * before each grant, so a backend that maps grants as they are made does so here. */
uint64_t xen_gfn(const void *va)
{
	if (map_as_granted)
		for (unsigned i = GNT_RESERVED; i < sizeof(table) / sizeof(table[0]); i++)
			if (table[i].flags & GTF_permit_access)
				table[i].flags |= GTF_reading;
	return (uintptr_t)va / PAGE_SIZE;
}

/* a request of the test's, and how it ended: done must run exactly once */
struct req {
	struct blk_req r;
	int done;
	int status;
};

/* what the backend does while a request completes (its done runs inside the consumer) */
static void (*backend_during_done)(struct bf *bf, struct req *q);
static struct bf *cur;

static void req_done(struct blk_req *r)
{
	struct req *q = r->arg;

	q->done++;
	q->status = r->status;
	if (backend_during_done)
		backend_during_done(cur, q);
}

static struct bf *setup(void)
{
	struct bf *bf = calloc(1, sizeof(*bf));
	blkif_sring_t *sring = aligned_alloc(PAGE_SIZE, PAGE_SIZE);

	memset(sring, 0, PAGE_SIZE);
	SHARED_RING_INIT(sring);
	FRONT_RING_INIT(&bf->ring, sring, PAGE_SIZE);
	bf->xb = &xb;
	strcpy(bf->bd.name, "xblk9");
	bf->bd.sector_size = 512;
	bf->connected = true;
	sem_init(&bf->work, 0);
	bf->queue_tail = &bf->queue;
	for (unsigned i = 0; i < BF_RING; i++)
		bf->free_ids[bf->nfree++] = BF_RING - 1 - i;
	memset(table, 0, sizeof(table));
	gnttab_use(table, sizeof(table) / sizeof(table[0]));
	host_prints = 0;
	backend_during_done = NULL;
	map_as_granted = false;
	cur = bf;
	return bf;
}

static unsigned grants_free(void)
{
	struct gnttab_stats s;

	gnttab_stats(&s);
	return s.free;
}

/* what is still in flight fails, as disconnect has it; the backend lets go of every page,
 * and what is held completes */
static void teardown(struct bf *bf)
{
	blkfront_fail(bf, -ENODEV);
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		table[i].flags &= (uint16_t) ~(GTF_reading | GTF_writing);
	blkfront_retry_held(bf);
	CHECK_EQ(bf->nheld, 0);
	CHECK_EQ(grants_free(), BF_RING * BF_SEGS);
	free(bf->ring.sring);
	free(bf);
}

/* where the test's fake buffers start: never read or written, only granted */
#define FAKE_BUF 0x100000ul

/* a read or write of `pages` pages (a flush when 0) on the ring through blkfront_issue,
 * pushed; returns its slot */
static uint16_t issue(struct bf *bf, struct req *q, enum blk_op op, unsigned pages)
{
	RING_IDX at = bf->ring.req_prod_pvt;

	q->r = (struct blk_req){ .op = op, .count = pages * 8, .buf = (void *)FAKE_BUF,
				 .done = req_done, .arg = q };
	CHECK(blkfront_issue(bf, &q->r));
	CHECK_EQ(bf->ring.req_prod_pvt, at + 1);
	RING_PUSH_REQUESTS(&bf->ring);
	return RING_GET_REQUEST(&bf->ring, at)->id & ((1u << BF_ID_SLOT_BITS) - 1);
}

/* the backend's answer in response slot `at` (shown once rsp_prod covers it) */
static void rsp(struct bf *bf, RING_IDX at, uint64_t id, uint8_t op, int16_t status)
{
	*RING_GET_RESPONSE(&bf->ring, at) =
		(blkif_response_t){ .id = id, .operation = op, .status = status };
}

/* the response the backend owes slot id's request */
static void answer(struct bf *bf, RING_IDX at, uint16_t id, int16_t status)
{
	rsp(bf, at, bf->shadow[id].id, bf->shadow[id].op, status);
}

TEST(blkfront_takes_good_responses)
{
	struct bf *bf = setup();
	struct req a = { 0 }, b = { 0 }, c = { 0 };
	uint16_t ia = issue(bf, &a, BLK_READ, 2), ib = issue(bf, &b, BLK_WRITE, 1),
		 ic = issue(bf, &c, BLK_FLUSH, 0);

	CHECK_EQ(grants_free(), BF_RING * BF_SEGS - 3);
	answer(bf, 0, ib, BLKIF_RSP_ERROR); /* out of order, as a backend may */
	answer(bf, 1, ia, BLKIF_RSP_OKAY);
	answer(bf, 2, ic, BLKIF_RSP_EOPNOTSUPP);
	bf->ring.sring->rsp_prod = 3;
	CHECK_EQ(blkfront_take_responses(bf), 0);
	CHECK(a.done == 1 && a.status == 0);
	CHECK(b.done == 1 && b.status == -EIO);
	CHECK(c.done == 1 && c.status == -EOPNOTSUPP);
	CHECK_EQ(grants_free(), BF_RING * BF_SEGS);
	CHECK_EQ(bf->nfree, BF_RING);
	CHECK(!bf->shadow[ia].req && !bf->shadow[ib].req && !bf->shadow[ic].req);
	CHECK_EQ(bf->ring.rsp_cons, 3);
	CHECK_EQ(bf->ring.sring->rsp_event, 4); /* re-armed for the next one */
	CHECK_EQ(bf->bd.st.bad_responses, 0);
	CHECK_EQ(bf->bd.st.errors, 2);
	CHECK_EQ(host_prints, 0);
	CHECK(bf->connected);
	blkfront_fail(bf, -ENODEV); /* the backend went away: it may come back */
	CHECK(!bf->connected && !bf->failed);
	teardown(bf);
}

/* what blkfront_issue puts on the ring: ids, sectors, one segment a page (the last one
 * partly used), each page granted to the backend (read-only for a write), flushes as the
 * backend offers them, each counted */
TEST(blkfront_issue_fills_the_request)
{
	struct bf *bf = setup();
	struct req q[4] = { 0 };
	struct blk_req *rd = &q[0].r, *wr = &q[1].r, *fl = &q[2].r, *bar = &q[3].r;
	const blkif_request_t *req = RING_GET_REQUEST(&bf->ring, 0);

	*rd = (struct blk_req){ .op = BLK_READ, .sector = 100, .count = 9, .buf = (void *)FAKE_BUF };
	*wr = (struct blk_req){ .op = BLK_WRITE, .sector = 7, .count = 8 * BF_SEGS,
				.buf = (void *)(FAKE_BUF + 4 * PAGE_SIZE) };
	*fl = (struct blk_req){ .op = BLK_FLUSH, .sector = 5 };
	*bar = *fl;
	for (unsigned i = 0; i < 4; i++) {
		q[i].r.done = req_done;
		q[i].r.arg = &q[i];
	}

	CHECK(blkfront_issue(bf, rd));
	CHECK_EQ(req->operation, BLKIF_OP_READ);
	CHECK_EQ(req->handle, 51712);
	CHECK_EQ(req->sector_number, 100);
	CHECK_EQ(req->nr_segments, 2);
	CHECK(req->seg[0].first_sect == 0 && req->seg[0].last_sect == 7);
	CHECK(req->seg[1].first_sect == 0 && req->seg[1].last_sect == 0);
	for (unsigned i = 0; i < 2; i++) {
		const struct grant_entry_v1 *e = &table[req->seg[i].gref];

		CHECK_EQ(e->flags, GTF_permit_access); /* the backend writes what we read */
		CHECK_EQ(e->domid, 1);
		CHECK_EQ(e->frame, FAKE_BUF / PAGE_SIZE + i);
	}
	uint16_t slot = req->id & ((1u << BF_ID_SLOT_BITS) - 1);

	CHECK(bf->shadow[slot].req == rd && bf->shadow[slot].id == req->id);
	CHECK(bf->shadow[slot].op == BLKIF_OP_READ && bf->shadow[slot].nsegs == 2);
	CHECK(blkfront_issue(bf, wr));
	req = RING_GET_REQUEST(&bf->ring, 1);
	CHECK_EQ(req->operation, BLKIF_OP_WRITE);
	CHECK_EQ(req->sector_number, 7);
	CHECK_EQ(req->nr_segments, BF_SEGS);
	for (unsigned i = 0; i < BF_SEGS; i++) {
		CHECK_EQ(req->seg[i].last_sect, 7);
		CHECK_EQ(table[req->seg[i].gref].flags, GTF_permit_access | GTF_readonly);
		CHECK_EQ(table[req->seg[i].gref].frame, FAKE_BUF / PAGE_SIZE + 4 + i);
	}
	CHECK(blkfront_issue(bf, fl));
	req = RING_GET_REQUEST(&bf->ring, 2);
	CHECK(req->operation == BLKIF_OP_FLUSH_DISKCACHE && req->nr_segments == 0);
	CHECK_EQ(req->sector_number, 0);
	bf->barrier_only = true;
	CHECK(blkfront_issue(bf, bar));
	CHECK_EQ(RING_GET_REQUEST(&bf->ring, 3)->operation, BLKIF_OP_WRITE_BARRIER);
	CHECK_EQ(bf->ring.req_prod_pvt, 4);
	CHECK_EQ(bf->ring.sring->req_prod, 0); /* not pushed: the caller pushes once a burst */
	CHECK(bf->bd.st.reads == 1 && bf->bd.st.writes == 1 && bf->bd.st.flushes == 2);
	CHECK_EQ(bf->nfree, BF_RING - 4);
	CHECK_EQ(grants_free(), BF_RING * BF_SEGS - 2 - BF_SEGS);
	CHECK_EQ(host_prints, 0);
	teardown(bf);
	for (unsigned i = 0; i < 4; i++)
		CHECK(q[i].done == 1 && q[i].status == -ENODEV);
}

/* no room: a full ring, or no slot free (held ones keep theirs); nothing changes */
TEST(blkfront_issue_waits_for_room)
{
	struct bf *bf = setup();
	struct req q[BF_RING] = { 0 };
	struct blk_req r = { .op = BLK_READ, .count = 8, .buf = (void *)FAKE_BUF };

	for (unsigned i = 0; i < BF_RING; i++)
		issue(bf, &q[i], BLK_FLUSH, 0);
	CHECK(!blkfront_issue(bf, &r)); /* the ring is full */
	CHECK_EQ(bf->ring.req_prod_pvt, BF_RING);
	CHECK_EQ(grants_free(), BF_RING * BF_SEGS);
	bf->ring.rsp_cons = 1; /* the ring has room, but every slot is taken */
	CHECK(!blkfront_issue(bf, &r));
	CHECK_EQ(bf->ring.req_prod_pvt, BF_RING);
	CHECK_EQ(bf->nfree, 0);
	CHECK_EQ(bf->bd.st.flushes, BF_RING);
	CHECK_EQ(bf->bd.st.reads, 0);
	bf->ring.rsp_cons = 0;
	teardown(bf);
	for (unsigned i = 0; i < BF_RING; i++)
		CHECK(q[i].done == 1 && q[i].status == -ENODEV);
}

/* The grant table runs out halfway through a request's pages: what was granted ends, and
 * the request waits (false, its slot free again), unless the backend mapped a grant we
 * never told it of: then the request is held (true, never on the ring), reported, and
 * fails with -EIO once the backend lets go. */
TEST(blkfront_issue_out_of_grants)
{
	for (int mapped = 0; mapped < 2; mapped++) {
		struct bf *bf = setup();
		struct req q = { 0 };

		gnttab_use(table, GNT_RESERVED + 2); /* two grants for a three-page read */
		map_as_granted = mapped;
		q.r = (struct blk_req){ .op = BLK_READ, .count = 24, .buf = (void *)FAKE_BUF,
					.done = req_done, .arg = &q };
		CHECK_EQ(blkfront_issue(bf, &q.r), mapped);
		CHECK_EQ(bf->ring.req_prod_pvt, 0);
		CHECK_EQ(bf->bd.st.reads, 0);
		CHECK_EQ(q.done, 0);
		if (!mapped) {
			CHECK_EQ(bf->nfree, BF_RING);
			CHECK_EQ(grants_free(), 2);
			CHECK_EQ(host_prints, 0);
			for (unsigned i = 0; i < BF_RING; i++)
				CHECK(!bf->shadow[i].req);
			map_as_granted = false;
			CHECK(blkfront_issue(bf, &q.r) == false); /* still out of grants */
		} else {
			CHECK_EQ(bf->nfree, BF_RING - 1);
			CHECK_EQ(bf->nheld, 1);
			CHECK_EQ(bf->bd.st.held, 1);
			CHECK_EQ(host_prints, 1);
			CHECK(said("blkfront: xblk9: the backend maps pages"));
			map_as_granted = false;
			blkfront_retry_held(bf);
			CHECK_EQ(q.done, 0);
			for (unsigned i = GNT_RESERVED; i < GNT_RESERVED + 2; i++)
				table[i].flags &= (uint16_t)~GTF_reading;
			blkfront_retry_held(bf);
			CHECK(q.done == 1 && q.status == -EIO);
			CHECK_EQ(bf->nheld, 0);
			CHECK_EQ(bf->nfree, BF_RING);
			CHECK_EQ(grants_free(), 2);
		}
		free(bf->ring.sring);
		free(bf);
	}
}

/* answered, but the backend still maps a page: the request, its buffer and its slot stay
 * with the driver (reported once) until it lets go, then it completes with its status */
TEST(blkfront_answered_request_still_mapped_is_held)
{
	struct bf *bf = setup();
	struct req a = { 0 }, b = { 0 };
	uint16_t ia = issue(bf, &a, BLK_READ, 3), ib = issue(bf, &b, BLK_READ, 1);

	table[bf->shadow[ia].refs[1]].flags |= GTF_writing;
	table[bf->shadow[ib].refs[0]].flags |= GTF_reading;
	answer(bf, 0, ia, BLKIF_RSP_OKAY);
	answer(bf, 1, ib, BLKIF_RSP_ERROR);
	bf->ring.sring->rsp_prod = 2;
	CHECK_EQ(blkfront_take_responses(bf), 0);
	CHECK_EQ(a.done + b.done, 0);
	CHECK(bf->shadow[ia].held && bf->shadow[ib].held);
	CHECK_EQ(bf->nheld, 2);
	CHECK_EQ(bf->bd.st.held, 2);
	CHECK_EQ(bf->nfree, BF_RING - 2);
	CHECK_EQ(bf->work.count, 2); /* woken for each: it now retries on a timer */
	CHECK_EQ(host_prints, 1);
	CHECK(said("blkfront: xblk9: the backend maps pages"));
	CHECK_EQ(grants_free(), BF_RING * BF_SEGS - 2); /* the other pages' grants ended */
	blkfront_retry_held(bf);			/* nothing changed */
	CHECK_EQ(a.done + b.done, 0);
	table[bf->shadow[ia].refs[1]].flags &= (uint16_t)~GTF_writing;
	CHECK_EQ(blkfront_take_responses(bf), 0); /* the retry before taking responses */
	CHECK(a.done == 1 && a.status == 0 && b.done == 0);
	CHECK_EQ(bf->nheld, 1);
	CHECK_EQ(host_prints, 1);
	teardown(bf); /* lets go of b: it completes with the backend's answer */
	CHECK(b.done == 1 && b.status == -EIO);
}

/* After a lie: the device is down for good after `prints` reports (the lie's one line
 * last, saying what becomes of the device), and each request ended exactly once, with
 * status want[i] (-EIO, unless it was answered before the lie); nothing waits in the
 * queue, and every slot and grant is back. */
static void check_failed(struct bf *bf, struct req *reqs, const int *want, unsigned n,
			 unsigned prints)
{
	CHECK(!bf->connected);
	CHECK(bf->failed);
	CHECK(strstr(host_last_print, "lies about the ring; failing the device (-EIO) and "
				      "closing it until the disk is attached again\n"));
	CHECK_EQ(bf->bd.st.bad_responses, 1);
	CHECK_EQ(host_prints, prints);
	CHECK(!bf->queue && bf->queue_tail == &bf->queue);
	CHECK_EQ(bf->nfree, BF_RING);
	CHECK_EQ(bf->nheld, 0);
	CHECK_EQ(grants_free(), BF_RING * BF_SEGS);
	for (unsigned i = 0; i < n; i++) {
		CHECK_EQ(reqs[i].done, 1);
		CHECK_EQ(reqs[i].status, want[i]);
	}
}

/* a response index past our requests: nothing on the ring is read as a response, and the
 * device fails */
TEST(blkfront_index_past_requests_is_a_lie)
{
	RING_IDX bad[] = { 3, BF_RING, BF_RING + 2, 0x80000000u, UINT32_MAX };

	for (unsigned k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct bf *bf = setup();
		struct req q[2] = { 0 };
		uint16_t ia = issue(bf, &q[0], BLK_READ, 1), ib = issue(bf, &q[1], BLK_READ, 1);
		int want[2] = { -EIO, -EIO };

		answer(bf, 0, ia, BLKIF_RSP_OKAY);
		answer(bf, 1, ib, BLKIF_RSP_OKAY);
		answer(bf, 2, ib, BLKIF_RSP_OKAY); /* a slot we never filled with a request */
		bf->ring.sring->rsp_prod = bad[k];
		CHECK_EQ(blkfront_take_responses(bf), -EPROTO);
		CHECK_EQ(bf->ring.rsp_cons, 0);
		CHECK(said("blkfront: xblk9: response index "));
		check_failed(bf, q, want, 2, 1);
		teardown(bf);
	}
}

/* more responses than requests, over two looks: the second index is past what is left */
TEST(blkfront_more_responses_than_requests_is_a_lie)
{
	struct bf *bf = setup();
	struct req q[3] = { 0 };
	uint16_t ia = issue(bf, &q[0], BLK_READ, 1), ib = issue(bf, &q[1], BLK_WRITE, 2);
	int want[3] = { 0, 0, -EIO };

	answer(bf, 0, ia, BLKIF_RSP_OKAY);
	answer(bf, 1, ib, BLKIF_RSP_OKAY);
	bf->ring.sring->rsp_prod = 2;
	CHECK_EQ(blkfront_take_responses(bf), 0);
	issue(bf, &q[2], BLK_FLUSH, 0);
	answer(bf, 2, ia, BLKIF_RSP_OKAY);
	answer(bf, 3, ib, BLKIF_RSP_OKAY);
	bf->ring.sring->rsp_prod = 4;
	CHECK_EQ(blkfront_take_responses(bf), -EPROTO);
	CHECK_EQ(bf->ring.rsp_cons, 2);
	check_failed(bf, q, want, 3, 1);
	teardown(bf);
}

/* the lies one response can tell about the request it answers */
enum rsp_lie {
	ID_PAST_RING,	   /* its slot is past the ring */
	ID_NOT_ISSUED,	   /* its slot holds no request */
	ID_EARLIER_ISSUE,  /* the slot's request, with an earlier sequence number */
	ID_LATER_ISSUE,	   /* the slot's request, with a later one */
	DUPLICATE,	   /* an answer repeated */
	DUPLICATE_OF_HELD, /* an answer repeated while the request is held */
	WRONG_OP,	   /* the request's id with another operation */
	BAD_STATUS,	   /* a status blkif.h does not define */
	NLIES
};

static const char *const lie_says[NLIES] = {
	"names no slot",      "answers no request", "answers no request",
	"answers no request", "answers no request", "answers a request answered already",
	"has another operation", "has a status",
};

/* Requests a (answered first, honestly), b, c and d in flight, and e waiting in the queue;
 * the second response lies; the third would answer c honestly, whose page the backend
 * maps. Each lie is counted and reported, nothing after it is taken, the device fails, and
 * every request ends once: a with its answer (when the backend lets go of it, if it still
 * maps a page), the others with -EIO (c only when the backend lets go of its page). */
static void one_lie(enum rsp_lie how)
{
	struct bf *bf = setup();
	struct req q[5] = { 0 };
	uint16_t ia = issue(bf, &q[0], BLK_READ, 2), ib = issue(bf, &q[1], BLK_WRITE, 1),
		 ic = issue(bf, &q[2], BLK_READ, 1);
	int want[5] = { 0, -EIO, -EIO, -EIO, -EIO };
	blkif_response_t *r = RING_GET_RESPONSE(&bf->ring, 1);
	uint64_t seq = 1u << BF_ID_SLOT_BITS;
	char says[64];

	issue(bf, &q[3], BLK_FLUSH, 0);
	q[4].r = (struct blk_req){ .op = BLK_READ, .count = 8, .done = req_done, .arg = &q[4] };
	bf->queue = &q[4].r;
	bf->queue_tail = &q[4].r.next;
	answer(bf, 0, ia, BLKIF_RSP_OKAY);
	answer(bf, 1, ib, BLKIF_RSP_OKAY);
	answer(bf, 2, ic, BLKIF_RSP_OKAY);
	switch (how) {
	case ID_PAST_RING:
		r->id = bf->shadow[ib].id - ib + BF_RING;
		break;
	case ID_NOT_ISSUED:
		r->id = bf->shadow[ib].id - ib + 20;
		break;
	case ID_EARLIER_ISSUE:
		r->id -= seq;
		break;
	case ID_LATER_ISSUE:
		r->id += seq;
		break;
	case DUPLICATE:
	case DUPLICATE_OF_HELD:
		answer(bf, 1, ia, BLKIF_RSP_OKAY);
		if (how == DUPLICATE_OF_HELD)
			table[bf->shadow[ia].refs[0]].flags |= GTF_writing;
		break;
	case WRONG_OP:
		r->operation = BLKIF_OP_READ;
		break;
	case BAD_STATUS:
		r->status = 1;
		break;
	case NLIES:
		break;
	}
	table[bf->shadow[ic].refs[0]].flags |= GTF_writing;
	bf->ring.sring->rsp_prod = 3;
	CHECK_EQ(blkfront_take_responses(bf), -EPROTO);
	CHECK_EQ(bf->ring.rsp_cons, 2); /* the response after the lie is not taken */
	CHECK(bf->shadow[ic].held && q[2].done == 0); /* failed, but its buffer stays */
	table[bf->shadow[ic].refs[0]].flags &= (uint16_t)~GTF_writing;
	blkfront_retry_held(bf);
	snprintf(says, sizeof(says), "blkfront: xblk9: response 1 (id %#lx,", (unsigned long)r->id);
	CHECK(said(says));
	CHECK(strstr(host_last_print, lie_says[how]) != NULL);
	if (how == DUPLICATE_OF_HELD) {
		/* a's answer stands, but a and its buffer stay until the backend lets go */
		CHECK(bf->shadow[ia].held && q[0].done == 0);
		table[bf->shadow[ia].refs[0]].flags &= (uint16_t)~GTF_writing;
		blkfront_retry_held(bf);
	}
	/* the held report, then the lie */
	check_failed(bf, q, want, 5, how == DUPLICATE_OF_HELD ? 2 : 1);
	teardown(bf);
}

TEST(blkfront_response_lies_fail_the_device)
{
	for (enum rsp_lie how = 0; how < NLIES; how++) {
		int failures = unit_failures;

		one_lie(how);
		if (unit_failures != failures)
			printf("  (lie %d)\n", how);
	}
}

/* ---- a backend that changes the ring while we take from it (inside a request's done) */

static struct req chg[3];
static uint16_t chg_id[3];
static int chg_how;

static void change_ring(struct bf *bf, struct req *q)
{
	blkif_sring_t *sr = bf->ring.sring;

	if (q != &chg[0])
		return;
	switch (chg_how) {
	case 0: /* rewrites the response just taken to answer c with an error, and answers c
		 * in a new slot: what was taken stands, c ends once, with the new answer */
		answer(bf, 0, chg_id[2], BLKIF_RSP_ERROR);
		answer(bf, 2, chg_id[2], BLKIF_RSP_OKAY);
		sr->rsp_prod = 3;
		break;
	case 1: /* moves its index back, behind what we took */
		sr->rsp_prod = 0;
		break;
	case 2: /* moves it forward, onto a repeat of b's answer */
		answer(bf, 2, chg_id[1], BLKIF_RSP_OKAY);
		sr->rsp_prod = 3;
		break;
	case 3: /* rewrites b's response, not yet taken, to name a's slot: taken as it is
		 * when read, once */
		answer(bf, 1, chg_id[0], BLKIF_RSP_OKAY);
		break;
	}
}

/* a, b and c in flight; a and b answered; the backend changes the ring while a completes */
static struct bf *changed_ring(int how)
{
	struct bf *bf = setup();

	memset(chg, 0, sizeof(chg));
	chg_id[0] = issue(bf, &chg[0], BLK_READ, 1);
	chg_id[1] = issue(bf, &chg[1], BLK_WRITE, 2);
	chg_id[2] = issue(bf, &chg[2], BLK_READ, 1);
	answer(bf, 0, chg_id[0], BLKIF_RSP_OKAY);
	answer(bf, 1, chg_id[1], BLKIF_RSP_OKAY);
	bf->ring.sring->rsp_prod = 2;
	chg_how = how;
	backend_during_done = change_ring;
	return bf;
}

TEST(blkfront_ring_changed_while_taken)
{
	struct bf *bf = changed_ring(0);
	int c_failed[3] = { 0, 0, -EIO }, b_failed[3] = { 0, -EIO, -EIO };

	CHECK_EQ(blkfront_take_responses(bf), 0);
	for (int i = 0; i < 3; i++)
		CHECK(chg[i].done == 1 && chg[i].status == 0);
	CHECK_EQ(bf->bd.st.errors, 0); /* the rewritten slot was not read again */
	CHECK_EQ(bf->bd.st.bad_responses, 0);
	CHECK_EQ(bf->ring.rsp_cons, 3);
	CHECK_EQ(bf->ring.sring->rsp_event, 4);
	CHECK(bf->connected);
	teardown(bf);

	bf = changed_ring(1);
	CHECK_EQ(blkfront_take_responses(bf), -EPROTO);
	CHECK_EQ(bf->ring.rsp_cons, 2); /* the index read first stood for its pass */
	CHECK(said("blkfront: xblk9: response index 0 is not within our requests (answered 2, "
		   "requested 3)"));
	check_failed(bf, chg, c_failed, 3, 1);
	teardown(bf);

	bf = changed_ring(2);
	CHECK_EQ(blkfront_take_responses(bf), -EPROTO);
	CHECK_EQ(bf->ring.rsp_cons, 3);
	CHECK(said("blkfront: xblk9: response 2 ("));
	check_failed(bf, chg, c_failed, 3, 1);
	teardown(bf);

	bf = changed_ring(3);
	CHECK_EQ(blkfront_take_responses(bf), -EPROTO); /* a answered twice */
	CHECK_EQ(bf->ring.rsp_cons, 2);
	CHECK(said("blkfront: xblk9: response 1 ("));
	check_failed(bf, chg, b_failed, 3, 1);
	teardown(bf);
}
