/* balance.c: the decisions on made-up loads, then a simulated machine on pthreads where
 * CPUs run, block, wake, hand over and push threads through the same run queues, requests
 * and incoming MPSC queues as sched.c, while other threads wake threads and change their
 * masks (run under ASan/UBSan and under ThreadSanitizer). */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mpsc.h"
#include "sched/balance.h"
#include "tools/unit/unit.h"

static void set(struct balance_cpu *c, uint32_t load, int idle, uint32_t movable)
{
	c->load = load;
	c->idle_state = idle;
	c->movable = movable;
	c->steal_ask = 0;
}

TEST(balance_least_loaded_prefers_and_filters)
{
	struct balance_cpu c[4];

	set(&c[0], 2, IDLE_BUSY, 0);
	set(&c[1], 1, IDLE_BUSY, 0);
	set(&c[2], 1, IDLE_BUSY, 0);
	set(&c[3], 0, IDLE_HALTED, 0);
	CHECK_EQ(balance_least_loaded(c, 4, ~0ull, 0), 3);
	CHECK_EQ(balance_least_loaded(c, 3, ~0ull, 0), 1); /* a tie: the lowest number */
	CHECK_EQ(balance_least_loaded(c, 3, ~0ull, 2), 2); /* ... unless prefer is one */
	CHECK_EQ(balance_least_loaded(c, 4, CPU_BIT(0) | CPU_BIT(2), 3), 2);
	CHECK_EQ(balance_least_loaded(c, 4, CPU_BIT(0), 3), 0);
	CHECK_EQ(balance_least_loaded(c, 4, 0, 0), -1);
	CHECK_EQ(balance_least_loaded(c, 2, CPU_BIT(3), 0), -1); /* CPU 3 not among the 2 */
}

/* 2, 3 and 8 threads created one after another from a thread on CPU 0 (which counts): as
 * even as can be once the creator stops counting */
TEST(balance_placement_spreads_creations)
{
	unsigned counts[] = { 2, 3, 8, 9 };

	for (unsigned k = 0; k < ARRAY_SIZE(counts); k++) {
		for (unsigned n = 2; n <= 4; n++) {
			struct balance_cpu c[4];
			unsigned per[4] = { 0 };

			for (unsigned i = 0; i < n; i++)
				set(&c[i], i == 0, i ? IDLE_HALTED : IDLE_BUSY, 0);
			for (unsigned t = 0; t < counts[k]; t++) {
				int cpu = balance_least_loaded(c, n, ~0ull, 0);

				c[cpu].load++;
				per[cpu]++;
			}
			unsigned lo = per[0], hi = per[0];

			for (unsigned i = 1; i < n; i++) {
				lo = per[i] < lo ? per[i] : lo;
				hi = per[i] > hi ? per[i] : hi;
			}
			CHECK(hi - lo <= 1);
		}
	}
}

TEST(balance_wake_rule)
{
	struct balance_cpu c[4];

	/* the last CPU polls: there */
	set(&c[0], 1, IDLE_BUSY, 0);
	set(&c[1], 0, IDLE_POLLING, 0);
	set(&c[2], 0, IDLE_POLLING, 0);
	set(&c[3], 0, IDLE_HALTED, 0);
	CHECK_EQ(balance_wake_cpu(c, 4, ~0ull, 1), 1);
	/* the last one halted, another polls: the one that polls (no IPI) */
	CHECK_EQ(balance_wake_cpu(c, 4, ~0ull, 3), 1);
	/* ... the next after the last one, not the lowest */
	CHECK_EQ(balance_wake_cpu(c, 4, ~0ull, 1) == 1 && balance_wake_cpu(c, 4, ~0ull, 0) == 1,
		 1);
	c[1].idle_state = IDLE_HALTED;
	CHECK_EQ(balance_wake_cpu(c, 4, ~0ull, 0), 2);
	/* a polling CPU with a thread queued already is not idle */
	c[2].load = 1;
	/* nobody polls: the last one if idle, else an idle one */
	CHECK_EQ(balance_wake_cpu(c, 4, ~0ull, 3), 3);
	CHECK_EQ(balance_wake_cpu(c, 4, ~0ull, 0), 1);
	/* the mask rules out every idle CPU: busy ones; the last one unless 2 fewer elsewhere */
	c[0].load = 3;
	c[2].load = 2;
	CHECK_EQ(balance_wake_cpu(c, 4, CPU_BIT(0) | CPU_BIT(2), 0), 0);
	c[0].load = 4;
	CHECK_EQ(balance_wake_cpu(c, 4, CPU_BIT(0) | CPU_BIT(2), 0), 2);
	/* pinned: always there */
	CHECK_EQ(balance_wake_cpu(c, 4, CPU_BIT(0), 0), 0);
	CHECK_EQ(balance_wake_cpu(c, 4, CPU_BIT(0), 3), 0);
	/* a mask of CPUs that are not there: where it was */
	CHECK_EQ(balance_wake_cpu(c, 2, CPU_BIT(3), 1), 1);
}

