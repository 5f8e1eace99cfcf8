#include <pthread.h>
#include <stdint.h>

#include "net/chan.h"
#include "tools/unit/unit.h"

TEST(chan_fill_and_drain)
{
	static struct chan c;
	static int v[CHAN_SIZE + 1];

	chan_init(&c);
	CHECK(chan_empty(&c));
	CHECK(chan_pop(&c) == NULL);
	for (int i = 0; i < CHAN_SIZE; i++)
		CHECK(chan_push(&c, &v[i]));
	CHECK(!chan_push(&c, &v[CHAN_SIZE])); /* full */
	for (int i = 0; i < CHAN_SIZE; i++)
		CHECK(chan_pop(&c) == &v[i]);
	CHECK(chan_empty(&c));
}

static struct chan shared;
#define ITEMS 200000

static void *producer(void *arg)
{
	for (uintptr_t i = 1; i <= ITEMS;)
		if (chan_push(&shared, (void *)i))
			i++;
	return NULL;
}

/* one producer thread, one consumer: every item once, in order */
TEST(chan_spsc_threads)
{
	pthread_t t;
	uintptr_t want = 1, bad = 0;

	chan_init(&shared);
	pthread_create(&t, NULL, producer, NULL);
	while (want <= ITEMS) {
		void *p = chan_pop(&shared);

		if (!p)
			continue;
		bad += (uintptr_t)p != want;
		want++;
	}
	pthread_join(t, NULL);
	CHECK_EQ(bad, 0);
	CHECK(chan_empty(&shared));
}
