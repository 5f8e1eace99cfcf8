/* blkfront: a Xen virtual disk (xen/io/blkif.h) as a struct blkdev.
 *
 * One ring (32 requests of up to 11 pages), one event channel. A request's pages are
 * granted for its duration (read-only for writes; resp.c's blkfront_issue puts it on the
 * ring). Requests beyond what the ring holds wait in a queue. The event handler only
 * wakes the device's thread, which takes the responses (resp.c: each copied out of the
 * ring once, then checked: id of a request in flight, operation, status), ends the grants,
 * completes the requests and issues queued ones. Flush is FLUSH_DISKCACHE, or
 * WRITE_BARRIER where that is all the backend offers.
 *
 * A request's buffer goes back to its caller only once every grant on it has ended: one
 * the backend still maps keeps the request (and its buffer) with us, counted, until the
 * backend lets go. A response index past our requests, or a response that answers no
 * request of ours or has no status blkif.h defines, is a backend lying about the ring:
 * reported, everything outstanding and queued fails with -EIO, and we close (Closing, then
 * Closed as the backend closes) for good: no backend is connected again until the disk is
 * detached (give_up).
 *
 * Connection: InitWait -> ring and keys, Initialised; Connected -> size and features,
 * Connected, and the blkdev is registered (once). Closing/Closed or our node gone -> all
 * outstanding and queued requests complete with -ENODEV; a backend that comes back gets a
 * new connection, unless it lied. */
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "blkfront/resp.h"
#include "common/blkdev.h"
#include "common/console.h"
#include "common/hal.h"
#include "hv_xen/events.h"
#include "hv_xen/grant.h"
#include "hv_xen/hypercall.h"
#include "hv_xen/platform.h"
#include "hv_xen/ring.h"
#include "hv_xen/xenbus.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#include <xen/io/blkif.h>
#include <xen/io/protocols.h>

#define HELD_RETRY_NS 100000000ull /* how often held requests' grants are tried again */

static unsigned count;

static void push(struct bf *bf)
{
	int notify;

	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&bf->ring, notify);
	if (notify) {
		evtchn_send(bf->port);
		bf->bd.st.kicks++;
	}
}

/* as many queued requests as fit; lock held */
static void issue_queued(struct bf *bf)
{
	bool any = false;

	while (bf->queue && blkfront_issue(bf, bf->queue)) {
		bf->queue = bf->queue->next;
		if (!bf->queue)
			bf->queue_tail = &bf->queue;
		any = true;
	}
	if (any)
		push(bf);
}

static int bf_submit(struct blkdev *d, struct blk_req *r)
{
	struct bf *bf = container_of(d, struct bf, bd);
	int rc = blkdev_check(d, r);

	if (rc)
		return rc;
	mutex_lock(&bf->lock, NO_DEADLINE);
	if (!bf->connected) {
		mutex_unlock(&bf->lock);
		return -ENODEV;
	}
	r->next = NULL;
	r->status = 0;
	if (!bf->queue && blkfront_issue(bf, r)) {
		push(bf);
	} else {
		*bf->queue_tail = r;
		bf->queue_tail = &r->next;
	}
	mutex_unlock(&bf->lock);
	return 0;
}

static void give_up(struct bf *bf);

/* the device's thread, lock held: completions, then the queue */
static void take_responses(struct bf *bf)
{
	if (blkfront_take_responses(bf))
		give_up(bf);
	else
		issue_queued(bf);
}

static int bf_thread(void *arg)
{
	struct bf *bf = arg;

	for (;;) {
		/* held requests wait on the backend, which need not tell us it let go */
		bool held = __atomic_load_n(&bf->nheld, __ATOMIC_RELAXED);

		sem_down(&bf->work, held ? clock_ns() + HELD_RETRY_NS : NO_DEADLINE);
		mutex_lock(&bf->lock, NO_DEADLINE);
		if (bf->connected)
			take_responses(bf);
		else
			blkfront_retry_held(bf);
		mutex_unlock(&bf->lock);
	}
	return 0;
}

static void bf_event(void *arg)
{
	struct bf *bf = arg;

	bf->bd.st.irqs++;
	sem_up(&bf->work);
}

/* test=blk_lie: the ring's response index "runs past" our requests. The backend writes
 * it only when it answers, and an idle disk has nothing to answer; the device's thread
 * then finds the lie. */
static int bf_lie(struct blkdev *d)
{
	struct bf *bf = container_of(d, struct bf, bd);
	int rc = -ENOTCONN;

	mutex_lock(&bf->lock, NO_DEADLINE);
	if (bf->connected) {
		__atomic_store_n(&bf->ring.sring->rsp_prod, bf->ring.req_prod_pvt + 5,
				 __ATOMIC_RELEASE);
		rc = 0;
	}
	mutex_unlock(&bf->lock);
	if (!rc)
		sem_up(&bf->work);
	return rc;
}