TEST(balance_victim_and_push_target)
{
	struct balance_cpu c[3];

	set(&c[0], 3, IDLE_BUSY, 2);
	set(&c[1], 0, IDLE_POLLING, 0);
	set(&c[2], 2, IDLE_BUSY, 1);
	CHECK_EQ(balance_victim(c, 3, 1), 0);	    /* the busiest */
	c[0].movable = 0;			    /* only pinned threads wait there */
	CHECK_EQ(balance_victim(c, 3, 1), 2);
	c[2].load = 1;				    /* one thread running, none waiting */
	CHECK_EQ(balance_victim(c, 3, 1), -1);
	c[1].load = 1;
	c[0].load = 2;
	c[0].movable = 1;
	/* 2 against 1: moving one changes nothing */
	CHECK_EQ(balance_victim(c, 3, 1), -1);
	c[0].load = 3;
	CHECK_EQ(balance_victim(c, 3, 1), 0);
	CHECK_EQ(balance_push_target(c, 3, 0), 1);  /* 3 against 1 (the tie with cpu2: lowest) */
	CHECK_EQ(balance_push_target(c, 3, 1), -1);
	c[0].load = 2;
	CHECK_EQ(balance_push_target(c, 3, 0), -1);
}

TEST(balance_ask_one_at_a_time)
{
	struct balance_cpu v = { 0 };

	CHECK_EQ(balance_take_ask(&v), -1);
	CHECK(balance_ask(&v, 0));
	CHECK(!balance_ask(&v, 3));
	CHECK_EQ(balance_take_ask(&v), 0);
	CHECK_EQ(balance_take_ask(&v), -1);
	CHECK(balance_ask(&v, 3));
	CHECK_EQ(balance_take_ask(&v), 3);
}

struct qthread {
	struct rq_node rq;
	int id;
};

TEST(runq_fifo_remove_take)
{
	struct balance_cpu pub = { 0 };
	struct runq q;
	struct qthread t[5] = { 0 };

	runq_init(&q, 1, &pub);
	for (int i = 0; i < 5; i++) {
		t[i].id = i;
		t[i].rq.mask = i == 2 ? CPU_BIT(1) : ~0ull; /* t2 pinned to the owner */
		runq_push(&q, &t[i].rq);
	}
	CHECK_EQ(q.n, 5);
	CHECK_EQ(pub.movable, 4);
	runq_remove(&q, &t[3].rq);
	CHECK_EQ(pub.movable, 3);
	/* the oldest that may go, never the one skipped */
	CHECK(runq_take_for(&q, 0, &t[0].rq) == &t[1].rq);
	CHECK(runq_take_for(&q, 1, NULL) == NULL); /* to the owner itself: no */
	t[4].rq.mask = CPU_BIT(1) | CPU_BIT(3);
	CHECK(runq_take_for(&q, 2, &t[0].rq) == NULL); /* t2 pinned, t4 not allowed on 2 */
	CHECK(runq_take_for(&q, 3, &t[0].rq) == &t[4].rq);
	CHECK_EQ(q.n, 2);
	CHECK_EQ(pub.movable, 1); /* t0 */
	CHECK(runq_pop(&q) == &t[0].rq);
	CHECK(runq_pop(&q) == &t[2].rq);
	CHECK(runq_pop(&q) == NULL);
	CHECK_EQ(pub.movable, 0);
	CHECK(q.head == NULL && q.tail == NULL);
	/* one that must stay (its timeout is armed here) is neither counted nor taken */
	t[1].rq.mask = ~0ull;
	t[1].rq.stay = true;
	runq_push(&q, &t[1].rq);
	CHECK_EQ(pub.movable, 0);
	CHECK(runq_take_for(&q, 0, NULL) == NULL);
	CHECK(runq_pop(&q) == &t[1].rq);
}

