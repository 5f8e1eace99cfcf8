/* Where threads run: placement of new threads, the CPU a woken thread goes to, and which
 * CPU an idle one takes work from. Pure code over what every CPU publishes about itself
 * (struct balance_cpu) and over one CPU's run queue (struct runq), so that the host tests
 * run it on pthreads (sched/balance_test.c); sched.c owns the policy around it
 * (sched/README.md, "Placement and balancing"). Nothing here takes a lock or waits. */
#ifndef SCHED_BALANCE_H
#define SCHED_BALANCE_H

#include "lib/compiler.h"

#define BALANCE_MAX_CPUS 64 /* a CPU mask is one uint64_t */
#define CPU_BIT(c)	 (1ull << (c))

/* what an idle CPU is doing; others read it to decide whether a wake needs an IPI */
enum { IDLE_BUSY, IDLE_POLLING, IDLE_HALTED };

/* What one CPU publishes. Every field is read by other CPUs without a lock: each is a hint
 * that may be a moment old, and no decision made from it can lose or double a thread. */
struct balance_cpu {
	/* threads here that want the CPU: the running one (not the idle thread), the ready
	 * ones, and those in its incoming queue. Raised by whoever queues a thread here (any
	 * CPU), lowered by the owner when one blocks, exits or leaves. */
	uint32_t load;
	/* ready threads here that may run elsewhere (their mask has another CPU): the owner's */
	uint32_t movable;
	int idle_state; /* IDLE_*: the owner's */
	/* a thief's request for a thread: 0, or 1 + the asking CPU. One at a time: a CPU
	 * asks only when the slot is free; the owner empties it when it answers. */
	uint32_t steal_ask;
} __aligned(64); /* one cache line each: the owner writes it at every switch */

static inline uint32_t balance_load(const struct balance_cpu *c)
{
	return __atomic_load_n(&c->load, __ATOMIC_RELAXED);
}

static inline void balance_load_add(struct balance_cpu *c, int d)
{
	__atomic_add_fetch(&c->load, (uint32_t)d, __ATOMIC_RELAXED);
}

static inline int balance_idle_state(const struct balance_cpu *c)
{
	return __atomic_load_n(&c->idle_state, __ATOMIC_SEQ_CST);
}

/* The least loaded CPU in `mask` (of the first n); a tie goes to `prefer` when it is one
 * of the least loaded, else to the lowest number. -1 when mask has none of them. */
int balance_least_loaded(const struct balance_cpu *c, unsigned n, uint64_t mask, unsigned prefer);

/* Where a thread that may run on `mask` and last ran on `last` runs when woken (the rule:
 * sched/README.md). In order: its last CPU if that one polls (no IPI, warm cache); any
 * other CPU that polls (no IPI, runs at once); its last CPU if idle at all (halted: an
 * IPI, but a warm cache); any idle CPU (an IPI either way, and it runs at once); else, all
 * being busy, its last CPU unless another has at least 2 threads fewer. */
int balance_wake_cpu(const struct balance_cpu *c, unsigned n, uint64_t mask, unsigned last);

/* For CPU `self`: the CPU to ask for a thread (the busiest with a movable ready thread and
 * at least 2 threads more than self), or -1. */
int balance_victim(const struct balance_cpu *c, unsigned n, unsigned self);

/* For a busy CPU `self` at the end of a slice: a CPU with at least 2 threads fewer to give
 * one of its ready threads to (the least loaded), or -1. */
int balance_push_target(const struct balance_cpu *c, unsigned n, unsigned self);

/* The thief's side: asks `victim` for a thread. False when another thief's request is
 * still there (ask later). The victim's owner must then be told (an IPI unless it polls). */
bool balance_ask(struct balance_cpu *victim, unsigned thief);
/* The victim's side, by its owner: the CPU that asked (the request is gone), or -1. */
int balance_take_ask(struct balance_cpu *self);

/* A CPU's run queue: a FIFO that only its owner touches (sched.c: with interrupts off).
 * Nodes are embedded in threads. */
struct rq_node {
	struct rq_node *next, *prev;
	/* the CPUs the thread may run on; written by anyone (sched_setaffinity), atomically */
	uint64_t mask;
	/* it must run on the CPU it is queued on, once (sched.c: its timeout is armed in that
	 * CPU's timer heap): never taken for another CPU. Its thread's own. */
	bool stay;
	bool movable; /* counted in the owner's `movable` while queued */
};

struct runq {
	struct rq_node *head, *tail;
	unsigned n, nmovable;
	unsigned cpu;		  /* the owner */
	struct balance_cpu *pub; /* where nmovable is published */
};

static inline uint64_t rq_mask(const struct rq_node *t)
{
	return __atomic_load_n(&t->mask, __ATOMIC_RELAXED);
}

void runq_init(struct runq *q, unsigned cpu, struct balance_cpu *pub);
void runq_push(struct runq *q, struct rq_node *t);
/* the oldest, or NULL */
struct rq_node *runq_pop(struct runq *q);
void runq_remove(struct runq *q, struct rq_node *t);
/* Takes out the oldest thread that may run on CPU `to`, other than `skip` (the thread the
 * owner is running: it may sit in its own queue for a moment, see sched.c) and other than
 * those that must stay, or NULL. */
struct rq_node *runq_take_for(struct runq *q, unsigned to, const struct rq_node *skip);

#endif
