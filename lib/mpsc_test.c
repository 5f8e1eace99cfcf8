#include <pthread.h>
#include <stdlib.h>

#include "lib/mpsc.h"
#include "tools/unit/unit.h"

struct item {
	struct mpsc_node node; /* first: the queue hands back this pointer */
	int producer, seq;
};

TEST(mpsc_single_thread_fifo)
{
	struct mpsc q;
	struct item it[5];

	mpsc_init(&q);
	CHECK(mpsc_pop(&q) == NULL);
	CHECK(!mpsc_pending(&q));
	for (int i = 0; i < 5; i++) {
		it[i].seq = i;
		mpsc_push(&q, &it[i].node);
	}
	CHECK(mpsc_pending(&q));
	for (int i = 0; i < 5; i++) {
		struct item *x = (struct item *)mpsc_pop(&q);

		CHECK(x && x->seq == i);
	}
	CHECK(mpsc_pop(&q) == NULL);
	mpsc_push(&q, &it[0].node); /* reuse after draining: the stub cycles through */
	CHECK((struct item *)mpsc_pop(&q) == &it[0]);
	CHECK(mpsc_pop(&q) == NULL);
}

#define PRODUCERS 4
#define PER 200000
static struct mpsc stress_q;
static struct item *items;

static void *producer(void *arg)
{
	int p = (int)(long)arg;

	for (int i = 0; i < PER; i++) {
		struct item *x = &items[p * PER + i];

		x->producer = p;
		x->seq = i;
		mpsc_push(&stress_q, &x->node);
	}
	return NULL;
}

TEST(mpsc_stress_four_producers_one_consumer)
{
	pthread_t t[PRODUCERS];
	int next[PRODUCERS] = { 0 }, got = 0, order_bad = 0;
	long empty_polls = 0;

	items = calloc(PRODUCERS * PER, sizeof(*items));
	mpsc_init(&stress_q);
	for (long p = 0; p < PRODUCERS; p++)
		pthread_create(&t[p], NULL, producer, (void *)p);
	while (got < PRODUCERS * PER) {
		struct item *x = (struct item *)mpsc_pop(&stress_q);

		if (!x) {
			empty_polls++;
			continue;
		}
		order_bad += x->seq != next[x->producer];
		next[x->producer] = x->seq + 1;
		got++;
	}
	for (int p = 0; p < PRODUCERS; p++)
		pthread_join(t[p], NULL);
	CHECK_EQ(order_bad, 0); /* nothing lost, duplicated or reordered per producer */
	for (int p = 0; p < PRODUCERS; p++)
		CHECK_EQ(next[p], PER);
	CHECK(mpsc_pop(&stress_q) == NULL);
	free(items);
}
