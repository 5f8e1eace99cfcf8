/* Guest tests only Xen can run.
 * irq: an event channel looped back to ourselves (alloc_unbound, then bind_interdomain to
 * it), bound through hal->irq_bind to the last vCPU: sends arrive there, a masked port
 * keeps its event pending and delivers it on unmask.
 * xenstore: read/write/directory round trips, watches, and a conflicting transaction that
 * is retried. */
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "arch_x86_64/percpu.h"
#include "common/hal.h"
#include "common/selftest.h"
#include "hv_xen/events.h"
#include "hv_xen/hypercall.h"
#include "hv_xen/xenstore.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/string.h"
#include "lib/time.h"
#include "mm/mm.h"
#include "sched/sched.h"
#include "sched/sync.h"

#define MS 1000000ull
#define LATE_MS 3000u

struct probe {
	unsigned cpu, wrong_cpu;
};

static void fired(void *arg)
{
	struct probe *p = arg;

	p->wrong_cpu += arch_cpu_id() != p->cpu;
}

static uint64_t count(struct irq *irq)
{
	return __atomic_load_n(&irq->count, __ATOMIC_ACQUIRE);
}

static bool wait_count(struct irq *irq, uint64_t want, uint64_t ns)
{
	for (uint64_t until = clock_ns() + ns; count(irq) < want && clock_ns() < until;)
		thread_sleep(MS / 10);
	return count(irq) >= want;
}

static void close_port(unsigned port)
{
	struct evtchn_close c = { .port = port };

	xen_event_channel_op(EVTCHNOP_close, &c);
}

static void selftest_irq(struct result *r)
{
	struct evtchn_alloc_unbound a = { .dom = DOMID_SELF, .remote_dom = DOMID_SELF };
	long rc = xen_event_channel_op(EVTCHNOP_alloc_unbound, &a);

	EXPECT(r, rc == 0, "EVTCHNOP_alloc_unbound: %ld", rc);
	if (rc)
		return;
	struct evtchn_bind_interdomain b = { .remote_dom = DOMID_SELF, .remote_port = a.port };

	rc = xen_event_channel_op(EVTCHNOP_bind_interdomain, &b);
	EXPECT(r, rc == 0, "EVTCHNOP_bind_interdomain: %ld", rc);
	if (rc) {
		close_port(a.port);
		return;
	}
	unsigned cpu = sched_cpus_online() - 1;
	struct probe p = { .cpu = cpu };
	struct irq irq = { .kind = IRQ_EVTCHN, .num = a.port, .cpu = cpu, .fn = fired, .arg = &p };
	int brc = hal->irq_bind(&irq);

	EXPECT(r, brc == 0, "binding port %u: %d", a.port, brc);
	unsigned sent = 0;
	uint64_t slowest = 0;
	char stuck[160] = "";

	/* Nested under TCG a vCPU can wait long for a physical CPU: an event is late only
	 * after LATE_MS; then the port's and the vCPU's state tell a lost event (pending, the
	 * summary bits clear) from a vCPU that never ran */
	for (; !brc && sent < 100; sent++) {
		uint64_t t0 = clock_ns();

		evtchn_send(b.local_port);
		if (!wait_count(&irq, sent + 1, LATE_MS * MS)) {
			evtchn_describe(stuck, sizeof(stuck), a.port, cpu);
			break;
		}
		uint64_t took = clock_ns() - t0;

		slowest = took > slowest ? took : slowest;
	}
	EXPECT(r, count(&irq) == 100, "%lu of 100 events arrived, event %u not in %u ms (%s)",
	       count(&irq), sent + 1, LATE_MS, stuck);

	/* masked: the event waits in the pending bit, and unmasking delivers it */
	hal->irq_mask(&irq, true);
	uint64_t before = count(&irq);

	evtchn_send(b.local_port);
	thread_sleep(20 * MS);
	uint64_t masked = count(&irq) - before;
	bool pending = evtchn_pending(a.port);

	hal->irq_mask(&irq, false);
	bool after = wait_count(&irq, before + 1, LATE_MS * MS);

	EXPECT(r, masked == 0, "%lu events delivered while masked", masked);
	EXPECT(r, pending, "a masked port's event was not left pending");
	EXPECT(r, after, "unmasking did not deliver the pending event");
	EXPECT(r, p.wrong_cpu == 0, "%u events on the wrong vCPU", p.wrong_cpu);
	if (!brc)
		hal->irq_unbind(&irq);
	close_port(b.local_port);
	close_port(a.port);

	/* what a Xen guest cannot bind, and nonsense */
	struct irq bad = { .kind = IRQ_ISA, .num = 8, .fn = fired, .arg = &p };

	EXPECT(r, hal->irq_bind(&bad) == -ENODEV, "an ISA IRQ was accepted on Xen");
	bad.kind = IRQ_MSI;
	EXPECT(r, hal->irq_bind(&bad) == -ENODEV, "an MSI was accepted on Xen");
	bad.kind = IRQ_EVTCHN;
	bad.num = 1u << 20;
	EXPECT(r, hal->irq_bind(&bad) == -EINVAL, "port %u was accepted", bad.num);
	bad.num = a.port; /* closed now */
	EXPECT(r, hal->irq_bind(&bad) < 0, "a closed port was accepted");
	result_note(r, "evtchn port %u->%u: %lu/100 on cpu%u (slowest %lu ms), masked %lu, "
		    "pending %d, unmask %s", b.local_port, a.port, before, cpu,
		    (unsigned long)(slowest / MS), masked, pending, after ? "delivered" : "lost");
}

