/* blkfront's device state, shared by the driver (blkfront.c: connection, the thread) and
 * the code that puts requests on the ring and takes the backend's responses (resp.c), which
 * the host tests and a fuzz harness run against a fake ring and a fake grant table. */
#ifndef BLKFRONT_RESP_H
#define BLKFRONT_RESP_H

#include "common/blkdev.h"
#include "common/hal.h"
#include "hv_xen/ring.h"
#include "sched/sync.h"

#include <xen/io/blkif.h>

#define BF_RING __CONST_RING_SIZE(blkif, PAGE_SIZE)
#define BF_SEGS BLKIF_MAX_SEGMENTS_PER_REQUEST
/* the sector size blkif.h uses unless the frontend asks for another (we do not) */
#define BF_SECTOR 512
/* A request's id (64 bits in xen/io/blkif.h) is its slot in the low bits and the issue's
 * sequence number above: a stale or repeated response for an earlier use of the slot does
 * not match. */
#define BF_ID_SLOT_BITS 8

struct xenbus_dev;

struct bf_shadow {
	struct blk_req *req;
	uint64_t id; /* as on the ring */
	uint8_t op;
	uint8_t nsegs;
	/* answered or failed, but a grant is still mapped: it completes later, with status */
	bool held;
	int status;
	int refs[BF_SEGS]; /* -1 once ended */
};

struct bf {
	struct blkdev bd;
	struct xenbus_dev *xb;
	struct mutex lock;
	bool connected, registered;
	bool expected; /* counted in blkdev_expect until registered or given up */
	/* the backend lied about the ring: the device is closed, and stays so (blkfront.c
	 * connects it to no backend) until the toolstack detaches the disk */
	bool failed;
	blkif_front_ring_t ring;
	void *ring_page;
	int ring_ref;
	unsigned port;
	struct irq irq;
	struct sem work; /* the thread: responses or queued requests */
	struct bf_shadow shadow[BF_RING];
	uint16_t free_ids[BF_RING];
	unsigned nfree;
	unsigned nheld; /* shadows held (read without the lock by the thread's wait) */
	bool held_reported;
	/* issues so far: the high bits of the next id */
	uint64_t seq;
	struct blk_req *queue, **queue_tail; /* waiting for ring space */
	bool barrier_only;
	char info[128];
};

/* With the lock held, as are all below. Puts r on the ring (not pushed: the caller pushes
 * once per burst) with its pages granted to the backend for its duration (read-only for a
 * write; a read lets the backend write into them), and counts it: true. false: no room now
 * (the ring full, no slot free, or out of grants); r is as it was, and waits in the queue.
 * Also true: the grant table ran out halfway and the backend had already mapped a grant we
 * never told it of; r never goes on the ring, and fails with -EIO once the backend lets go
 * (held, blkfront_finish). */
bool blkfront_issue(struct bf *bf, struct blk_req *r);
/* Ends the grants of s that are still on; true when none is left (the request's buffer is
 * ours again). */
bool blkfront_end_grants(struct bf_shadow *s);
/* Slot id's request is over with status: it goes back to its caller (blkdev_complete) once
 * its grants end, and is held until then (its slot too: blkfront_retry_held tries again).
 * `lie`: the backend should not map these pages now, so holding them is reported (once). */
void blkfront_finish(struct bf *bf, uint16_t id, int status, bool lie);
/* Held requests whose backend has let go since complete now. */
void blkfront_retry_held(struct bf *bf);
/* Everything in flight or queued fails with status: in flight, once the backend no longer
 * maps its pages (until then held). The device is no longer connected; the ring and event
 * channel are the caller's to give back. */
void blkfront_fail(struct bf *bf, int status);
/* Takes the responses on the ring (each checked, its request finished) until there are no
 * more, and re-arms the event. 0, or -EPROTO: the backend lied about the ring (a response
 * index past our requests or behind what we took; a response that answers no request of
 * ours, or with a status blkif.h does not define): reported in one line, counted in
 * bad_responses, and the device failed (blkfront_fail, -EIO) for good (failed); the caller
 * gives back the ring and closes. */
int blkfront_take_responses(struct bf *bf);

#endif
