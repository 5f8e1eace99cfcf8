/* test=irq on Xen: an event channel looped back to ourselves (alloc_unbound, then
 * bind_interdomain to it), bound through hal->irq_bind to the last vCPU: sends arrive there,
 * a masked port keeps its event pending and delivers it on unmask. */
#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "arch_x86_64/percpu.h"
#include "common/hal.h"
#include "common/selftest.h"
#include "hv_xen/events.h"
#include "hv_xen/hypercall.h"
#include "lib/errno.h"
#include "sched/sched.h"

#define MS 1000000ull

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

void xen_selftest_irq(struct result *r)
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

	for (; !brc && sent < 100; sent++) {
		evtchn_send(b.local_port);
		if (!wait_count(&irq, sent + 1, 100 * MS))
			break;
	}
	EXPECT(r, count(&irq) == 100, "%lu of 100 events arrived", count(&irq));

	/* masked: the event waits in the pending bit, and unmasking delivers it */
	hal->irq_mask(&irq, true);
	uint64_t before = count(&irq);

	evtchn_send(b.local_port);
	thread_sleep(20 * MS);
	uint64_t masked = count(&irq) - before;
	bool pending = evtchn_pending(a.port);

	hal->irq_mask(&irq, false);
	bool after = wait_count(&irq, before + 1, 100 * MS);

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
	result_note(r, "evtchn port %u->%u: %lu/100 on cpu%u, masked %lu, pending %d, unmask %s",
		    b.local_port, a.port, before, cpu, masked, pending,
		    after ? "delivered" : "lost");
}
