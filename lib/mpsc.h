/* A lock-free multi-producer single-consumer queue (intrusive; Dmitry Vyukov's design):
 * producers never wait for each other or for the consumer, one xchg each. Used wherever
 * other CPUs hand work to one owner: remote wakeups into a CPU's run queue, waiters into a
 * wait queue. FIFO per producer.
 *
 * A push that has swapped itself in but not yet linked (two stores apart) makes the queue
 * look empty to the consumer for that moment: mpsc_pop() then returns NULL although a node
 * is coming. Every user must either be told again (the pusher sends its IPI or re-checks
 * its condition after pushing) or poll again. */
#ifndef LIB_MPSC_H
#define LIB_MPSC_H

#include "lib/compiler.h"

struct mpsc_node {
	struct mpsc_node *next;
};

struct mpsc {
	struct mpsc_node *head; /* producers swap themselves in here */
	struct mpsc_node *tail; /* the consumer takes from here */
	struct mpsc_node stub;
};

/* a static one's initializer: MPSC_INIT(name) where `name` is the queue itself */
#define MPSC_INIT(q) {.head = &(q).stub, .tail = &(q).stub, .stub = {NULL}}

static inline void mpsc_init(struct mpsc *q)
{
	q->stub.next = NULL;
	q->head = q->tail = &q->stub;
}

static inline void mpsc_push(struct mpsc *q, struct mpsc_node *n)
{
	__atomic_store_n(&n->next, NULL, __ATOMIC_RELAXED);
	struct mpsc_node *prev = __atomic_exchange_n(&q->head, n, __ATOMIC_ACQ_REL);

	__atomic_store_n(&prev->next, n, __ATOMIC_RELEASE);
}

/* The oldest node, or NULL when empty (or a push is half done: see above). Consumer only. */
static inline struct mpsc_node *mpsc_pop(struct mpsc *q)
{
	struct mpsc_node *tail = q->tail;
	struct mpsc_node *next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);

	if (tail == &q->stub) {
		if (!next)
			return NULL;
		q->tail = tail = next;
		next = __atomic_load_n(&next->next, __ATOMIC_ACQUIRE);
	}
	if (next) {
		q->tail = next;
		return tail;
	}
	if (tail != __atomic_load_n(&q->head, __ATOMIC_ACQUIRE))
		return NULL; /* a producer is between its two stores */
	/* tail is the last node: put the stub behind it so tail can be handed out */
	mpsc_push(q, &q->stub);
	next = __atomic_load_n(&tail->next, __ATOMIC_ACQUIRE);
	if (next) {
		q->tail = next;
		return tail;
	}
	return NULL;
}

/* Whether anything is (or is about to be) queued. Any CPU; a hint, not a promise. */
static inline bool mpsc_pending(struct mpsc *q)
{
	return __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) != q->tail ||
	       __atomic_load_n(&q->tail->next, __ATOMIC_ACQUIRE) != NULL;
}

#endif
