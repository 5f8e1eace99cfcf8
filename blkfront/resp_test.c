/* blkfront's response side (resp.c) against a fake backend that writes the shared ring by
 * hand, as a lying one would (xen/io/blkif.h, xen/io/ring.h): ids out of range, not in
 * flight or answered twice, operations and statuses that are not the request's, indexes
 * past our requests, grants it still maps, a ring it changes while we read it. The grant
 * table is a fake one (gnttab_use); requests are issued as blkfront.c's issue() does, and
 * each records how often and how it completed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xen/xen.h>
#include <xen/grant_table.h>

#include "blkfront/resp.h"
#include "hv_xen/grant.h"
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

/* blkfront.c's issue() without the hypervisor: a read or write of `pages` pages (a flush
 * when 0) on the ring, pushed; returns its slot */
static uint16_t issue(struct bf *bf, struct req *q, enum blk_op op, unsigned pages)
{
	uint16_t id = bf->free_ids[--bf->nfree];
	struct bf_shadow *s = &bf->shadow[id];
	blkif_request_t *req = RING_GET_REQUEST(&bf->ring, bf->ring.req_prod_pvt);

	q->r = (struct blk_req){ .op = op, .count = pages * 8, .done = req_done, .arg = q };
	s->req = &q->r;
	s->nsegs = 0;
	s->id = ++bf->seq << BF_ID_SLOT_BITS | id;
	req->id = s->id;
	req->operation = op == BLK_FLUSH  ? BLKIF_OP_FLUSH_DISKCACHE :
			 op == BLK_READ ? BLKIF_OP_READ :
					  BLKIF_OP_WRITE;
	for (unsigned i = 0; i < pages; i++) {
		int ref = gnttab_grant(1, 0x1000 + i, op == BLK_WRITE);

		s->refs[s->nsegs++] = ref;
		req->seg[i] = (struct blkif_request_segment){ .gref = (grant_ref_t)ref };
	}
	req->nr_segments = (uint8_t)pages;
	s->op = req->operation;
	bf->ring.req_prod_pvt++;
	RING_PUSH_REQUESTS(&bf->ring);
	return id;
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
	teardown(bf);
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

/* After a lie: the device is down after `prints` reports, and each request ended exactly
 * once, with status want[i] (-EIO, unless it was answered before the lie); nothing waits in
 * the queue, and every slot and grant is back. */
static void check_failed(struct bf *bf, struct req *reqs, const int *want, unsigned n,
			 unsigned prints)
{
	CHECK(!bf->connected);
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
