/* blkfront's side of the responses (xen/io/blkif.h): each is copied out of the shared ring
 * once and checked before anything is believed, because the backend may lie or change the
 * ring under us; a request's buffer goes back to its caller only once the backend maps none
 * of its pages. Pure enough for the host tests (blkfront/resp_test.c), which run it against
 * a fake ring and a fake grant table. */
#include "blkfront/resp.h"
#include "common/console.h"
#include "hv_xen/grant.h"
#include "lib/errno.h"

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

static int status_of(int16_t rsp_status)
{
	if (rsp_status == BLKIF_RSP_OKAY)
		return 0;
	return rsp_status == BLKIF_RSP_EOPNOTSUPP ? -EOPNOTSUPP : -EIO;
}

/* whether rsp (our copy) answers slot id's request: in flight, not answered already, this
 * very issue of it (not an earlier use of the slot), the same operation */
static bool in_flight(const struct bf *bf, uint16_t id, const blkif_response_t *rsp)
{
	if (id >= BF_RING)
		return false;
	const struct bf_shadow *s = &bf->shadow[id];

	return s->req && !s->held && rsp->id == s->id && rsp->operation == s->op;
}

int blkfront_take_responses(struct bf *bf)
{
	int more;

	blkfront_retry_held(bf);
	do {
		RING_IDX rp = bf->ring.sring->rsp_prod, cons = bf->ring.rsp_cons;

		xen_rmb();
		/* each response answers one request we pushed (xen/io/ring.h): an index past
		 * them makes slots we never filled look like responses */
		if (rp - cons > bf->ring.req_prod_pvt - cons) {
			bf->bd.st.bad_responses++;
			kprintf("blkfront: %s: response index %u is past our requests "
				"(answered %u, requested %u): the backend lies about the ring; "
				"disconnecting\n",
				bf->bd.name, rp, cons, bf->ring.req_prod_pvt);
			return -EPROTO;
		}
		for (RING_IDX i = cons; i != rp; i++) {
			blkif_response_t rsp;

			/* one read of the shared slot: what we check is what we use */
			RING_COPY_RESPONSE(&bf->ring, i, &rsp);
			uint16_t id = rsp.id & ((1u << BF_ID_SLOT_BITS) - 1);

			if (!in_flight(bf, id, &rsp)) {
				bf->bd.st.bad_responses++;
				continue;
			}
			blkfront_finish(bf, id, status_of(rsp.status), true);
		}
		bf->ring.rsp_cons = rp;
		RING_FINAL_CHECK_FOR_RESPONSES(&bf->ring, more);
	} while (more);
	return 0;
}
