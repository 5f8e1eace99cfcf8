/* Placement and balancing decisions, and the per-CPU run queue (balance.h). Pure code: the
 * host tests run it on pthreads under ThreadSanitizer (sched/balance_test.c). */
#include "sched/balance.h"

static bool idle(const struct balance_cpu *c)
{
	return balance_load(c) == 0;
}

static bool polling(const struct balance_cpu *c)
{
	return balance_idle_state(c) == IDLE_POLLING && idle(c);
}

int balance_least_loaded(const struct balance_cpu *c, unsigned n, uint64_t mask, unsigned prefer)
{
	int best = -1;
	uint32_t best_load = UINT32_MAX;

	for (unsigned i = 0; i < n && i < BALANCE_MAX_CPUS; i++) {
		if (!(mask & CPU_BIT(i)))
			continue;
		uint32_t l = balance_load(&c[i]);

		if (l < best_load || (l == best_load && i == prefer)) {
			best = (int)i;
			best_load = l;
		}
	}
	return best;
}

/* the first CPU in mask, from `from` on (wrapping), that satisfies ok(); -1 when none */
static int first_from(const struct balance_cpu *c, unsigned n, uint64_t mask, unsigned from,
		      bool (*ok)(const struct balance_cpu *))
{
	for (unsigned k = 0; k < n; k++) {
		unsigned i = (from + k) % n;

		if ((mask & CPU_BIT(i)) && ok(&c[i]))
			return (int)i;
	}
	return -1;
}

int balance_wake_cpu(const struct balance_cpu *c, unsigned n, uint64_t mask, unsigned last)
{
	if (n > BALANCE_MAX_CPUS)
		n = BALANCE_MAX_CPUS;
	mask &= n == BALANCE_MAX_CPUS ? ~0ull : CPU_BIT(n) - 1;
	bool last_ok = last < n && (mask & CPU_BIT(last));
	int i;

	if (!mask)
		return (int)last; /* nowhere it may run is online: stay (the caller's choice) */
	if (last_ok && polling(&c[last]))
		return (int)last;
	/* starting after `last`, so that threads from one CPU spread instead of all picking
	 * the lowest number */
	if ((i = first_from(c, n, mask, last + 1, polling)) >= 0)
		return i;
	if (last_ok && idle(&c[last]))
		return (int)last;
	if ((i = first_from(c, n, mask, last + 1, idle)) >= 0)
		return i;
	i = balance_least_loaded(c, n, mask, last);
	if (last_ok && balance_load(&c[last]) <= balance_load(&c[i]) + 1)
		return (int)last;
	return i;
}

int balance_victim(const struct balance_cpu *c, unsigned n, unsigned self)
{
	uint32_t mine = balance_load(&c[self]), most = 0;
	int victim = -1;

	for (unsigned i = 0; i < n && i < BALANCE_MAX_CPUS; i++) {
		uint32_t l = balance_load(&c[i]);

		if (i == self || l < mine + 2 || l <= most ||
		    !__atomic_load_n(&c[i].movable, __ATOMIC_RELAXED))
			continue;
		most = l;
		victim = (int)i;
	}
	return victim;
}

int balance_push_target(const struct balance_cpu *c, unsigned n, unsigned self)
{
	uint32_t mine = balance_load(&c[self]);
	int t = balance_least_loaded(c, n, ~CPU_BIT(self), self);

	return t >= 0 && balance_load(&c[t]) + 2 <= mine ? t : -1;
}

bool balance_ask(struct balance_cpu *victim, unsigned thief)
{
	uint32_t none = 0;

	return __atomic_compare_exchange_n(&victim->steal_ask, &none, thief + 1, false,
					   __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);
}

int balance_take_ask(struct balance_cpu *self)
{
	if (!__atomic_load_n(&self->steal_ask, __ATOMIC_RELAXED))
		return -1; /* the common case: no write to a line other CPUs read */
	return (int)__atomic_exchange_n(&self->steal_ask, 0, __ATOMIC_SEQ_CST) - 1;
}

/* ---- the run queue */

static void publish(struct runq *q)
{
	__atomic_store_n(&q->pub->movable, q->nmovable, __ATOMIC_RELAXED);
}

void runq_init(struct runq *q, unsigned cpu, struct balance_cpu *pub)
{
	q->head = q->tail = NULL;
	q->n = q->nmovable = 0;
	q->cpu = cpu;
	q->pub = pub;
	publish(q);
}

void runq_push(struct runq *q, struct rq_node *t)
{
	t->next = NULL;
	t->prev = q->tail;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
	q->n++;
	t->movable = !t->stay && (rq_mask(t) & ~CPU_BIT(q->cpu)) != 0;
	if (t->movable) {
		q->nmovable++;
		publish(q);
	}
}

void runq_remove(struct runq *q, struct rq_node *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		q->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		q->tail = t->prev;
	t->next = t->prev = NULL;
	q->n--;
	if (t->movable) {
		q->nmovable--;
		publish(q);
	}
}

struct rq_node *runq_pop(struct runq *q)
{
	struct rq_node *t = q->head;

	if (t)
		runq_remove(q, t);
	return t;
}

struct rq_node *runq_take_for(struct runq *q, unsigned to, const struct rq_node *skip)
{
	for (struct rq_node *t = q->head; t; t = t->next) {
		if (t != skip && !t->stay && to != q->cpu && (rq_mask(t) & CPU_BIT(to))) {
			runq_remove(q, t);
			return t;
		}
	}
	return NULL;
}
