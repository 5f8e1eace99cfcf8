#include <stdint.h>

#include <xen/xen.h>
#include <xen/event_channel.h>

#include "arch_x86_64/percpu.h"
#include "hv_xen/events.h"
#include "hv_xen/hypercall.h"
#include "lib/errno.h"
#include "lib/format.h"

#define WORDS 64 /* 2-level: 64 x 64 ports */
#define PORTS (WORDS * 64)

static struct shared_info *sh;
static evtchn_handler handlers[PORTS];
static void *handler_args[PORTS];
/* which ports each vCPU owns: the pending words are shared, so a vCPU handles only its own */
static uint64_t owned[MAX_CPUS][WORDS];
static uint64_t upcalls[MAX_CPUS];

void evtchn_init(struct shared_info *shared)
{
	sh = shared;
}

static void disown(unsigned port)
{
	for (unsigned c = 0; c < MAX_CPUS; c++)
		__atomic_fetch_and(&owned[c][port / 64], ~(1ull << (port % 64)), __ATOMIC_RELEASE);
}

static int bound(int port, unsigned cpu, evtchn_handler fn, void *arg)
{
	if (port < 0 || port >= PORTS)
		return port < 0 ? port : -1;
	disown(port);
	handler_args[port] = arg;
	__atomic_store_n(&handlers[port], fn, __ATOMIC_RELEASE);
	__atomic_fetch_or(&owned[cpu][port / 64], 1ull << (port % 64), __ATOMIC_RELEASE);
	evtchn_unmask(port);
	return port;
}

int evtchn_bind_port(unsigned port, unsigned cpu, evtchn_handler fn, void *arg)
{
	struct evtchn_bind_vcpu b = { .port = port, .vcpu = cpu };
	long rc;

	if (!port || port >= PORTS || cpu >= MAX_CPUS)
		return -EINVAL;
	evtchn_mask(port);
	/* notifications go to the vCPU that handles them (ports start on vCPU 0) */
	if ((rc = xen_event_channel_op(EVTCHNOP_bind_vcpu, &b)))
		return (int)rc;
	return bound((int)port, cpu, fn, arg) < 0 ? -EINVAL : 0;
}

void evtchn_unbind_port(unsigned port)
{
	if (!port || port >= PORTS)
		return;
	evtchn_mask(port);
	disown(port);
	__atomic_store_n(&handlers[port], NULL, __ATOMIC_RELEASE);
}

bool evtchn_pending(unsigned port)
{
	return port < PORTS && (READ_ONCE(sh->evtchn_pending[port / 64]) & 1ull << (port % 64));
}

int evtchn_bind_virq(unsigned virq, unsigned cpu, evtchn_handler fn, void *arg)
{
	struct evtchn_bind_virq b = { .virq = virq, .vcpu = cpu };
	long rc = xen_event_channel_op(EVTCHNOP_bind_virq, &b);

	return bound(rc ? (int)rc : (int)b.port, cpu, fn, arg);
}

int evtchn_bind_ipi(unsigned cpu, evtchn_handler fn, void *arg)
{
	struct evtchn_bind_ipi b = { .vcpu = cpu };
	long rc = xen_event_channel_op(EVTCHNOP_bind_ipi, &b);

	return bound(rc ? (int)rc : (int)b.port, cpu, fn, arg);
}

void evtchn_send(unsigned port)
{
	struct evtchn_send s = { .port = port };

	xen_event_channel_op(EVTCHNOP_send, &s);
}

void evtchn_mask(unsigned port)
{
	__atomic_fetch_or(&sh->evtchn_mask[port / 64], 1ull << (port % 64), __ATOMIC_SEQ_CST);
}

/* by hypercall: Xen then re-raises an event that arrived while masked */
void evtchn_unmask(unsigned port)
{
	struct evtchn_unmask u = { .port = port };

	xen_event_channel_op(EVTCHNOP_unmask, &u);
}

void evtchn_upcall(void *arg)
{
	struct vcpu_info *v = this_cpu()->xen_vcpu;
	const uint64_t *mine = owned[arch_cpu_id()];

	upcalls[arch_cpu_id()]++;
	do {
		/* clear the summary bits before reading the ports (xen/xen.h, vcpu_info) */
		WRITE_ONCE(v->evtchn_upcall_pending, 0);
		uint64_t sel = __atomic_exchange_n(&v->evtchn_pending_sel, 0, __ATOMIC_ACQ_REL);

		while (sel) {
			unsigned w = __builtin_ctzll(sel);

			sel &= sel - 1;
			uint64_t pend = READ_ONCE(sh->evtchn_pending[w]) &
					~READ_ONCE(sh->evtchn_mask[w]) & mine[w];

			while (pend) {
				unsigned b = __builtin_ctzll(pend), port = w * 64 + b;

				pend &= pend - 1;
				__atomic_fetch_and(&sh->evtchn_pending[w], ~(1ull << b),
						   __ATOMIC_ACQ_REL);
				evtchn_handler h = __atomic_load_n(&handlers[port], __ATOMIC_ACQUIRE);

				if (h)
					h(port, handler_args[port]);
			}
		}
	} while (READ_ONCE(v->evtchn_upcall_pending));
}

uint64_t evtchn_upcalls(unsigned cpu)
{
	return upcalls[cpu];
}

/* For a stuck test: what Xen and we think of one port and its vCPU's summary bits. */
int evtchn_describe(char *buf, size_t size, unsigned port, unsigned cpu)
{
	struct vcpu_info *v = &sh->vcpu_info[cpu];
	unsigned w = port / 64;
	uint64_t bit = 1ull << (port % 64);

	return ksnprintf(buf, size, "port %u: %s%s%s, vcpu%u upcall %s, sel %#lx",
			 port, READ_ONCE(sh->evtchn_pending[w]) & bit ? "pending" : "idle",
			 READ_ONCE(sh->evtchn_mask[w]) & bit ? " masked" : "",
			 owned[cpu][w] & bit ? "" : " not ours", cpu,
			 READ_ONCE(v->evtchn_upcall_pending) ? "pending" : "clear",
			 READ_ONCE(v->evtchn_pending_sel));
}
