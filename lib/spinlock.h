/* A test-and-test-and-set spinlock, for slow paths only (refilling per-CPU caches from a
 * shared pool). Fast paths are per-CPU and take no lock. A vCPU that the hypervisor
 * preempts while holding one stalls the others, which is why none may sit on a hot path. */
#ifndef LIB_SPINLOCK_H
#define LIB_SPINLOCK_H

#include "lib/compiler.h"

struct spinlock {
	int locked;
};

static inline void spin_lock(struct spinlock *l)
{
	while (__atomic_exchange_n(&l->locked, 1, __ATOMIC_ACQUIRE))
		while (__atomic_load_n(&l->locked, __ATOMIC_RELAXED))
			__builtin_ia32_pause();
}

static inline void spin_unlock(struct spinlock *l)
{
	__atomic_store_n(&l->locked, 0, __ATOMIC_RELEASE);
}

#endif
