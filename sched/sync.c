/* Wait queues and the primitives on them. Pure logic over the scheduler's block/wake, so
 * that the host tests run it on real threads (sched/sync_test.c). */
#include "sched/sync.h"

#include "lib/errno.h"

#define NO_DEADLINE UINT64_MAX

enum { WAITING, WOKEN, CANCELLED };

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_SEQ_CST)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_SEQ_CST)

static bool cas(int *p, int from, int to)
{
	return __atomic_compare_exchange_n(p, &from, to, false, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

void waitq_init(struct waitq *q)
{
	mpsc_init(&q->waiters);
	q->token = 0;
	q->waiting = q->pushing = q->requests = q->wake_all = q->dirty = 0;
}

void (*sync_pause)(void);

/* n has left the queue for good: its thread may use it again */
static void release(struct waitq *q, struct wait_node *n)
{
	__atomic_sub_fetch(&q->waiting, 1, __ATOMIC_SEQ_CST);
	STORE(n->in_use, 0);
}

/* The consumer side, run by whoever holds the token: takes every queued node, wakes as
 * many as were asked for, lets go of nodes whose waiter gave up, and queues the rest again
 * in order. Requests that find no waiter are dropped (a waiter re-checks its condition
 * after queueing, so it cannot have missed the change), unless a waiter is half-way
 * through queueing itself: then they stay, and that waiter serves them once queued
 * (waitq_enter). Nothing here waits for another CPU. */
static void drain(struct waitq *q)
{
	while (__atomic_exchange_n(&q->token, 1, __ATOMIC_ACQUIRE) == 0) {
		uint32_t dirty = LOAD(q->dirty);
		uint32_t wake = __atomic_exchange_n(&q->requests, 0, __ATOMIC_SEQ_CST);
		bool all = __atomic_exchange_n(&q->wake_all, 0, __ATOMIC_SEQ_CST);
		struct wait_node *keep = NULL, **tail = &keep;
		struct mpsc_node *mn;

		while ((mn = mpsc_pop(&q->waiters))) {
			struct wait_node *n = (struct wait_node *)mn;
			struct thread *t = n->t;

			if ((all || wake) && cas(&n->state, WAITING, WOKEN)) {
				/* wake first: once n is released its thread may exit and be freed */
				sched_wake(t);
				release(q, n);
				if (!all)
					wake--;
			} else if (LOAD(n->state) != WAITING) {
				release(q, n); /* its waiter gave up on it */
			} else {
				n->keep = NULL;
				*tail = n;
				tail = &n->keep;
			}
		}
		if (unlikely(sync_pause))
			sync_pause(); /* tests: widen the window in which nodes are held here */
		for (struct wait_node *n = keep, *next; n; n = next) {
			next = n->keep;
			mpsc_push(&q->waiters, &n->node);
		}
		bool left = (wake || all) && LOAD(q->pushing);

		if (left) {
			__atomic_add_fetch(&q->requests, wake, __ATOMIC_SEQ_CST);
			if (all)
				STORE(q->wake_all, 1);
		}
		/* An exchange, a full barrier, not a plain release store: the loads below must
		 * not pass it. A waiter that cancels (dirty++) or a waker that asks (requests++)
		 * and then finds the token still taken counts on the holder to see its change
		 * here; with the store still in this CPU's store buffer, both saw the other's
		 * old value, and the change was lost: a cancelled node left in a queue whose
		 * owner then went (a semaphore on a stack: the next drain of it read a dead
		 * frame; make bench's pipe ping-pong across CPUs, 2 of 6 runs), or a wake never
		 * served (a waiter with no deadline sleeps for ever). */
		__atomic_exchange_n(&q->token, 0, __ATOMIC_SEQ_CST);
		/* again if a waiter gave up meanwhile or new requests came; not for requests
		 * left to a waiter still pushing (it comes back for them once done) */
		if (LOAD(q->dirty) != dirty)
			continue;
		if (!LOAD(q->requests) && !LOAD(q->wake_all))
			break;
		if (left && LOAD(q->pushing))
			break;
	}
}

/* A free wait node of this thread. Nodes of waits it gave up stay in their queues until a
 * drain takes them out; if all are there, drain those queues (or let their current drainer
 * get on with it) and try again. */
static struct wait_node *free_node(struct thread *self)
{
	struct wait_node *nodes = thread_wait_nodes(self);

	for (long tries = 0; tries < 1000000; tries++) {
		for (int i = 0; i < WAIT_NODES; i++)
			if (cas(&nodes[i].in_use, 0, 1))
				return &nodes[i];
		for (int i = 0; i < WAIT_NODES; i++)
			if (LOAD(nodes[i].state) != WAITING && LOAD(nodes[i].in_use))
				drain(nodes[i].q);
		if (tries)
			sched_yield_briefly();
	}
	sched_fail("thread %s: its %d wait nodes stay in queues nobody drains", thread_name(self),
		   WAIT_NODES);
}

struct wait_node *waitq_enter(struct waitq *q)
{
	struct thread *self = thread_self();
	struct wait_node *n = free_node(self);

	n->t = self;
	n->q = q;
	STORE(n->state, WAITING);
	__atomic_add_fetch(&q->waiting, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&q->pushing, 1, __ATOMIC_SEQ_CST);
	mpsc_push(&q->waiters, &n->node);
	__atomic_sub_fetch(&q->pushing, 1, __ATOMIC_SEQ_CST);
	/* a waker may have left its request to us while we were queueing */
	if (LOAD(q->requests) || LOAD(q->wake_all))
		drain(q);
	return n;
}

bool waitq_holds_nodes_of(struct thread *t)
{
	struct wait_node *nodes = thread_wait_nodes(t);

	for (int i = 0; i < WAIT_NODES; i++)
		if (LOAD(nodes[i].in_use))
			return true;
	return false;
}

void waitq_leave(struct waitq *q, struct wait_node *n)
{
	if (cas(&n->state, WAITING, CANCELLED)) {
		__atomic_add_fetch(&q->dirty, 1, __ATOMIC_SEQ_CST);
		drain(q); /* lets go of the node now if nobody else holds the queue */
	}
}

int waitq_sleep(struct waitq *q, struct wait_node *n, uint64_t deadline)
{
	for (;;) {
		if (LOAD(n->state) == WOKEN)
			return 0;
		int rc = sched_block(deadline);

		if (LOAD(n->state) == WOKEN)
			return 0;
		if (rc == -ETIMEDOUT) {
			if (!cas(&n->state, WAITING, CANCELLED))
				return 0; /* woken as the deadline passed */
			__atomic_add_fetch(&q->dirty, 1, __ATOMIC_SEQ_CST);
			drain(q);
			return -ETIMEDOUT;
		}
	}
}

int waitq_wait(struct waitq *q, bool (*done)(void *arg), void *arg, uint64_t deadline)
{
	for (;;) {
		if (done(arg))
			return 0;
		struct wait_node *n = waitq_enter(q);

		if (done(arg)) {
			waitq_leave(q, n);
			return 0;
		}
		if (waitq_sleep(q, n, deadline) == -ETIMEDOUT)
			return done(arg) ? 0 : -ETIMEDOUT;
	}
}

void waitq_wake(struct waitq *q, uint32_t n)
{
	/* Nobody waits, and anyone about to will re-check the condition the caller changed
	 * before this. (The queue itself cannot tell: a drain may hold its nodes.) */
	if (!LOAD(q->waiting))
		return;
	if (n == WAKE_ALL)
		STORE(q->wake_all, 1);
	else
		__atomic_add_fetch(&q->requests, n, __ATOMIC_SEQ_CST);
	drain(q);
}

void sem_init(struct sem *s, int count)
{
	s->count = count;
	waitq_init(&s->q);
}

bool sem_trydown(struct sem *s)
{
	int c = LOAD(s->count);

	while (c > 0)
		if (__atomic_compare_exchange_n(&s->count, &c, c - 1, true, __ATOMIC_SEQ_CST,
						__ATOMIC_SEQ_CST))
			return true;
	return false;
}

static bool sem_try(void *s)
{
	return sem_trydown(s);
}

int sem_down(struct sem *s, uint64_t deadline)
{
	return waitq_wait(&s->q, sem_try, s, deadline);
}

void sem_up(struct sem *s)
{
	__atomic_add_fetch(&s->count, 1, __ATOMIC_SEQ_CST);
	waitq_wake(&s->q, 1);
}

void mutex_init(struct mutex *m)
{
	m->owner = NULL;
	waitq_init(&m->q);
}

bool mutex_trylock(struct mutex *m)
{
	struct thread *none = NULL;

	return __atomic_compare_exchange_n(&m->owner, &none, thread_self(), false,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static bool mutex_try(void *m)
{
	return mutex_trylock(m);
}

int mutex_lock(struct mutex *m, uint64_t deadline)
{
	if (LOAD(m->owner) == thread_self())
		sched_fail("mutex %p: thread %s locks it again (deadlock)", (void *)m,
			   thread_name(thread_self()));
	return waitq_wait(&m->q, mutex_try, m, deadline);
}

void mutex_unlock(struct mutex *m)
{
	struct thread *self = thread_self();

	if (LOAD(m->owner) != self)
		sched_fail("mutex %p: thread %s unlocks it without holding it", (void *)m,
			   thread_name(self));
	STORE(m->owner, NULL);
	waitq_wake(&m->q, 1);
}

void cond_init(struct cond *c)
{
	waitq_init(&c->q);
}

int cond_wait(struct cond *c, struct mutex *m, uint64_t deadline)
{
	struct wait_node *n = waitq_enter(&c->q);

	mutex_unlock(m);
	int rc = waitq_sleep(&c->q, n, deadline);

	mutex_lock(m, NO_DEADLINE);
	return rc;
}

void cond_signal(struct cond *c)
{
	waitq_wake(&c->q, 1);
}

void cond_broadcast(struct cond *c)
{
	waitq_wake(&c->q, WAKE_ALL);
}
