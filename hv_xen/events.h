/* Xen event channels, 2-level ABI (xen/event_channel.h, xen/xen.h shared_info): binding
 * VIRQs and IPIs to a vCPU, sending, masking, and the upcall that dispatches pending ports
 * to their handlers. The same on PV (callback) and PVH (HVM_PARAM_CALLBACK_IRQ vector). */
#ifndef HV_XEN_EVENTS_H
#define HV_XEN_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/compiler.h"

struct shared_info;

typedef void (*evtchn_handler)(unsigned port, void *arg);

void evtchn_init(struct shared_info *shared);
/* Return the port, or a negative Xen error. The handler runs in interrupt context on the
 * bound vCPU. */
int evtchn_bind_virq(unsigned virq, unsigned cpu, evtchn_handler fn, void *arg);
int evtchn_bind_ipi(unsigned cpu, evtchn_handler fn, void *arg);
/* An open port (interdomain, unbound, ...): its notifications go to vCPU `cpu`, which runs
 * fn there; unmasked. 0, -EINVAL, or a Xen error. */
int evtchn_bind_port(unsigned port, unsigned cpu, evtchn_handler fn, void *arg);
/* Masks it and forgets the handler; the port stays open. */
void evtchn_unbind_port(unsigned port);
bool evtchn_pending(unsigned port);
void evtchn_send(unsigned port);
void evtchn_mask(unsigned port);
void evtchn_unmask(unsigned port);
/* The upcall: dispatches this vCPU's pending, unmasked ports. */
void evtchn_upcall(void *arg);
uint64_t evtchn_upcalls(unsigned cpu);
int evtchn_describe(char *buf, size_t size, unsigned port, unsigned cpu);

/* hal->selftest on Xen (xen_selftest.c): irq, xenstore */
struct result;
bool xen_selftest(const char *name, struct result *r);

#endif
