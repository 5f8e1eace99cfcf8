/* The xenstore transport. One request is outstanding at a time (a sleeping mutex): the
 * requester writes it into the ring and sleeps; the reader thread takes every message out
 * of the response ring whole (xs_read_msg), and by its req_id (xs_classify) hands the
 * reply with the awaited id to the requester, drops and counts a reply that came after its
 * requester gave up (dropped_replies), queues watch events for the watch thread, and
 * skips, counts (bad_replies) and reports once a message nobody asked for or cannot read,
 * staying in step with the ring. The event channel's handler only wakes those threads. */
#include <stdarg.h>

#include "lib/errno.h"

#include "hv_xen/xenstore.h"

#include "common/console.h"
#include "common/hal.h"
#include "hv_xen/events.h"
#include "hv_xen/platform.h"
#include "hv_xen/xs_msg.h"
#include "lib/cmdline.h"
#include "lib/format.h"
#include "lib/mpsc.h"
#include "lib/string.h"
#include "lib/time.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define REPLY_NS (5 * NSEC_PER_SEC)
#define MAX_TRIES 16

static struct xenstore_domain_interface *ring;
static unsigned port;
static bool broken; /* the ring's indices went impossible: no more requests */

static struct irq store_irq;
static struct sem rsp_event;	 /* the reader: something may have arrived */
static struct waitq space_event; /* a requester waiting for room in the request ring */

static struct mutex req_lock;
/* atomic (the reader reads them): the last id sent, and the one the requester sleeps on
 * (0: none) */
static uint32_t next_id, awaited;
static struct sem reply_ready;
static struct xsd_sockmsg reply_hdr;
static char reply_body[XENSTORE_PAYLOAD_MAX + 1];

struct event {
	struct mpsc_node node;
	struct xs_watch *w;
	char path[];
};
static struct mpsc events;
static struct sem events_ready;
static struct mutex watch_lock;
static struct xs_watch *watches;
static uint32_t watch_seq;

static struct xs_stats st;

static void store_event(void *arg)
{
	sem_up(&rsp_event);
	waitq_wake(&space_event, WAKE_ALL);
}

static void notify(void)
{
	evtchn_send(port);
}

/* ---- the reader */

static void deliver_event(const char *body, uint32_t len)
{
	const char *s[2];
	struct xs_watch *w;

	if (xs_split(body, len, s, 2) != 2) {
		st.bad_replies++;
		return;
	}
	mutex_lock(&watch_lock, NO_DEADLINE);
	for (w = watches; w && strcmp(w->token, s[XS_WATCH_TOKEN]); w = w->next)
		;
	mutex_unlock(&watch_lock);
	if (!w)
		return; /* unwatched meanwhile */
	size_t plen = strlen(s[XS_WATCH_PATH]);
	struct event *e = kmalloc(sizeof(*e) + plen + 1);

	if (!e)
		return;
	e->w = w;
	memcpy(e->path, s[XS_WATCH_PATH], plen + 1);
	mpsc_push(&events, &e->node);
	sem_up(&events_ready);
	st.events++;
}

/* A message nobody can use: counted, and the first of each kind said on the console
 * (xenstored could send many). The reader is past its body already, in step. */
static void skipped(const struct xsd_sockmsg *h, enum xs_kind k)
{
	static const char *const why[] = {
		[XS_MSG_STRAY] = "a reply to no request of ours",
		[XS_MSG_TOO_LONG] = "longer than XENSTORE_PAYLOAD_MAX",
		[XS_MSG_BAD_TYPE] = "of a type xs_wire.h does not know",
	};
	static bool said[XS_MSG_BAD_TYPE + 1];

	st.bad_replies++;
	if (!said[k]) {
		said[k] = true;
		kprintf("xenstore: skipped a message of type %u, %u bytes, req_id %u: %s "
			"(counted in bad_replies; further ones silently)\n",
			h->type, h->len, h->req_id, why[k]);
	}
}

/* A reply for the requester: it is claimed (awaited back to 0) before it is copied, so a
 * requester that gives up at the same moment either sees its id still awaited (and
 * leaves; the reply is late) or knows the reply is coming (request()). */
