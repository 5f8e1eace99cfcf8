/* A test-and-test-and-set spinlock, for slow paths only (refilling per-CPU caches from a
 * shared pool). Fast paths are per-CPU and take no lock. A vCPU that the hypervisor
 * preempts while holding one stalls the others, which is why none may sit on a hot path;
 * the waiters give their physical CPUs away meanwhile (spin_wait). */
#ifndef LIB_SPINLOCK_H
#define LIB_SPINLOCK_H

#include "lib/compiler.h"

/* One step of a CPU's wait for another CPU (a spinlock's holder, a TLB flush, a flag): a
 * pause, and every SPIN_YIELD_EVERY steps the platform's vcpu_yield (common/hal.h; Xen:
 * SCHEDOP_yield), counted in the CPU's hv_yields. So a wait for a vCPU the hypervisor
 * preempted, or for one that shares our physical CPU and runs only when we stop, ends
 * once that vCPU has run, not when the hypervisor's time slice ends. `*spins` is the
 * wait's own count, 0 at its start. 256 steps take about 10 us on hardware (a pause is
 * ~40 ns), ten times a hypercall, so a short wait never yields. Defined in common/hal.c;
 * host tests only pause. */
#define SPIN_YIELD_EVERY 256
#ifdef HOST_TEST
static inline void spin_wait(unsigned long *spins)
{
	(*spins)++;
	__builtin_ia32_pause();
}
#else
void spin_wait(unsigned long *spins);
#endif

struct spinlock {
	int locked;
};

static inline void spin_lock(struct spinlock *l)
{
	unsigned long spins = 0;

	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			spin_wait(&spins);
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
