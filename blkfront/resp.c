/* blkfront's side of the ring (xen/io/blkif.h): requests go on it with their pages
 * granted; each response is copied out of it once and checked before anything is believed,
 * because the backend may lie or change the ring under us; a request's buffer goes back to
 * its caller only once the backend maps none of its pages. Pure enough for the host tests
 * (blkfront/resp_test.c) and the fuzz harness, which run it against a fake ring and a fake
 * grant table. */
#include "blkfront/resp.h"
#include "common/console.h"
#include "hv_xen/grant.h"
#include "hv_xen/platform.h"
#include "hv_xen/xenbus.h"
#include "lib/errno.h"

bool blkfront_issue(struct bf *bf, struct blk_req *r)
{
	if (RING_FULL(&bf->ring) || !bf->nfree)
		return false;
	uint16_t id = bf->free_ids[--bf->nfree];
	struct bf_shadow *s = &bf->shadow[id];
	blkif_request_t *req = RING_GET_REQUEST(&bf->ring, bf->ring.req_prod_pvt);
	uint32_t bytes = r->count * BF_SECTOR;
	unsigned segs = (bytes + PAGE_SIZE - 1) / PAGE_SIZE;

	s->req = r;
	s->nsegs = 0;
	s->id = ++bf->seq << BF_ID_SLOT_BITS | id;
	req->id = s->id;
	req->handle = (blkif_vdev_t)bf->xb->devid;
	req->sector_number = r->sector;
	if (r->op == BLK_FLUSH) {
		req->operation = bf->barrier_only ? BLKIF_OP_WRITE_BARRIER : BLKIF_OP_FLUSH_DISKCACHE;
		req->nr_segments = 0;
		req->sector_number = 0;
	} else {
		req->operation = r->op == BLK_READ ? BLKIF_OP_READ : BLKIF_OP_WRITE;
		for (unsigned i = 0; i < segs; i++) {
			uint8_t *page = (uint8_t *)r->buf + i * PAGE_SIZE;
			uint32_t n = MIN(bytes - i * PAGE_SIZE, PAGE_SIZE) / BF_SECTOR;
			/* a read lets the backend write into our page */
			int ref = gnttab_grant(bf->xb->otherend_id, xen_gfn(page), r->op == BLK_WRITE);

			if (ref < 0) {
				/* out of grants for now: it waits in the queue, unless the
				 * backend mapped a grant we never told it of */
				if (!blkfront_end_grants(s)) {
					blkfront_finish(bf, id, -EIO, true);
					return true;
				}
				bf->free_ids[bf->nfree++] = id;
				s->req = NULL;
				return false;
			}
			s->refs[s->nsegs++] = ref;
			req->seg[i] = (struct blkif_request_segment){ .gref = (grant_ref_t)ref,
								      .first_sect = 0,
								      .last_sect = (uint8_t)(n - 1) };
		}
		req->nr_segments = (uint8_t)segs;
	}
	s->op = req->operation;
	bf->ring.req_prod_pvt++;
	if (r->op == BLK_READ)
		bf->bd.st.reads++;
	else if (r->op == BLK_WRITE)
		bf->bd.st.writes++;
	else
		bf->bd.st.flushes++;
	return true;
}

/* A grant the backend still maps (xen/grant_table.h: GTF_reading/GTF_writing) stays, and
 * the buffer with it: the backend could still write into it, or read what its owner puts
 * there next. */
bool blkfront_end_grants(struct bf_shadow *s)
{
	bool all = true;

	for (unsigned k = 0; k < s->nsegs; k++) {
		if (s->refs[k] < 0)
			continue;
		if (gnttab_end(s->refs[k]))
			s->refs[k] = -1;
		else
			all = false;
	}
	return all;
}

void blkfront_finish(struct bf *bf, uint16_t id, int status, bool lie)
{
	struct bf_shadow *s = &bf->shadow[id];

	if (!blkfront_end_grants(s)) {
		if (!s->held) {
			s->held = true;
			s->status = status;
			__atomic_store_n(&bf->nheld, bf->nheld + 1, __ATOMIC_RELAXED);
			bf->bd.st.held++;
			sem_up(&bf->work); /* its thread now retries on a timer */
		}
		if (lie && !bf->held_reported) {
			bf->held_reported = true;
			kprintf("blkfront: %s: the backend maps pages of a request it answered or "
				"never had: the request and its buffer stay with the driver until "
				"it lets go (reported once, counted in held)\n",
				bf->bd.name);
		}
		return;
	}
	struct blk_req *r = s->req;

	if (s->held) {
		s->held = false;
		__atomic_store_n(&bf->nheld, bf->nheld - 1, __ATOMIC_RELAXED);
		status = s->status;
	}
	s->req = NULL;
	bf->free_ids[bf->nfree++] = id;
	blkdev_complete(&bf->bd, r, status);
}

void blkfront_retry_held(struct bf *bf)
{
	for (uint16_t id = 0; id < BF_RING && bf->nheld; id++)
		if (bf->shadow[id].req && bf->shadow[id].held)
			blkfront_finish(bf, id, bf->shadow[id].status, false);
}