/* ---- xenstore */

struct watched {
	struct xs_watch w;
	unsigned events, held;
	char last[64];
	struct sem sem;
};

static void watch_fired(struct xs_watch *w, const char *changed)
{
	struct watched *x = w->arg;

	strlcpy(x->last, changed, sizeof(x->last));
	/* the event is freed before its callback: a waiter this wakes finds nothing of it */
	x->held += ksize(changed) != 0;
	x->events++;
	sem_up(&x->sem);
}

struct bump {
	unsigned calls;
};

/* one increment of data/amphi-ctr in a transaction; on the first try something else
 * writes the key behind the transaction's back, so the commit must conflict */
static int bump(uint32_t tx, void *arg)
{
	struct bump *b = arg;
	uint64_t v = 0;
	int rc = xs_read_u64(tx, "data/amphi-ctr", &v);

	if (rc && rc != -ENOENT)
		return rc;
	if (b->calls++ == 0)
		xs_write(XS_NO_TX, "data/amphi-ctr", "100");
	return xs_printf(tx, "data/amphi-ctr", "%lu", v + 1);
}

static void selftest_xenstore(struct result *r)
{
	char buf[128];
	int rc;
	uint64_t t0 = clock_ns();

	/* round trips */
	rc = xs_write(XS_NO_TX, "data/amphi-test", "hello from amphi");
	EXPECT(r, rc == 0, "write: %d", rc);
	rc = xs_read(XS_NO_TX, "data/amphi-test", buf, sizeof(buf));
	EXPECT(r, rc == 16 && !strcmp(buf, "hello from amphi"), "read back: %d '%s'", rc,
	       rc >= 0 ? buf : "");
	rc = xs_read(XS_NO_TX, "data/amphi-test", buf, 8);
	EXPECT(r, rc == -E2BIG, "a read into a small buffer: %d", rc);
	rc = xs_read(XS_NO_TX, "data/amphi-no-such-key", buf, sizeof(buf));
	EXPECT(r, rc == -ENOENT, "a missing key: %d", rc);
	int n = xs_directory(XS_NO_TX, "data", buf, sizeof(buf));
	bool listed = false;

	for (const char *p = buf; n > 0 && p < buf + sizeof(buf) && *p; p += strlen(p) + 1)
		listed |= !strcmp(p, "amphi-test");
	EXPECT(r, n >= 1 && listed, "directory data: %d entries, amphi-test %s", n,
	       listed ? "listed" : "missing");
	rc = xs_read(XS_NO_TX, "name", buf, sizeof(buf));
	EXPECT(r, rc > 0, "our domain's name: %d", rc);
	unsigned loops = 100;

	for (unsigned i = 0; i < loops; i++) {
		char v[16];

		ksnprintf(v, sizeof(v), "%u", i);
		if (xs_write(XS_NO_TX, "data/amphi-loop", v) ||
		    xs_read(XS_NO_TX, "data/amphi-loop", buf, sizeof(buf)) < 0 || strcmp(buf, v)) {
			EXPECT(r, false, "round trip %u failed", i);
			break;
		}
	}
	uint64_t rt_us = (clock_ns() - t0) / 1000;

	/* watches: one event when set, one per write */
	struct watched x = { .w = { .path = "data/amphi-watch", .fn = watch_fired } };

	x.w.arg = &x;
	sem_init(&x.sem, 0);
	xs_write(XS_NO_TX, "data/amphi-watch", "0");
	rc = xs_watch(&x.w);
	EXPECT(r, rc == 0, "watch: %d", rc);
	EXPECT(r, !sem_down(&x.sem, clock_ns() + 2 * NSEC_PER_SEC),
	       "no watch event when the watch was set");
	for (unsigned i = 1; !rc && i <= 10; i++) {
		xs_printf(XS_NO_TX, "data/amphi-watch", "%u", i);
		if (sem_down(&x.sem, clock_ns() + 2 * NSEC_PER_SEC)) {
			EXPECT(r, false, "no watch event after write %u", i);
			break;
		}
	}
	EXPECT(r, !strcmp(x.last, "data/amphi-watch") || strstr(x.last, "/data/amphi-watch"),
	       "the event named '%s'", x.last);
	EXPECT(r, !x.held, "%u of %u callbacks ran with their event still on the heap", x.held,
	       x.events);
	xs_unwatch(&x.w);
	unsigned after = x.events;

	xs_write(XS_NO_TX, "data/amphi-watch", "after");
	thread_sleep(100 * MS);
	EXPECT(r, x.events == after, "%u events after unwatch", x.events - after);

	/* transactions: two at once on one key, the second commit conflicts */
	uint32_t t1, t2;

	xs_write(XS_NO_TX, "data/amphi-ctr", "0");
	EXPECT(r, !xs_transaction_start(&t1) && !xs_transaction_start(&t2),
	       "transaction start failed");
	xs_read(t1, "data/amphi-ctr", buf, sizeof(buf));
	xs_read(t2, "data/amphi-ctr", buf, sizeof(buf));
	xs_write(t1, "data/amphi-ctr", "1");
	xs_write(t2, "data/amphi-ctr", "2");
	int c1 = xs_transaction_end(t1, true), c2 = xs_transaction_end(t2, true);

	EXPECT(r, c1 == 0 && c2 == -EAGAIN, "commits: %d then %d (want 0, -EAGAIN)", c1, c2);
	struct bump b = { 0 };
	unsigned tries = 0;
	uint64_t v = 0;

	rc = xs_transaction(bump, &b, &tries);
	xs_read_u64(XS_NO_TX, "data/amphi-ctr", &v);
	EXPECT(r, rc == 0 && tries == 2 && v == 101,
	       "retried transaction: rc %d after %u tries, value %lu (want 0, 2, 101)", rc,
	       tries, v);
	xs_rm(XS_NO_TX, "data/amphi-test");
	xs_rm(XS_NO_TX, "data/amphi-loop");
	xs_rm(XS_NO_TX, "data/amphi-watch");
	xs_rm(XS_NO_TX, "data/amphi-ctr");
	rc = xs_read(XS_NO_TX, "data/amphi-test", buf, sizeof(buf));
	EXPECT(r, rc == -ENOENT, "after rm: %d", rc);
	struct xs_stats s;

	xs_stats(&s);
	result_note(r, "%u write+read round trips in %lu us; watch events %u; conflict %d, "
		       "retried commit after %u tries; %lu requests, %lu bad replies",
		    loops, rt_us, x.events, c2, tries, s.requests, s.bad_replies);
}

bool xen_selftest(const char *name, struct result *r)
{
	if (!strcmp(name, "irq"))
		selftest_irq(r);
	else if (!strcmp(name, "xenstore"))
		selftest_xenstore(r);
	else
		return false;
	return true;
}