static void hand_over(const struct xsd_sockmsg *h, const char *body)
{
	uint32_t id = h->req_id;

	if (!__atomic_compare_exchange_n(&awaited, &id, 0, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		st.dropped_replies++; /* its requester gave up just now */
		return;
	}
	reply_hdr = *h;
	memcpy(reply_body, body, h->len + 1);
	sem_up(&reply_ready);
}

static int reader(void *arg)
{
	static struct xs_reader rd;

	for (;;) {
		int rc = xs_read_msg(&rd, ring);

		if (rc < 0)
			break;
		if (rd.consumed)
			notify(); /* room for xenstored */
		if (!rc) {
			sem_down(&rsp_event, clock_ns() + NSEC_PER_SEC); /* a lost event costs 1 s */
			continue;
		}
		/* by req_id, never by position: a reply that comes after its requester timed
		 * out must not answer the next request */
		enum xs_kind k = xs_classify(&rd.h, __atomic_load_n(&awaited, __ATOMIC_ACQUIRE),
					     __atomic_load_n(&next_id, __ATOMIC_ACQUIRE));

		switch (k) {
		case XS_MSG_EVENT:
			deliver_event(rd.body, rd.h.len);
			break;
		case XS_MSG_REPLY:
			hand_over(&rd.h, rd.body);
			break;
		case XS_MSG_LATE:
			st.dropped_replies++;
			break;
		default:
			skipped(&rd.h, k);
		}
	}
	kprintf("xenstore: the ring is broken; requests fail from now on\n");
	broken = true;
	sem_up(&reply_ready);
	return -EIO;
}

/* Runs the callbacks, one at a time. Each event is freed before its callback runs: a
 * callback that wakes someone (xenbus_probe waits for the device watch's first event)
 * leaves nothing of the watcher's behind it, so what the woken thread sees of memory
 * stays so (the mm test took a 32-byte event freed during its run for 4 KiB from
 * nowhere). The path is lent to the callback for its run. */
static int watcher(void *arg)
{
	static char path[XENSTORE_PAYLOAD_MAX + 1];

	for (;;) {
		sem_down(&events_ready, NO_DEADLINE);
		struct mpsc_node *n;

		while ((n = mpsc_pop(&events))) {
			struct event *e = container_of(n, struct event, node);
			struct xs_watch *w = e->w;

			strlcpy(path, e->path, sizeof(path));
			kfree(e);
			w->fn(w, path);
		}
	}
	return 0;
}

/* ---- requests */

struct iov {
	const void *p;
	size_t len;
};

static bool has_space(void *arg)
{
	return ring->req_prod - __atomic_load_n(&ring->req_cons, __ATOMIC_ACQUIRE) <
	       XENSTORE_RING_SIZE;
}

static int put_all(const void *data, size_t len, uint64_t deadline)
{
	const char *p = data;

	while (len) {
		long n = xs_ring_put(ring, p, len);

		if (n < 0) {
			broken = true;
			return -EIO;
		}
		p += n;
		len -= n;
		notify();
		if (len && waitq_wait(&space_event, has_space, NULL, deadline) == -ETIMEDOUT)
			return -ETIMEDOUT;
	}
	return 0;
}

/* One request and its checked reply (in reply_body, NUL-terminated; *len its length).
 * Called with req_lock held. */
static int request(uint32_t type, uint32_t tx, const struct iov *iov, unsigned n,
		   uint32_t *len)
{
	struct xsd_sockmsg h = { .type = type, .tx_id = tx };
	uint64_t deadline = clock_ns() + REPLY_NS;
	int rc;

	if (!ring)
		return -ENODEV;
	if (broken)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		h.len += iov[i].len;
	if (h.len > XENSTORE_PAYLOAD_MAX)
		return -E2BIG;
	h.req_id = next_id + 1 ? next_id + 1 : 1;
	/* awaited first: the reply may come as soon as the id is visible in the ring */
	__atomic_store_n(&awaited, h.req_id, __ATOMIC_RELEASE);
	__atomic_store_n(&next_id, h.req_id, __ATOMIC_RELEASE);
	st.requests++;
	if ((rc = put_all(&h, sizeof(h), deadline)))
		goto fail;
	for (unsigned i = 0; i < n; i++)
		if ((rc = put_all(iov[i].p, iov[i].len, deadline)))
			goto fail;
	if (sem_down(&reply_ready, deadline)) {
		rc = -ETIMEDOUT;
		goto fail;
	}
	if (broken)
		return -EIO;
	rc = xs_check_reply(&reply_hdr, reply_body, type);
	if (rc == -EIO)
		st.bad_replies++;
	*len = reply_hdr.len;
	return rc;
fail:
	/* Giving up: unless the reader claimed the reply meanwhile, it will be dropped as
	 * late when it comes. If it did, its wakeup is on the way and must be taken here,
	 * or the next request would wake to this reply. */
	if (__atomic_compare_exchange_n(&awaited, &h.req_id, 0, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE)) {
		st.timeouts += rc == -ETIMEDOUT;
		return rc;
	}
	sem_down(&reply_ready, NO_DEADLINE);
	if (broken)
		return -EIO;
	rc = xs_check_reply(&reply_hdr, reply_body, type);
	*len = reply_hdr.len;
	return rc;
}

/* request() under the lock, with the reply copied to out (NUL-terminated) */
static int call(uint32_t type, uint32_t tx, const struct iov *iov, unsigned n, char *out,
		size_t size, uint32_t *len)
{
	uint32_t l = 0;
	int rc = mutex_lock(&req_lock, clock_ns() + REPLY_NS);

	if (rc)
		return rc;
	rc = request(type, tx, iov, n, &l);
	if (!rc && out) {
		if (l + 1 > size)
			rc = -E2BIG;
		else
			memcpy(out, reply_body, l + 1);
	}
	mutex_unlock(&req_lock);
	if (len)
		*len = l;
	return rc;
}

static struct iov str(const char *s)
{
	return (struct iov){ s, strlen(s) + 1 };
}

int xs_read(uint32_t tx, const char *path, char *buf, size_t size)
{
	struct iov v = str(path);
	uint32_t len;
	int rc = call(XS_READ, tx, &v, 1, buf, size, &len);

	if (rc)
		return rc;
	/* a value is bytes; one with a NUL inside is not a string we can use */
	return strnlen(buf, len) == len ? (int)len : -EIO;
}

int xs_read_u64(uint32_t tx, const char *path, uint64_t *v)
{
	char buf[32];
	int rc = xs_read(tx, path, buf, sizeof(buf));

	if (rc < 0)
		return rc == -E2BIG ? -EINVAL : rc;
	return parse_u64(buf, v);
}

int xs_write(uint32_t tx, const char *path, const char *value)
{
	struct iov v[2] = { str(path), { value, strlen(value) } };

	return call(XS_WRITE, tx, v, 2, NULL, 0, NULL);
}

int xs_printf(uint32_t tx, const char *path, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	int n = kvsnprintf(buf, sizeof(buf), fmt, ap);

	va_end(ap);
	return n >= (int)sizeof(buf) ? -E2BIG : xs_write(tx, path, buf);
}

int xs_rm(uint32_t tx, const char *path)
{
	struct iov v = str(path);

	return call(XS_RM, tx, &v, 1, NULL, 0, NULL);
}

int xs_directory(uint32_t tx, const char *path, char *buf, size_t size)
{
	struct iov v = str(path);
	uint32_t len;
	int rc = call(XS_DIRECTORY, tx, &v, 1, buf, size, &len);

	return rc ? rc : xs_split(buf, len, NULL, 0);
}

int xs_transaction_start(uint32_t *tx)
{
	char id[16];
	uint64_t v;
	struct iov e = { "", 1 };
	int rc = call(XS_TRANSACTION_START, XS_NO_TX, &e, 1, id, sizeof(id), NULL);

	if (rc)
		return rc;
	if (parse_u64(id, &v) || !v || v > UINT32_MAX)
		return -EIO;
	*tx = (uint32_t)v;
	return 0;
}

int xs_transaction_end(uint32_t tx, bool commit)
{
	struct iov v = str(commit ? "T" : "F");

	return call(XS_TRANSACTION_END, tx, &v, 1, NULL, 0, NULL);
}

int xs_transaction(int (*fn)(uint32_t tx, void *arg), void *arg, unsigned *tries)
{
	int rc = -EAGAIN;
	unsigned i;

	for (i = 0; i < MAX_TRIES && rc == -EAGAIN; i++) {
		uint32_t tx;

		if ((rc = xs_transaction_start(&tx)))
			break;
		if ((rc = fn(tx, arg))) {
			xs_transaction_end(tx, false);
			break;
		}
		rc = xs_transaction_end(tx, true);
	}
	if (tries)
		*tries = i;
	return rc;
}

int xs_watch(struct xs_watch *w)
{
	ksnprintf(w->token, sizeof(w->token), "amphi%u",
		  __atomic_add_fetch(&watch_seq, 1, __ATOMIC_RELAXED));
	mutex_lock(&watch_lock, NO_DEADLINE);
	w->next = watches;
	watches = w;
	mutex_unlock(&watch_lock);
	struct iov v[2] = { str(w->path), str(w->token) };
	int rc = call(XS_WATCH, XS_NO_TX, v, 2, NULL, 0, NULL);

	if (rc)
		xs_unwatch(w);
	return rc;
}

int xs_unwatch(struct xs_watch *w)
{
	struct iov v[2] = { str(w->path), str(w->token) };
	int rc = call(XS_UNWATCH, XS_NO_TX, v, 2, NULL, 0, NULL);

	mutex_lock(&watch_lock, NO_DEADLINE);
	for (struct xs_watch **p = &watches; *p; p = &(*p)->next) {
		if (*p == w) {
			*p = w->next;
			break;
		}
	}
	mutex_unlock(&watch_lock);
	return rc;
}

void xs_stats(struct xs_stats *s)
{
	*s = st;
}

int xs_init(void)
{
	if (ring)
		return 0;
	ring = xen_store_ring();
	port = xen_store_port();
	if (!ring || !port)
		return -ENODEV;
	sem_init(&rsp_event, 0);
	waitq_init(&space_event);
	mutex_init(&req_lock);
	sem_init(&reply_ready, 0);
	mpsc_init(&events);
	sem_init(&events_ready, 0);
	mutex_init(&watch_lock);
	if (ring->connection != XENSTORE_CONNECTED)
		kprintf("xenstore: the ring says it is reconnecting (%u)\n", ring->connection);
	store_irq = (struct irq){ .kind = IRQ_EVTCHN, .num = port, .cpu = 0, .fn = store_event };
	int rc = hal->irq_bind(&store_irq);

	if (rc)
		return rc;
	if (!thread_create("xenstore", reader, NULL, 0) ||
	    !thread_create("xswatch", watcher, NULL, CPU_ANY))
		return -ENOMEM;
	return 0;
}
