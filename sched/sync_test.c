/* sync.c on real threads: pthreads stand in for the scheduler's block and wake. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/errno.h"
#include "sched/sync.h"
#include "tools/unit/unit.h"

#define NO_DEADLINE UINT64_MAX

struct thread {
	pthread_mutex_t m;
	pthread_cond_t c;
	int wake;
	struct wait_node nodes[WAIT_NODES];
	char name[16];
};

static __thread struct thread *self;

struct thread *thread_self(void)
{
	return self;
}

struct wait_node *thread_wait_nodes(struct thread *t)
{
	return t->nodes;
}

const char *thread_name(const struct thread *t)
{
	return t->name;
}

void sched_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	abort();
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int sched_block(uint64_t deadline)
{
	int rc = 0;

	pthread_mutex_lock(&self->m);
	while (!self->wake && !rc) {
		if (deadline == NO_DEADLINE) {
			pthread_cond_wait(&self->c, &self->m);
		} else {
			struct timespec ts = { deadline / 1000000000ull, deadline % 1000000000ull };

			if (pthread_cond_timedwait(&self->c, &self->m, &ts) && !self->wake)
				rc = -ETIMEDOUT;
		}
	}
	self->wake = 0;
	pthread_mutex_unlock(&self->m);
	return rc;
}

void sched_yield_briefly(void)
{
	sched_yield();
}

void sched_wake(struct thread *t)
{
	pthread_mutex_lock(&t->m);
	t->wake = 1;
	pthread_cond_signal(&t->c);
	pthread_mutex_unlock(&t->m);
}

/* yields now and then inside drain(): makes the narrow races there happen in a test run */
static void pause_sometimes(void)
{
	static __thread unsigned n;

	if (++n % 4 == 0)
		sched_yield();
}

static struct thread *new_thread(const char *name)
{
	struct thread *t = calloc(1, sizeof(*t));
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_mutex_init(&t->m, NULL);
	pthread_cond_init(&t->c, &a);
	snprintf(t->name, sizeof(t->name), "%s", name);
	return t;
}

/* runs fn(arg) on n threads, each with its stand-in struct thread; checks they let go of
 * every wait node */
struct runner {
	void (*fn)(int id, void *arg);
	void *arg;
	int id;
	struct thread *t;
};

static void *trampoline(void *p)
{
	struct runner *r = p;

	self = r->t;
	r->fn(r->id, r->arg);
	return NULL;
}

static int run(int n, void (*fn)(int id, void *arg), void *arg)
{
	pthread_t pt[8];
	struct runner r[8];
	int held = 0;

	sync_pause = pause_sometimes;
	for (int i = 0; i < n; i++) {
		r[i] = (struct runner){ fn, arg, i, new_thread("worker") };
		pthread_create(&pt[i], NULL, trampoline, &r[i]);
	}
	for (int i = 0; i < n; i++)
		pthread_join(pt[i], NULL);
	sync_pause = NULL;
	for (int i = 0; i < n; i++) {
		held += waitq_holds_nodes_of(r[i].t);
		free(r[i].t);
	}
	return held;
}

/* run(), for tests elsewhere of code that waits on sync.c (common/devices_test.c) */
int sync_test_run(int n, void (*fn)(int id, void *arg), void *arg)
{
	return run(n, fn, arg);
}

#define SECS(n) (now_ns() + (n) * 1000000000ull)

static struct sem ping, pong;
static int trips_done, timeouts;

static void pingpong(int id, void *arg)
{
	int trips = *(int *)arg;

	for (int i = 0; i < trips; i++) {
		if (id == 0) {
			sem_up(&ping);
			if (sem_down(&pong, SECS(10))) {
				__atomic_add_fetch(&timeouts, 1, __ATOMIC_RELAXED);
				return;
			}
			trips_done++;
		} else if (sem_down(&ping, SECS(10)) == 0) {
			sem_up(&pong);
		} else {
			__atomic_add_fetch(&timeouts, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

TEST(sync_semaphore_pingpong_loses_no_wakeup)
{
	int trips = 50000;

	sem_init(&ping, 0);
	sem_init(&pong, 0);
	trips_done = timeouts = 0;
	CHECK_EQ(run(2, pingpong, &trips), 0);
	CHECK_EQ(timeouts, 0);
	CHECK_EQ(trips_done, trips);
}

static struct sem lock;
static long shared_counter;

static void sem_as_mutex(int id, void *arg)
{
	for (int i = 0; i < 20000; i++) {
		if (sem_down(&lock, SECS(10))) {
			__atomic_add_fetch(&timeouts, 1, __ATOMIC_RELAXED);
			return;
		}
		shared_counter++; /* under the semaphore: no data race */
		sem_up(&lock);
	}
}

TEST(sync_semaphore_excludes)
{
	sem_init(&lock, 1);
	shared_counter = timeouts = 0;
	CHECK_EQ(run(4, sem_as_mutex, NULL), 0);
	CHECK_EQ(timeouts, 0);
	CHECK_EQ(shared_counter, 80000);
	CHECK_EQ(lock.count, 1);
}

#define RING 16
static struct {
	struct mutex m;
	struct cond not_empty, not_full;
	long buf[RING];
	unsigned head, tail, produced_done;
	long sum;
} pc;

static void prodcons(int id, void *arg)
{
	const int items = 25000;

	for (int i = 0; i < items; i++) {
		mutex_lock(&pc.m, NO_DEADLINE);
		if (id < 2) { /* producers */
			while (pc.head - pc.tail == RING)
				cond_wait(&pc.not_full, &pc.m, NO_DEADLINE);
			pc.buf[pc.head++ % RING] = i;
			cond_signal(&pc.not_empty);
		} else { /* consumers */
			while (pc.head == pc.tail)
				cond_wait(&pc.not_empty, &pc.m, NO_DEADLINE);
			pc.sum += pc.buf[pc.tail++ % RING];
			cond_signal(&pc.not_full);
		}
		mutex_unlock(&pc.m);
	}
}

TEST(sync_mutex_and_condvars_lose_nothing)
{
	mutex_init(&pc.m);
	cond_init(&pc.not_empty);
	cond_init(&pc.not_full);
	pc.head = pc.tail = 0;
	pc.sum = 0;
	CHECK_EQ(run(4, prodcons, NULL), 0);
	CHECK_EQ(pc.sum, 2L * 25000 * 24999 / 2);
	CHECK(pc.m.owner == NULL);
}

static struct sem tsem;
static long downs, ups;

/* short random deadlines against occasional ups: waits time out, wake, and race both */
static void churn(int id, void *arg)
{
	unsigned seed = id * 7919 + 1;

	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		if (seed % 4 == 0) {
			sem_up(&tsem);
			__atomic_add_fetch(&ups, 1, __ATOMIC_RELAXED);
		} else if (sem_down(&tsem, now_ns() + seed % 20000) == 0) {
			__atomic_add_fetch(&downs, 1, __ATOMIC_RELAXED);
		}
	}
}

TEST(sync_timeouts_release_their_nodes)
{
	sem_init(&tsem, 0);
	downs = ups = 0;
	CHECK_EQ(run(4, churn, NULL), 0); /* every node given back */
	CHECK(downs > 0 && ups > 0);
	CHECK_EQ(tsem.count, ups - downs); /* no unit lost or made up */
	CHECK_EQ(tsem.q.waiting, 0);
}