/* ---- a machine on pthreads: NCPU CPUs, each the one owner of its run queue, taking
 * threads that others queue for it from its incoming queue; wakers wake blocked threads
 * onto the CPU the wake rule picks; a meddler changes the masks of the unpinned ones. */

#define NCPU	 4
#define NTHREADS 48
#define PINNED	 8 /* threads 0..7 (when asked for): pinned, thread i to CPU i % NCPU */
#define WAKERS	 2

struct sim_thread {
	struct rq_node rq;
	struct mpsc_node node;
	int id, cpu; /* cpu: where it is queued or running; changed by whoever moves it */
	bool pinned;
	uint64_t runs;
	int wrong_cpu; /* ran where its mask did not allow it (pinned ones: never) */
};

static struct sim {
	/* the run's shape */
	int block_pct; /* how often a thread that ran blocks (then a waker wakes it) */
	int push_every; /* rounds between "slice ends" that may push (0: never) */
	struct balance_cpu pub[NCPU];
	struct runq rq[NCPU];
	struct mpsc incoming[NCPU];
	struct sim_thread t[NTHREADS];
	/* blocked threads: a plain stack under a mutex (the test's own scaffolding) */
	pthread_mutex_t blocked_lock;
	struct sim_thread *blocked[NTHREADS];
	int nblocked;
	int stop;
	uint64_t cpu_runs[NCPU]; /* atomic */
	uint64_t handed, pushed, asked, moved_at_pop, woken;
} S;

static struct sim_thread *of(struct rq_node *n)
{
	return container_of(n, struct sim_thread, rq);
}

/* puts t on cpu's incoming queue, counted in its load (sched.c: enqueue) */
static void queue_on(struct sim_thread *t, int cpu)
{
	t->cpu = cpu;
	balance_load_add(&S.pub[cpu], 1);
	mpsc_push(&S.incoming[cpu], &t->node);
}

/* the owner gives a ready thread to another CPU (a handover, a push, a mask it broke) */
static void send_away(int self, struct sim_thread *t, int to)
{
	balance_load_add(&S.pub[self], -1);
	queue_on(t, to);
}

static void drain(int self)
{
	struct mpsc_node *n;

	while ((n = mpsc_pop(&S.incoming[self])))
		runq_push(&S.rq[self], &container_of(n, struct sim_thread, node)->rq);
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 33;
}

static bool stopped(void)
{
	return __atomic_load_n(&S.stop, __ATOMIC_SEQ_CST);
}

