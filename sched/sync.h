/* Sleeping synchronisation without spinlocks: wait queues, mutexes, semaphores, condition
 * variables. Every wait takes a deadline (NO_DEADLINE for none) and returns -ETIMEDOUT
 * when it passes.
 *
 * A wait queue is a lock-free MPSC queue of waiter nodes. Waiters push themselves
 * (producers); a waker takes a token and, holding it, is the one consumer that pops nodes
 * and wakes them. A waker that finds the token taken only records its request; the holder
 * serves it before letting go. So no one ever spins on a vCPU the hypervisor preempted.
 * Waiters re-check their condition after queueing, so a wake is never lost (sched/README.md
 * has the argument). */
#ifndef SCHED_SYNC_H
#define SCHED_SYNC_H

#include "lib/compiler.h"
#include "lib/mpsc.h"

#define WAIT_NODES 4 /* per thread: the waits a thread may have outstanding at once */
#define WAKE_ALL UINT32_MAX

struct thread;

struct waitq;

struct wait_node {
	struct mpsc_node node; /* first: the queue hands back this pointer */
	struct thread *t;
	struct waitq *q; /* the queue it is in */
	int state;  /* WAITING, WOKEN, CANCELLED; atomic */
	int in_use; /* 1 from enter until the queue lets go of it; atomic */
	struct wait_node *keep;
};

struct waitq {
	struct mpsc waiters;
	/* nodes not yet let go of; counted before a node is queued, so that a waker seeing 0
	 * knows any waiter to come will re-check its condition after the waker changed it */
	uint32_t waiting;
	uint32_t pushing;  /* waiters between the two stores of their push */
	int token;	   /* held by the waker that consumes the queue */
	uint32_t requests; /* wake-ones asked for and not served yet */
	uint32_t wake_all; /* a wake-all asked for */
	uint32_t dirty;	   /* bumped when a waiter gives up its node */
};

void waitq_init(struct waitq *q);
/* Sleeps until done(arg) is true (done may have side effects: it is how semaphores take
 * their count), or until the deadline: 0 or -ETIMEDOUT. */
int waitq_wait(struct waitq *q, bool (*done)(void *arg), void *arg, uint64_t deadline);
/* Wakes up to n waiters (WAKE_ALL for all). Safe in interrupt context. */
void waitq_wake(struct waitq *q, uint32_t n);
/* The parts of a wait, for condition variables: queue first, then let go of something,
 * then sleep (0 when woken, -ETIMEDOUT), or leave when the condition came true meanwhile. */
struct wait_node *waitq_enter(struct waitq *q);
int waitq_sleep(struct waitq *q, struct wait_node *n, uint64_t deadline);
void waitq_leave(struct waitq *q, struct wait_node *n);

struct sem {
	int count;
	struct waitq q;
};
void sem_init(struct sem *s, int count);
int sem_down(struct sem *s, uint64_t deadline);
bool sem_trydown(struct sem *s);
void sem_up(struct sem *s);

struct mutex {
	struct thread *owner;
	struct waitq q;
};
void mutex_init(struct mutex *m);
/* a static mutex, ready before any code runs: static struct mutex m = MUTEX_INIT(m); */
#define MUTEX_INIT(m) {.owner = NULL, .q = {.waiters = MPSC_INIT((m).q.waiters)}}
int mutex_lock(struct mutex *m, uint64_t deadline);
bool mutex_trylock(struct mutex *m);
/* panics when the caller does not hold it */
void mutex_unlock(struct mutex *m);

struct cond {
	struct waitq q;
};
void cond_init(struct cond *c);
/* Releases m, sleeps until signalled or the deadline, takes m again (also on timeout).
 * Signal with m held, or a signal may come between the caller's test and the wait. */
int cond_wait(struct cond *c, struct mutex *m, uint64_t deadline);
void cond_signal(struct cond *c);
void cond_broadcast(struct cond *c);

/* Whether a wait queue may still hold one of t's nodes (a wait t gave up, not yet popped by
 * the queue's consumer). A thread must not be freed until this is false; it becomes false
 * soon, because the consumer re-drains when a node is given up. */
bool waitq_holds_nodes_of(struct thread *t);

/* Host tests only: called where a drain holds nodes, to make races there likely. */
extern void (*sync_pause)(void);

/* What sync.c needs from the scheduler (and a host test from its stand-in). */
struct thread *thread_self(void);
struct wait_node *thread_wait_nodes(struct thread *t);
const char *thread_name(const struct thread *t);
int sched_block(uint64_t deadline);
void sched_wake(struct thread *t);
/* lets other threads run for a moment (the wait-node shortage in waitq_enter) */
void sched_yield_briefly(void);
void sched_fail(const char *fmt, ...) __printf(1, 2) __noreturn;

#endif
