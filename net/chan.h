/* A net channel (Van Jacobson): a lock-free single-producer single-consumer ring of
 * packets. The producer is a device's receive thread, the consumer the thread that owns
 * the flow; a full channel drops (the producer counts it). Pure: host-tested. */
#ifndef NET_CHAN_H
#define NET_CHAN_H

#include "lib/compiler.h"

#define CHAN_SIZE 256 /* a power of two */

struct chan {
	uint32_t head; /* the consumer's */
	uint8_t pad1[60];
	uint32_t tail; /* the producer's */
	uint8_t pad2[60];
	void *slot[CHAN_SIZE];
};

static inline void chan_init(struct chan *c)
{
	c->head = c->tail = 0;
}

/* producer: false when full */
static inline bool chan_push(struct chan *c, void *p)
{
	uint32_t t = c->tail;

	if (t - __atomic_load_n(&c->head, __ATOMIC_ACQUIRE) >= CHAN_SIZE)
		return false;
	c->slot[t & (CHAN_SIZE - 1)] = p;
	__atomic_store_n(&c->tail, t + 1, __ATOMIC_RELEASE);
	return true;
}

/* consumer: NULL when empty */
static inline void *chan_pop(struct chan *c)
{
	uint32_t h = c->head;

	if (h == __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE))
		return NULL;
	void *p = c->slot[h & (CHAN_SIZE - 1)];

	__atomic_store_n(&c->head, h + 1, __ATOMIC_RELEASE);
	return p;
}

static inline bool chan_empty(const struct chan *c)
{
	return __atomic_load_n(&c->head, __ATOMIC_ACQUIRE) ==
	       __atomic_load_n(&c->tail, __ATOMIC_ACQUIRE);
}

#endif