static const struct blkdev_ops bf_ops = { .submit = bf_submit, .lie = bf_lie };

/* ---- connection */

static void close_port(unsigned port)
{
	struct evtchn_close c = { .port = port };

	xen_event_channel_op(EVTCHNOP_close, &c);
}

/* Everything in flight or queued fails with status; in flight, once the backend no longer
 * maps its pages. The ring and the event channel go back. False when there was no
 * connection to drop. Lock held. */
static bool drop_ring(struct bf *bf, int status)
{
	if (!bf->connected && !bf->ring_page)
		return false;
	bf->connected = false;
	hal->irq_unbind(&bf->irq);
	close_port(bf->port);
	blkfront_fail(bf, status);
	if (bf->ring_page)
		gnttab_release(bf->ring_ref, mm_va_pfn(bf->ring_page));
	bf->ring_page = NULL;
	return true;
}

/* drop_ring, said (-ENODEV: the backend went away). Lock held. */
static void disconnect(struct bf *bf, int status)
{
	if (drop_ring(bf, status))
		kprintf("%s: disconnected from %s\n", bf->bd.name, bf->xb->otherend);
}

/* The backend lied about the ring (resp.c said how, in one line, and failed everything in
 * flight or queued with -EIO; held requests end once it lets go of their pages, which it
 * does as it closes). We close: dom0 sees that the frontend gave up, the backend's Closing
 * then takes us to Closed as on any close, and bf->failed keeps the state machine from
 * connecting the device again (a backend that lies at once each time would make a loop),
 * until the toolstack detaches the disk. New requests are refused (-ENODEV). Lock held. */
static void give_up(struct bf *bf)
{
	int rc;

	drop_ring(bf, -EIO);
	/* the device's thread: gone is the watch thread's (a node gone needs no state) */
	if (!__atomic_load_n(&bf->xb->gone, __ATOMIC_RELAXED) &&
	    (rc = xenbus_switch_state(bf->xb, XenbusStateClosing)))
		kprintf("%s: could not switch to Closing (%d)\n", bf->bd.name, rc);
}

static int write_keys(uint32_t tx, void *arg)
{
	struct bf *bf = arg;
	char path[96];
	int rc;

	xenbus_path(bf->xb, "ring-ref", path, sizeof(path));
	if ((rc = xs_printf(tx, path, "%d", bf->ring_ref)))
		return rc;
	xenbus_path(bf->xb, "event-channel", path, sizeof(path));
	if ((rc = xs_printf(tx, path, "%u", bf->port)))
		return rc;
	xenbus_path(bf->xb, "protocol", path, sizeof(path));
	return xs_write(tx, path, XEN_IO_PROTO_ABI_X86_64);
}

/* InitWait: the ring and the keys. Lock held. */
static int connect(struct bf *bf)
{
	struct xenbus_dev *xb = bf->xb;
	int64_t pfn = mm_frame_alloc();
	int rc;

	if (pfn < 0)
		return -ENOMEM;
	bf->ring_page = mm_frame_va(pfn);
	memset(bf->ring_page, 0, PAGE_SIZE);
	SHARED_RING_INIT((blkif_sring_t *)bf->ring_page);
	FRONT_RING_INIT(&bf->ring, (blkif_sring_t *)bf->ring_page, PAGE_SIZE);
	bf->ring_ref = gnttab_grant(xb->otherend_id, xen_gfn(bf->ring_page), false);
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = xb->otherend_id };

	if (bf->ring_ref < 0 || (rc = (int)xen_event_channel_op(EVTCHNOP_alloc_unbound, &a))) {
		rc = bf->ring_ref < 0 ? bf->ring_ref : rc;
		if (bf->ring_ref >= 0)
			gnttab_release(bf->ring_ref, (uint64_t)pfn);
		else
			mm_frame_free((uint64_t)pfn);
		bf->ring_page = NULL;
		return rc;
	}
	bf->port = a.port;
	bf->irq = (struct irq){ .kind = IRQ_EVTCHN, .num = bf->port, .cpu = 0, .fn = bf_event,
				.arg = bf };
	/* every slot but those still held for the last backend */
	bf->nfree = 0;
	for (unsigned i = 0; i < BF_RING; i++)
		if (!bf->shadow[BF_RING - 1 - i].req)
			bf->free_ids[bf->nfree++] = BF_RING - 1 - i;
	if ((rc = hal->irq_bind(&bf->irq)) || (rc = xs_transaction(write_keys, bf, NULL)) ||
	    (rc = xenbus_switch_state(xb, XenbusStateInitialised))) {
		bf->connected = true; /* so that disconnect gives everything back */
		disconnect(bf, -ENODEV);
		return rc;
	}
	return 0;
}