void blkfront_fail(struct bf *bf, int status)
{
	bf->connected = false;
	for (uint16_t id = 0; id < BF_RING; id++)
		if (bf->shadow[id].req && !bf->shadow[id].held)
			blkfront_finish(bf, id, status, false);
	while (bf->queue) {
		struct blk_req *r = bf->queue;

		bf->queue = r->next;
		blkdev_complete(&bf->bd, r, status);
	}
	bf->queue_tail = &bf->queue;
}

/* what becomes of the device, at the end of the line that says how the backend lied */
#define FAILS "failing the device (-EIO) and closing it until the disk is attached again"

/* The backend lied about the ring (said why, before this): counted, and the device fails
 * as if the backend had gone, since nothing it says can be taken any more; and it stays
 * failed, so that a backend that lies again each time it connects cannot keep us in a
 * loop of connections. */
static int lie(struct bf *bf)
{
	bf->bd.st.bad_responses++;
	bf->failed = true;
	blkfront_fail(bf, -EIO);
	return -EPROTO;
}

static int status_of(int16_t rsp_status)
{
	if (rsp_status == BLKIF_RSP_OKAY)
		return 0;
	return rsp_status == BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
}

/* Why rsp (our copy) does not answer a request of ours, or NULL when it does: the request
 * in flight in its slot, not answered already, this very issue of it (not an earlier use of
 * the slot), the same operation. Each response answers one request (xen/io/ring.h): one that
 * answers none, or one answered already, also means that a request of ours will not get its
 * answer. */
static const char *not_ours(const struct bf *bf, const blkif_response_t *rsp)
{
	uint64_t id = rsp->id & ((1u << BF_ID_SLOT_BITS) - 1);

	if (id >= BF_RING)
		return "names no slot of the ring";
	const struct bf_shadow *s = &bf->shadow[id];

	if (!s->req || rsp->id != s->id)
		return "answers no request in flight (never made, or answered already)";
	if (s->held)
		return "answers a request answered already";
	if (rsp->operation != s->op)
		return "has another operation than its request";
	return NULL;
}

/* the statuses xen/io/blkif.h defines */
static bool status_known(int16_t status)
{
	return status == BLKIF_RSP_OKAY || status == BLKIF_RSP_ERROR ||
	       status == BLKIF_RSP_EOPNOTSUPP;
}

/* Response i (rsp: our copy of its slot): its request finishes, or the backend lied. */
static int take(struct bf *bf, RING_IDX i, const blkif_response_t *rsp)
{
	const char *why = not_ours(bf, rsp);
	uint16_t id = rsp->id & ((1u << BF_ID_SLOT_BITS) - 1);

	if (!why && !status_known(rsp->status)) {
		/* answered, but not with an answer: the request failed */
		blkfront_finish(bf, id, -EIO, true);
		why = "has a status xen/io/blkif.h does not define";
	}
	if (!why) {
		blkfront_finish(bf, id, status_of(rsp->status), true);
		return 0;
	}
	kprintf("blkfront: %s: response %u (id %#lx, operation %u, status %d) %s: the backend "
		"lies about the ring; " FAILS "\n",
		bf->bd.name, i, rsp->id, rsp->operation, rsp->status, why);
	return lie(bf);
}

/* Each read of the backend's index is checked and then used: one it shows only once cannot
 * be counted on again. A pass that takes nothing re-arms the event and looks once more; the
 * next that takes nothing ends. So every pass but the last takes a response, and there are
 * at most as many as we have requests outstanding: a backend moving its index to and fro
 * cannot keep us here. */
int blkfront_take_responses(struct bf *bf)
{
	bool armed = false;

	blkfront_retry_held(bf);
	for (;;) {
		RING_IDX rp = __atomic_load_n(&bf->ring.sring->rsp_prod, __ATOMIC_ACQUIRE);
		RING_IDX cons = bf->ring.rsp_cons;

		/* each response answers one request we pushed (xen/io/ring.h): an index past
		 * them (or behind what we took) makes slots we never filled look like
		 * responses */
		if (rp - cons > bf->ring.req_prod_pvt - cons) {
			kprintf("blkfront: %s: response index %u is not within our requests "
				"(answered %u, requested %u): the backend lies about the ring; "
				FAILS "\n",
				bf->bd.name, rp, cons, bf->ring.req_prod_pvt);
			return lie(bf);
		}
		if (rp == cons) {
			if (armed)
				return 0;
			/* re-arm the event, then look once more: nothing slips in between */
			bf->ring.sring->rsp_event = cons + 1;
			xen_mb();
			armed = true;
			continue;
		}
		armed = false;
		for (RING_IDX i = cons; i != rp; i++) {
			blkif_response_t rsp;

			/* one read of the shared slot: what we check is what we use */
			RING_COPY_RESPONSE(&bf->ring, i, &rsp);
			bf->ring.rsp_cons = i + 1;
			if (take(bf, i, &rsp))
				return -EPROTO;
		}
	}
}