static void *cpu_main(void *arg)
{
	int self = (int)(long)arg;
	uint64_t seed = self + 1;
	struct runq *q = &S.rq[self];

	for (unsigned round = 0; !stopped(); round++) {
		drain(self);
		int thief = balance_take_ask(&S.pub[self]);

		if (thief >= 0) {
			struct rq_node *n = runq_take_for(q, thief, NULL);

			if (n) {
				send_away(self, of(n), thief);
				__atomic_add_fetch(&S.handed, 1, __ATOMIC_RELAXED);
			}
		}
		if (S.push_every && round % S.push_every == 0) { /* "a slice ended" */
			int to = balance_push_target(S.pub, NCPU, self);
			struct rq_node *n = to >= 0 ? runq_take_for(q, to, NULL) : NULL;

			if (n) {
				send_away(self, of(n), to);
				__atomic_add_fetch(&S.pushed, 1, __ATOMIC_RELAXED);
			}
		}
		struct rq_node *n = runq_pop(q);

		if (!n) {
			__atomic_store_n(&S.pub[self].idle_state, IDLE_POLLING, __ATOMIC_SEQ_CST);
			int v = balance_victim(S.pub, NCPU, self);

			if (v >= 0 && balance_ask(&S.pub[v], self))
				__atomic_add_fetch(&S.asked, 1, __ATOMIC_RELAXED);
			sched_yield();
			continue;
		}
		__atomic_store_n(&S.pub[self].idle_state, IDLE_BUSY, __ATOMIC_SEQ_CST);
		struct sim_thread *t = of(n);
		uint64_t mask = rq_mask(n);

		if (!(mask & CPU_BIT(self))) { /* its mask changed while it waited here */
			send_away(self, t, balance_least_loaded(S.pub, NCPU, mask, self));
			__atomic_add_fetch(&S.moved_at_pop, 1, __ATOMIC_RELAXED);
			continue;
		}
		/* it "runs" */
		t->runs++;
		__atomic_add_fetch(&S.cpu_runs[self], 1, __ATOMIC_RELAXED);
		t->wrong_cpu += t->cpu != self || (t->pinned && self != t->id % NCPU);
		if ((int)(rnd(&seed) % 100) < S.block_pct) { /* blocks: leaves the CPU's load */
			balance_load_add(&S.pub[self], -1);
			pthread_mutex_lock(&S.blocked_lock);
			S.blocked[S.nblocked++] = t;
			pthread_mutex_unlock(&S.blocked_lock);
		} else { /* preempted: back in the queue */
			runq_push(q, n);
		}
	}
	return NULL;
}