/* Connected: what the backend says about the disk */
static int backend_connected(struct bf *bf)
{
	struct xenbus_dev *xb = bf->xb;
	char path[128];
	uint64_t sectors = 0, ssize = BF_SECTOR, info = 0, flush = 0, barrier = 0;

	ksnprintf(path, sizeof(path), "%s/sectors", xb->otherend);
	if (xs_read_u64(XS_NO_TX, path, &sectors) || !sectors)
		return -EIO;
	ksnprintf(path, sizeof(path), "%s/sector-size", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &ssize);
	if (ssize != BF_SECTOR) {
		kprintf("%s: sector size %lu: only 512 is supported\n", bf->bd.name, ssize);
		return -EOPNOTSUPP;
	}
	ksnprintf(path, sizeof(path), "%s/info", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &info);
	ksnprintf(path, sizeof(path), "%s/feature-flush-cache", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &flush);
	ksnprintf(path, sizeof(path), "%s/feature-barrier", xb->otherend);
	xs_read_u64(XS_NO_TX, path, &barrier);
	bf->bd.sectors = sectors;
	bf->bd.read_only = info & VDISK_READONLY;
	bf->bd.flush = flush || barrier;
	bf->barrier_only = !flush && barrier;
	ksnprintf(bf->info, sizeof(bf->info),
		  "blkfront %s, backend domain %u, %lu sectors%s, flush %s", xb->nodename,
		  xb->otherend_id, sectors, bf->bd.read_only ? ", read-only" : "",
		  flush ? "flush-cache" : barrier ? "barrier" : "none");
	return 0;
}

/* The disk is registered, or will not be for now: no longer one that users of every
 * disk wait for (blkdev_expect). */
static void settled(struct bf *bf)
{
	if (bf->expected) {
		bf->expected = false;
		blkdev_expect(-1);
	}
}

/* watch thread */
static void bf_otherend_changed(struct xenbus_dev *xb)
{
	struct bf *bf = xb->priv;
	int rc;

	mutex_lock(&bf->lock, NO_DEADLINE);
	blkfront_retry_held(bf);
	switch (xb->otherend_state) {
	case XenbusStateInitWait:
		if (bf->failed) {
			settled(bf);
			break; /* closed for good (give_up) */
		}
		disconnect(bf, -ENODEV);
		if (xb->state != XenbusStateInitialising)
			xenbus_switch_state(xb, XenbusStateInitialising);
		if ((rc = connect(bf))) {
			kprintf("%s: connecting to %s failed (%d)\n", bf->bd.name, xb->otherend, rc);
			settled(bf);
		}
		break;
	case XenbusStateConnected:
		if (bf->connected || !bf->ring_page || xb->state == XenbusStateConnected)
			break;
		if ((rc = backend_connected(bf))) {
			kprintf("%s: unusable disk at %s (%d)\n", bf->bd.name, xb->otherend, rc);
			settled(bf);
			break;
		}
		bf->connected = true;
		xenbus_switch_state(xb, XenbusStateConnected);
		if (!bf->registered) {
			bf->registered = true;
			blkdev_register(&bf->bd);
		}
		settled(bf);
		issue_queued(bf);
		break;
	case XenbusStateClosing:
	case XenbusStateClosed:
		settled(bf);
		disconnect(bf, -ENODEV);
		if (xb->gone)
			bf->failed = false; /* detached: a disk attached here again is a new one */
		else if (xb->state != XenbusStateClosed)
			xenbus_switch_state(xb, XenbusStateClosed);
		break;
	default:
		break;
	}
	mutex_unlock(&bf->lock);
}

static void bf_stop(struct xenbus_dev *xb)
{
	struct bf *bf = xb->priv;

	mutex_lock(&bf->lock, NO_DEADLINE);
	settled(bf);
	disconnect(bf, -ENODEV);
	xenbus_switch_state(xb, XenbusStateClosing);
	mutex_unlock(&bf->lock);
}

static int bf_probe(struct xenbus_dev *xb)
{
	struct bf *bf = kcalloc(1, sizeof(*bf));

	if (!bf)
		return -ENOMEM;
	bf->xb = xb;
	xb->priv = bf;
	mutex_init(&bf->lock);
	sem_init(&bf->work, 0);
	bf->queue_tail = &bf->queue;
	ksnprintf(bf->bd.name, sizeof(bf->bd.name), "xblk%u", count++);
	bf->bd.sector_size = BF_SECTOR;
	bf->bd.max_bytes = BF_SEGS * PAGE_SIZE;
	bf->bd.ops = &bf_ops;
	bf->bd.info = bf->info;
	bf->expected = true;
	blkdev_expect(1);
	if (!thread_create(bf->bd.name, bf_thread, bf, CPU_ANY)) {
		settled(bf);
		kfree(bf);
		return -ENOMEM;
	}
	return 0;
}

XENBUS_DRIVER(blkfront_driver) = {
	.type = "vbd",
	.probe = bf_probe,
	.otherend_changed = bf_otherend_changed,
	.stop = bf_stop,
};