static void *waker_main(void *arg)
{
	uint64_t seed = (uint64_t)(long)arg * 7919 + 3;

	while (!stopped()) {
		struct sim_thread *t = NULL;

		pthread_mutex_lock(&S.blocked_lock);
		if (S.nblocked) {
			unsigned i = rnd(&seed) % S.nblocked;

			t = S.blocked[i];
			S.blocked[i] = S.blocked[--S.nblocked];
		}
		pthread_mutex_unlock(&S.blocked_lock);
		if (!t) {
			sched_yield();
			continue;
		}
		queue_on(t, balance_wake_cpu(S.pub, NCPU, rq_mask(&t->rq), t->cpu));
		__atomic_add_fetch(&S.woken, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *meddler_main(void *arg)
{
	uint64_t seed = 99;

	while (!stopped()) {
		struct sim_thread *t = &S.t[PINNED + rnd(&seed) % (NTHREADS - PINNED)];
		uint64_t m = rnd(&seed) % ((1u << NCPU) - 1) + 1; /* never empty */

		__atomic_store_n(&t->rq.mask, rnd(&seed) % 2 ? m : ~0ull, __ATOMIC_RELAXED);
		sched_yield();
	}
	return NULL;
}

static uint64_t min_cpu_runs(void)
{
	uint64_t m = UINT64_MAX;

	for (int c = 0; c < NCPU; c++) {
		uint64_t r = __atomic_load_n(&S.cpu_runs[c], __ATOMIC_RELAXED);

		m = r < m ? r : m;
	}
	return m;
}

/* Runs the machine until every CPU ran `runs` threads (or 20 s passed), with every thread
 * first queued on CPU 0 (pinned ones, when there are, on theirs); then checks, all quiet,
 * that every thread is in exactly one place and each CPU's load counts what it holds. */
static void run_machine(bool pinned, bool wakers, bool meddler, uint64_t runs)
{
	pthread_t cpu[NCPU], waker[WAKERS], med;
	int block_pct = S.block_pct, push_every = S.push_every;

	memset(&S, 0, sizeof(S));
	S.block_pct = block_pct;
	S.push_every = push_every;
	pthread_mutex_init(&S.blocked_lock, NULL);
	for (int c = 0; c < NCPU; c++) {
		mpsc_init(&S.incoming[c]);
		runq_init(&S.rq[c], c, &S.pub[c]);
	}
	for (int i = 0; i < NTHREADS; i++) {
		struct sim_thread *t = &S.t[i];

		t->id = i;
		t->pinned = pinned && i < PINNED;
		t->rq.mask = t->pinned ? CPU_BIT(i % NCPU) : ~0ull;
		queue_on(t, t->pinned ? i % NCPU : 0);
	}
	for (long c = 0; c < NCPU; c++)
		pthread_create(&cpu[c], NULL, cpu_main, (void *)c);
	for (long w = 0; wakers && w < WAKERS; w++)
		pthread_create(&waker[w], NULL, waker_main, (void *)w);
	if (meddler)
		pthread_create(&med, NULL, meddler_main, NULL);
	for (int ms = 0; ms < 20000 && min_cpu_runs() < runs; ms++) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&S.stop, 1, __ATOMIC_SEQ_CST);
	for (int c = 0; c < NCPU; c++)
		pthread_join(cpu[c], NULL);
	for (int w = 0; wakers && w < WAKERS; w++)
		pthread_join(waker[w], NULL);
	if (meddler)
		pthread_join(med, NULL);

	int seen[NTHREADS] = { 0 }, wrong = 0;

	for (int c = 0; c < NCPU; c++) {
		drain(c);
		CHECK_EQ(S.pub[c].load, S.rq[c].n);
		unsigned movable = 0;

		for (struct rq_node *n = S.rq[c].head; n; n = n->next) {
			seen[of(n)->id]++;
			CHECK_EQ(of(n)->cpu, c);
			movable += n->movable;
		}
		CHECK_EQ(S.rq[c].nmovable, movable);
		CHECK_EQ(S.pub[c].movable, movable);
		CHECK(S.cpu_runs[c] >= runs); /* every CPU got work */
	}
	for (int i = 0; i < S.nblocked; i++)
		seen[S.blocked[i]->id]++;
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_EQ(seen[i], 1);
		wrong += S.t[i].wrong_cpu;
	}
	CHECK_EQ(wrong, 0);
	if (getenv("BALANCE_VERBOSE") || unit_failures)
		printf("  balance machine: runs per CPU %lu %lu %lu %lu; %lu woken, %lu asked, %lu "
		       "handed over, %lu pushed, %lu moved at pop\n",
		       (unsigned long)S.cpu_runs[0], (unsigned long)S.cpu_runs[1],
		       (unsigned long)S.cpu_runs[2], (unsigned long)S.cpu_runs[3],
		       (unsigned long)S.woken, (unsigned long)S.asked, (unsigned long)S.handed,
		       (unsigned long)S.pushed, (unsigned long)S.moved_at_pop);
}

/* Every thread starts on CPU 0 and none blocks, and busy CPUs never push: the other CPUs
 * get work only by asking CPU 0 for it. */
TEST(balance_machine_idle_cpus_steal)
{
	S.block_pct = 0;
	S.push_every = 0;
	run_machine(false, false, false, 1000);
	CHECK(S.asked > 0 && S.handed >= NCPU - 1);
}

/* ... nor does any CPU ask, when busy CPUs push at slice ends */
TEST(balance_machine_busy_cpus_push)
{
	S.block_pct = 0;
	S.push_every = 16;
	run_machine(false, false, false, 1000);
	CHECK(S.pushed >= NCPU - 1);
}

/* Everything at once: pinned threads, blocking and waking by the wake rule, stealing,
 * pushing, masks changed under it all. */
TEST(balance_machine_loses_no_thread)
{
	S.block_pct = 25;
	S.push_every = 64;
	run_machine(true, true, true, 50000);
	CHECK(S.woken > 0);
	for (int i = 0; i < PINNED; i++)
		CHECK(S.t[i].runs > 0); /* every CPU ran its pinned threads */
}
