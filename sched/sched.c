/* The scheduler. Per CPU: a run queue only that CPU touches (with interrupts off), an
 * incoming MPSC queue where other CPUs put the threads they wake or hand over, a timer
 * heap, and an idle thread that polls briefly before it halts. Threads move between CPUs
 * only through the incoming queues: when woken (the wake rule, balance.c), when an idle
 * CPU asks a busier one for a thread, when a busy CPU gives one away at a slice end, and
 * when their mask rules their CPU out. The cross-CPU operations are those queues, the
 * published loads and requests (balance.h) and the IPI that wakes a halted or busy CPU;
 * nothing takes a lock. */
#include "sched/sched.h"

#include <stdarg.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/percpu.h"
#include "common/console.h"
#include "common/hal.h"
#include "common/panic.h"
#include "lib/errno.h"
#include "lib/format.h"
#include "lib/spinlock.h"
#include "lib/string.h"
#include "lib/time.h"
#include "mm/mm.h"
#include "sched/thread.h"

#define SLICE_NS 10000000ULL /* preempt a thread that ran this long while others wait */
#define RETRY_NS 1000000ULL  /* a deferred preemption is tried again this much later */
#define POLL_START_NS 20000
#define POLL_MIN_NS 2000
/* The longest poll (and futex spin) by default, sched_poll_us= on the command line: about
 * 20 times what a halt and its wakeup cost a partner under nesting or TCG (an IPI, an exit
 * and a reschedule of the halted vCPU, each several µs), so a CPU never polls much longer
 * than the halt it avoids would have cost; 0 halts at once and never spins. */
#define POLL_MAX_NS 200000
/* An idle CPU that asked for a thread asks again after this long at the earliest;
 * doubled each time an ask brought nothing (the threads there may not run here), up to
 * a slice: by then the busy CPU's own slice end gives a thread away (push_balance). */
#define STEAL_RETRY_MIN_NS 100000ULL
#define STEAL_RETRY_MAX_NS SLICE_NS

_Static_assert(MAX_CPUS <= BALANCE_MAX_CPUS, "a CPU mask is one uint64_t");

struct sched_cpu {
	struct thread *current, *idle;
	struct runq rq;
	struct mpsc incoming;
	/* the thread just switched away from, to go to another CPU once its registers are
	 * saved (finish_switch): its mask no longer allows this one */
	struct thread *move_after;
	/* the thief's side: when it may ask again, how long it waits after an ask that
	 * brought nothing, and its steal count when it last asked */
	uint64_t steal_after, steal_retry, steals_at_ask;
	bool slice_armed;
	uint64_t slice_end, armed; /* armed: the deadline the platform timer holds (0: none) */
	struct timer **heap;
	unsigned nheap;
	uint64_t poll_ns;
	struct thread *switched_from;
	struct sched_stats st;
	/* the stuck-vCPU watchdog (check_cpus): when another CPU first put a thread on our
	 * incoming queue that we have not taken yet (clock_ns, 0: none); whether it was
	 * reported; when this CPU next looks at the others */
	uint64_t waiting_since;
	bool stuck_reported;
	uint64_t next_check;
};

static struct sched_cpu scpu[MAX_CPUS];
/* what each CPU publishes to the others: its load, its idle state, a steal request */
static struct balance_cpu pub[MAX_CPUS];
static struct thread main_thread;
static unsigned online;
static uint64_t stuck_ns = 10 * NSEC_PER_SEC;
static uint64_t poll_max_ns = POLL_MAX_NS;
static unsigned stuck_reports;

static bool work(struct sched_cpu *c);

static struct sched_cpu *me(void)
{
	return this_cpu()->sched;
}

static unsigned cpu_of(const struct sched_cpu *c)
{
	return (unsigned)(c - scpu);
}

static bool allowed(const struct thread *t, unsigned cpu)
{
	return rq_mask(&t->rq) & CPU_BIT(cpu);
}

static struct thread *of_rq(struct rq_node *n)
{
	return n ? container_of(n, struct thread, rq) : NULL;
}

void sched_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpanic(fmt, ap);
}

uint64_t clock_ns(void)
{
	preempt_disable();
	uint64_t t = hal->clock_ns();

	preempt_enable();
	return t;
}

uint64_t uptime_ns(void)
{
	return clock_ns() - hal_info.boot_ns;
}

uint64_t wallclock_ns(void)
{
	if (!hal->wallclock_ns)
		return 0;
	preempt_disable();
	uint64_t t = hal->wallclock_ns();

	preempt_enable();
	return t;
}

/* Not me()->current: a preemption between reading me() and its current may move the thread
 * to another CPU, and it would read the current thread of the CPU it left. */
struct thread *thread_self(void)
{
	return this_cpu_thread();
}

void thread_set_fs_base(uint64_t base)
{
	struct thread *t = thread_self();
	uint64_t on = irq_save();

	t->fs_base = base;
	arch_thread_state(t->fs_base, t->entry_stack);
	irq_restore(on);
}

void thread_set_space(struct mm_space *s)
{
	uint64_t on = irq_save();

	thread_self()->space = s;
	mm_space_switch(s);
	irq_restore(on);
}

struct mm_space *thread_space(const struct thread *t)
{
	return t->space;
}

uint64_t thread_fs_base(void)
{
	return thread_self()->fs_base;
}

uint64_t *thread_entry_stack_slot(void)
{
	return &thread_self()->entry_stack;
}

int thread_fpu_enable(void)
{
	struct thread *t = thread_self();

	if (t->fpu)
		return 0;
	void *a = kmalloc_aligned(FPU_AREA_SIZE, 16);

	if (!a)
		return -ENOMEM;
	arch_fpu_init_area(a);
	arch_fpu_restore(a);
	t->fpu = a;
	return 0;
}

void **thread_app(struct thread *t)
{
	return &t->app;
}

struct wait_node *thread_wait_nodes(struct thread *t)
{
	return t->wnodes;
}

const char *thread_name(const struct thread *t)
{
	return t->name;
}

unsigned thread_cpu(const struct thread *t)
{
	return READ_ONCE(t->cpu);
}

unsigned sched_cpus_online(void)
{
	return __atomic_load_n(&online, __ATOMIC_ACQUIRE);
}

uint64_t sched_online_mask(void)
{
	unsigned n = sched_cpus_online();

	return n >= 64 ? ~0ull : CPU_BIT(n) - 1;
}

uint64_t thread_affinity(const struct thread *t)
{
	return rq_mask(&t->rq) & sched_online_mask();
}

/* ---- CPU time: a sequence count around the writer (the thread's CPU, interrupts off) */

static void acct_write(struct thread *t, uint64_t cpu_ns, uint64_t start, bool running)
{
	__atomic_store_n(&t->acct_seq, t->acct_seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&t->cpu_ns, cpu_ns, __ATOMIC_RELAXED);
	__atomic_store_n(&t->run_start, start, __ATOMIC_RELAXED);
	__atomic_store_n(&t->running, running, __ATOMIC_RELAXED);
	__atomic_store_n(&t->acct_seq, t->acct_seq + 1, __ATOMIC_RELEASE);
}

static void acct_stop(struct thread *t, uint64_t now)
{
	acct_write(t, t->cpu_ns + (t->running && now > t->run_start ? now - t->run_start : 0), 0,
		   false);
}

static void acct_start(struct thread *t, uint64_t now)
{
	acct_write(t, t->cpu_ns, now, true);
}

uint64_t thread_cpu_ns(const struct thread *t)
{
	/* bounded: a writer is a few stores with interrupts off, but its vCPU may be
	 * preempted by the hypervisor in the middle; then the last complete figure will do */
	for (int i = 0; i < 1000; i++) {
		uint32_t s1 = __atomic_load_n(&t->acct_seq, __ATOMIC_ACQUIRE);
		uint64_t ns = __atomic_load_n(&t->cpu_ns, __ATOMIC_RELAXED);
		uint64_t start = __atomic_load_n(&t->run_start, __ATOMIC_RELAXED);
		bool running = __atomic_load_n(&t->running, __ATOMIC_RELAXED);

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(s1 & 1) && s1 == __atomic_load_n(&t->acct_seq, __ATOMIC_RELAXED)) {
			uint64_t now = running ? clock_ns() : 0;

			return ns + (running && now > start ? now - start : 0);
		}
		cpu_relax();
	}
	return __atomic_load_n(&t->cpu_ns, __ATOMIC_RELAXED);
}

void thread_switches(const struct thread *t, uint64_t *voluntary, uint64_t *involuntary)
{
	*voluntary = READ_ONCE(t->nvcsw);
	*involuntary = READ_ONCE(t->nivcsw);
}

void sched_dump(const struct thread *t)
{
	static const char *const idle_names[] = { "busy", "polling", "halted" };

	for (unsigned i = 0; i < MAX_CPUS; i++) {
		struct sched_cpu *c = &scpu[i];

		if (!__atomic_load_n(&cpus[i].online, __ATOMIC_ACQUIRE))
			continue;
		kprintf("sched dump cpu%u: current %s, %u ready, load %u, incoming %s, %s, %u "
			"timers, armed %lu, poll %lu ns\n",
			i, c->current ? c->current->name : "-", c->rq.n, balance_load(&pub[i]),
			mpsc_pending(&c->incoming) ? "pending" : "empty",
			idle_names[balance_idle_state(&pub[i]) % 3], c->nheap, c->armed,
			c->poll_ns);
		kprintf("sched dump cpu%u: ready list", i);
		unsigned n = 0;
		for (struct rq_node *r = c->rq.head; r && n < 8; r = r->next, n++)
			kprintf(" %s", of_rq(r)->name);
		kprintf("; %lu switches, %lu IPIs in, %lu halts, %lu polls won, %lu spins won, "
			"%lu timer irqs\n",
			c->st.switches, c->st.ipis_received, c->st.halts, c->st.polls_won,
			c->st.spins_won, c->st.timer_irqs);
	}
	if (hal->irq_stats) {
		char buf[320];

		hal->irq_stats(buf, sizeof(buf));
		kprintf("sched dump interrupts: %s\n", buf);
	}
	if (t) {
		uint64_t now = hal->clock_ns();

		kprintf("sched dump thread %s: cpu %u, mask %#lx, state %d, on cpu %d, wake %d, "
			"join %p, timer %s",
			t->name, t->cpu, rq_mask(&t->rq), t->state, t->on_cpu, t->wake,
			(void *)t->join,
			t->timer.slot ? "armed" : "idle");
		if (t->timer.slot)
			kprintf(" (%s %lu ms)", t->timer.deadline > now ? "due in" : "overdue by",
				(t->timer.deadline > now ? t->timer.deadline - now
							 : now - t->timer.deadline) / 1000000);
		for (unsigned i = 0; i < WAIT_NODES; i++)
			if (__atomic_load_n(&t->wnodes[i].in_use, __ATOMIC_ACQUIRE))
				kprintf("; wait node %u: queue %p, state %d", i,
					(void *)t->wnodes[i].q, t->wnodes[i].state);
		kprintf("\n");
	}
}

static int trim_here(void *arg)
{
	mm_trim();
	return 0;
}

void thread_join_job(struct thread *t, const char *what)
{
	unsigned cpu = t->cpu;

	if (thread_join(t, hal->clock_ns() + 30000000000ull, NULL) != -ETIMEDOUT)
		return;
	kprintf("sched: %s, a job for cpu%u, has not ended after 30 s; the scheduler's state "
		"follows\n", what, cpu);
	sched_dump(t);
	thread_join(t, NO_DEADLINE, NULL);
}

void sched_mm_stats_exact(struct mm_stats *s)
{
	for (unsigned cpu = 0; cpu < sched_cpus_online(); cpu++) {
		struct thread *t = thread_create("mm-trim", trim_here, NULL, (int)cpu);

		if (t)
			thread_join_job(t, "mm-trim");
	}
	mm_trim(); /* what those threads left here */
	mm_stats(s);
}

void sched_nudge(unsigned cpu)
{
	hal->ipi_send(cpu);
}

void sched_stats(unsigned cpu, struct sched_stats *s)
{
	*s = scpu[cpu].st;
	s->load = balance_load(&pub[cpu]);
	s->idle_ns = scpu[cpu].idle ? thread_cpu_ns(scpu[cpu].idle) : 0;
	s->hv_yields = __atomic_load_n(&cpus[cpu].hv_yields, __ATOMIC_RELAXED);
}

void sched_report(void)
{
	for (unsigned cpu = 0; cpu < sched_cpus_online(); cpu++) {
		struct sched_stats s;

		sched_stats(cpu, &s);
		kprintf("sched cpu%u: %lu switches, %lu preemptions, %lu IPIs sent, %lu received, "
			"%lu halts, %lu polls won, %lu spins won, %lu timer irqs, %lu timer sets, %lu remote wakes, "
			"%lu interrupts before hlt; load %u, %lu steals (%lu asks), %lu asks refused, %lu handed "
			"over, %lu pushed, %lu moved at wake, %lu ms idle, %lu hypervisor yields\n",
			cpu, s.switches, s.preemptions, s.ipis_sent, s.ipis_received, s.halts,
			s.polls_won, s.spins_won, s.timer_irqs, s.timer_sets, s.remote_wakes,
			cpus[cpu].halt_window_irqs,
			s.load,
			s.steals, s.steal_asks, s.asks_refused, s.handed_over, s.pushed,
			s.wake_moves, s.idle_ns / 1000000, s.hv_yields);
	}
	if (hal->irq_stats) {
		char line[320];

		hal->irq_stats(line, sizeof(line));
		kprintf("interrupts: %s\n", line);
	}
}

/* ---- the run queue (this CPU, interrupts off) */

static void drain_incoming(struct sched_cpu *c)
{
	struct mpsc_node *n;

	/* before the pops: a thread pushed after them set it again (queue_remote) */
	__atomic_store_n(&c->waiting_since, 0, __ATOMIC_SEQ_CST);
	if (c->stuck_reported)
		__atomic_store_n(&c->stuck_reported, false, __ATOMIC_SEQ_CST); /* again next time */
	while ((n = mpsc_pop(&c->incoming))) {
		struct thread *t = container_of(n, struct thread, node);

		if (t->stolen) {
			t->stolen = false;
			c->st.steals++;
		}
		runq_push(&c->rq, &t->rq);
	}
}

/* ---- timers: a binary min-heap per CPU, on deadline */

static bool earlier(struct timer *a, struct timer *b)
{
	return a->deadline < b->deadline;
}

static void heap_set(struct sched_cpu *c, unsigned i, struct timer *t)
{
	c->heap[i] = t;
	t->slot = i + 1;
}

static void sift_up(struct sched_cpu *c, unsigned i)
{
	struct timer *t = c->heap[i];

	while (i && earlier(t, c->heap[(i - 1) / 2])) {
		heap_set(c, i, c->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(c, i, t);
}

static void sift_down(struct sched_cpu *c, unsigned i)
{
	struct timer *t = c->heap[i];

	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		struct timer *best = t;

		if (l < c->nheap && earlier(c->heap[l], best))
			m = l, best = c->heap[l];
		if (r < c->nheap && earlier(c->heap[r], best))
			m = r, best = c->heap[r];
		if (m == i)
			break;
		heap_set(c, i, best);
		i = m;
	}
	heap_set(c, i, t);
}

static void heap_remove(struct sched_cpu *c, struct timer *t)
{
	unsigned i = t->slot - 1;
	struct timer *last = c->heap[--c->nheap];

	t->slot = 0;
	if (i == c->nheap)
		return;
	heap_set(c, i, last);
	sift_up(c, i);
	sift_down(c, last->slot - 1);
}

/* What this CPU's platform timer must hold: the first timer, and the end of the current
 * thread's slice when others wait for the CPU. Nothing at all when idle and no timer is
 * armed: no tick. */
static void reprogram(struct sched_cpu *c)
{
	uint64_t d = c->nheap ? c->heap[0]->deadline : 0;

	if (c->current != c->idle && c->rq.n) {
		uint64_t now = hal->clock_ns(), end;

		if (!c->slice_armed) {
			c->slice_end = now + SLICE_NS;
			c->slice_armed = true;
		}
		/* a slice already over with its preemption deferred (preemption or interrupts
		 * were off): try again shortly, never at a time already past, which would fire
		 * at once and again and again */
		end = this_cpu()->resched ? now + RETRY_NS : c->slice_end;
		d = d && d < end ? d : end;
	} else {
		c->slice_armed = false;
	}
	/* A deadline later than the one the timer holds (or none) leaves the timer as it
	 * is: it fires early, once, and timer_fired arms what is due then. The slice's end
	 * moves later at every switch, and each programming is a write the hypervisor traps
	 * (two LAPIC registers; a hypercall on Xen): with ten busy TCP connections, 21,000
	 * of them in 5 s. */
	if (d && (!c->armed || d < c->armed)) {
		c->armed = d;
		c->st.timer_sets++;
		hal->timer_arm(d);
	}
}

static int arm_locked(struct sched_cpu *c, struct timer *t, uint64_t deadline,
		      void (*fn)(struct timer *))
{
	if (t->slot)
		heap_remove(c, t);
	if (c->nheap == MAX_TIMERS)
		return -ENOSPC;
	t->deadline = deadline;
	t->fn = fn;
	t->cpu = c - scpu;
	heap_set(c, c->nheap++, t);
	sift_up(c, t->slot - 1);
	if (c->heap[0] == t)
		reprogram(c);
	return 0;
}

int timer_arm(struct timer *t, uint64_t deadline, void (*fn)(struct timer *))
{
	uint64_t f = irq_save();
	int rc = arm_locked(me(), t, deadline, fn);

	irq_restore(f);
	return rc;
}

bool timer_cancel(struct timer *t)
{
	uint64_t f = irq_save();
	bool armed = t->slot;

	if (armed) {
		heap_remove(me(), t);
		reprogram(me());
	}
	irq_restore(f);
	return armed;
}

/* ---- moving threads between CPUs */

/* Sends the IPI a CPU needs to notice a thread put on its incoming queue (or a steal
 * request): unless it is polling for exactly that (the point of polling: no IPI, no exit). */
static void kick(unsigned cpu)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (balance_idle_state(&pub[cpu]) == IDLE_POLLING)
		return;
	me()->st.ipis_sent++;
	hal->ipi_send(cpu);
}

/* Queues t, which no CPU runs (on_cpu is 0, or it is this CPU's own current thread), for
 * CPU `to`, counted in its load. Interrupts off. Once it is on another CPU's queue it may
 * run there, exit and be freed: no look at t after that. */
static void enqueue(struct sched_cpu *c, struct thread *t, unsigned to)
{
	struct sched_cpu *target = &scpu[to];

	t->cpu = to;
	balance_load_add(&pub[to], 1);
	if (target == c) {
		runq_push(&c->rq, &t->rq);
		if (c->current != c->idle)
			reprogram(c); /* a slice for whoever runs now */
		return;
	}
	if (!__atomic_load_n(&target->waiting_since, __ATOMIC_SEQ_CST)) {
		uint64_t none = 0;

		__atomic_compare_exchange_n(&target->waiting_since, &none, hal->clock_ns() | 1,
					    false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	}
	mpsc_push(&target->incoming, &t->node);
	kick(to);
}

/* A thread of this CPU's run queue (not running) goes to CPU `to` instead. */
static void send_away(struct sched_cpu *c, struct thread *t, unsigned to)
{
	balance_load_add(&pub[cpu_of(c)], -1);
	enqueue(c, t, to);
}

/* Where a thread whose mask rules this CPU out goes: the least loaded CPU it allows (none
 * online: it stays, rather than get lost) */
static unsigned elsewhere(struct sched_cpu *c, struct thread *t)
{
	int to = balance_least_loaded(pub, sched_cpus_online(), rq_mask(&t->rq), cpu_of(c));

	return to < 0 ? cpu_of(c) : (unsigned)to;
}

/* The victim's side of a steal: another CPU asked for a thread (balance_ask). The oldest
 * ready thread that may run there goes, never the running one. */
static void serve_ask(struct sched_cpu *c)
{
	int thief = balance_take_ask(&pub[cpu_of(c)]);

	if (thief < 0)
		return;
	struct thread *t = of_rq(runq_take_for(&c->rq, (unsigned)thief, &c->current->rq));

	if (!t) {
		c->st.asks_refused++;
		return;
	}
	c->st.handed_over++;
	t->stolen = true;
	send_away(c, t, (unsigned)thief);
}

/* At the end of a slice, with threads waiting here: one of them goes to a CPU with at
 * least two threads fewer. Busy CPUs never steal (only idle ones look for work), so this
 * is what evens out 5 threads against 3. */
static void push_balance(struct sched_cpu *c)
{
	int to = balance_push_target(pub, sched_cpus_online(), cpu_of(c));
	struct thread *t = to < 0 ? NULL
				  : of_rq(runq_take_for(&c->rq, (unsigned)to, &c->current->rq));

	if (t) {
		c->st.pushed++;
		send_away(c, t, (unsigned)to);
	}
}

/* The thief's side: an idle CPU asks the busiest CPU with a movable thread waiting (and
 * at least two threads more than this one) to hand one over. The victim's run queue stays
 * its own: it answers from its own code (serve_ask), at its next IPI, interrupt or switch,
 * by putting the thread on this CPU's incoming queue, which this CPU then polls. */
static void try_steal(struct sched_cpu *c, uint64_t now)
{
	if (now < c->steal_after)
		return;
	int v = balance_victim(pub, sched_cpus_online(), cpu_of(c));

	if (v < 0)
		return;
	/* the last ask brought nothing: wait longer before the next one */
	if (c->st.steal_asks && c->st.steals == c->steals_at_ask)
		c->steal_retry = MIN(c->steal_retry * 2, STEAL_RETRY_MAX_NS);
	else
		c->steal_retry = STEAL_RETRY_MIN_NS;
	c->steal_after = now + c->steal_retry;
	if (!balance_ask(&pub[v], cpu_of(c)))
		return; /* another CPU's ask is still there */
	c->st.steal_asks++;
	c->steals_at_ask = c->st.steals;
	kick((unsigned)v);
}

/* ---- switching */

/* Runs in the thread switched to, first thing: the one switched from is off its stack
 * now. From here another CPU may run it; if it exited, its joiner may free it. */
static void finish_switch(void)
{
	struct sched_cpu *c = me();
	struct thread *prev = c->switched_from, *move = c->move_after;

	c->switched_from = c->move_after = NULL;
	if (!prev)
		return;
	/* read before on_cpu goes: after that a waker may run prev elsewhere */
	bool dead = __atomic_load_n(&prev->state, __ATOMIC_SEQ_CST) == T_DEAD;

	__atomic_store_n(&prev->on_cpu, 0, __ATOMIC_SEQ_CST);
	if (dead) {
		/* after this exchange prev is the joiner's: not another look at it */
		struct thread *j = __atomic_exchange_n(&prev->join, JOIN_DONE, __ATOMIC_SEQ_CST);

		if (j)
			sched_wake(j);
	} else if (move) {
		/* READY and in no queue: nobody else touches it */
		send_away(c, move, elsewhere(c, move));
	}
}

/* The next thread to run here: the oldest ready one this CPU may run. One whose mask no
 * longer allows this CPU goes elsewhere (after the switch, if it is the one running now). */
static struct thread *pick_next(struct sched_cpu *c)
{
	struct thread *t;

	while ((t = of_rq(runq_pop(&c->rq)))) {
		if (allowed(t, cpu_of(c)) || t->rq.stay)
			return t;
		if (t == c->current)
			c->move_after = t; /* its load goes with it in finish_switch */
		else
			send_away(c, t, elsewhere(c, t));
	}
	return c->idle;
}

/* Picks the next thread and switches to it. Interrupts off. */
static void schedule(void)
{
	struct sched_cpu *c = me();
	struct thread *prev = c->current, *next;
	bool runnable = prev->state == T_RUNNING;

	mm_tlb_sync();
	drain_incoming(c);
	this_cpu()->resched = false;
	serve_ask(c);
	if (!prev->idle) {
		if (runnable) {
			__atomic_store_n(&prev->state, T_READY, __ATOMIC_SEQ_CST);
			if (allowed(prev, cpu_of(c)))
				runq_push(&c->rq, &prev->rq);
			else
				c->move_after = prev;
		} else {
			/* blocked, dead, or woken already and queued (its queued self is
			 * counted by whoever queued it) */
			balance_load_add(&pub[cpu_of(c)], -1);
		}
	}
	next = pick_next(c);
	__atomic_store_n(&next->state, T_RUNNING, __ATOMIC_SEQ_CST);
	/* next->wake stays: a wake that came while next was running (between its check of
	 * a condition and sched_block) must survive a preemption or a yield on the way, or
	 * that sched_block sleeps through it. Only sched_block consumes it; a stale one
	 * costs one spurious return, which every caller loops on. */
	c->current = next;
	this_cpu()->thread = next;
	if (next != prev)
		c->slice_armed = false; /* a fresh slice */
	reprogram(c);
	if (next == prev)
		return;
	if (__atomic_load_n(&next->on_cpu, __ATOMIC_SEQ_CST))
		sched_fail("thread %s is to run on cpu%u but still runs on cpu%u", next->name,
			   cpu_of(c), next->cpu);
	__atomic_store_n(&next->on_cpu, 1, __ATOMIC_SEQ_CST);
	uint64_t now = hal->clock_ns();

	acct_stop(prev, now);
	acct_start(next, now);
	if (runnable)
		prev->nivcsw++;
	else
		prev->nvcsw++;
	c->st.switches++;
	c->switched_from = prev;
	if (next->entry_stack | prev->entry_stack | next->fs_base | prev->fs_base)
		arch_thread_state(next->fs_base, next->entry_stack);
	mm_space_switch(next->space); /* (none: a kernel thread, on what is loaded) */
	if (prev->fpu)
		arch_fpu_save(prev->fpu);
	if (next->fpu)
		arch_fpu_restore(next->fpu);
	arch_switch(&prev->rsp, next->rsp);
	finish_switch();
}

/* The stuck-vCPU watchdog. A CPU takes what others put on its incoming queue at its next
 * interrupt or switch, so a thread there for stuck_ns means that vCPU runs none of our
 * code (seen nested under TCG: a vCPU that silently stopped, and one resumed at Xen's own
 * code). Said once per CPU, with what the hypervisor reports of it, rather than letting the
 * threads there wait for ever unexplained. Each CPU looks at most once a second, from
 * its timer interrupts and every 64th remote wake it makes. */
static void check_cpus(struct sched_cpu *c, uint64_t now)
{
	if (!now)
		now = hal->clock_ns();
	if (now < c->next_check)
		return;
	c->next_check = now + NSEC_PER_SEC;
	for (unsigned i = 0; i < sched_cpus_online(); i++) {
		struct sched_cpu *o = &scpu[i];
		uint64_t since = __atomic_load_n(&o->waiting_since, __ATOMIC_SEQ_CST);

		/* still queued: head and tail apart (no look at the nodes, which the owner may
		 * have taken and freed meanwhile) */
		bool queued = __atomic_load_n(&o->incoming.head, __ATOMIC_ACQUIRE) !=
			      __atomic_load_n(&o->incoming.tail, __ATOMIC_RELAXED);

		if (o == c || !since || now < since || now - since < stuck_ns || !queued ||
		    __atomic_exchange_n(&o->stuck_reported, true, __ATOMIC_SEQ_CST))
			continue;
		char hv[160] = "";

		if (hal->vcpu_state) {
			hv[0] = ';';
			hv[1] = ' ';
			hal->vcpu_state(i, hv + 2, sizeof(hv) - 2);
		}
		__atomic_add_fetch(&stuck_reports, 1, __ATOMIC_SEQ_CST);
		kprintf("sched: cpu%u is stuck: threads woken for it %lu ms ago still wait (%lu "
			"IPIs and %lu timer interrupts taken in all)%s\n",
			i, (now - since) / 1000000, o->st.ipis_received, o->st.timer_irqs, hv);
	}
}

static void (*idle_hook)(bool halting);

void sched_set_idle_hook(void (*fn)(bool halting))
{
	__atomic_store_n(&idle_hook, fn, __ATOMIC_RELEASE);
}

void sched_set_poll_us(uint64_t us)
{
	poll_max_ns = MIN(us, 1000000) * 1000;
}

void sched_set_stuck_ms(uint64_t ms)
{
	stuck_ns = ms * 1000000;
}

unsigned sched_stuck_reports(void)
{
	return __atomic_load_n(&stuck_reports, __ATOMIC_SEQ_CST);
}

/* Wakes t if it is blocked. Where it runs: on the CPU it blocked on while that CPU has
 * not yet switched away from it (only that CPU may touch it then), or while its timeout is
 * armed there (`stay`, sched_block); otherwise where the wake rule says (balance_wake_cpu:
 * a polling CPU, then an idle one, then where it ran). */
void sched_wake(struct thread *t)
{
	int blocked = T_BLOCKED;

	__atomic_store_n(&t->wake, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_compare_exchange_n(&t->state, &blocked, T_READY, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return; /* running or about to block: it sees t->wake */
	uint64_t f = irq_save();
	struct sched_cpu *c = me();
	unsigned to = t->cpu;

	if (!__atomic_load_n(&t->on_cpu, __ATOMIC_SEQ_CST) && !t->rq.stay) {
		unsigned last = to;

		to = (unsigned)balance_wake_cpu(pub, sched_cpus_online(), rq_mask(&t->rq), last);
		c->st.wake_moves += to != last;
	}
	if (to != cpu_of(c)) {
		c->st.remote_wakes++;
		if (!(c->st.remote_wakes & 63))
			check_cpus(c, 0); /* now and then: it reads the clock */
	}
	enqueue(c, t, to);
	irq_restore(f);
}

/* The spin window's bounds: the idle poll's (a spin is that poll, kept in the waiting
 * thread, which saves the two switches through the idle thread) */
#define SPIN_MIN_NS POLL_MIN_NS
#define SPIN_MAX_NS POLL_MAX_NS

bool sched_spin_until(const int *flag)
{
	preempt_disable();
	struct sched_cpu *c = me();
	uint64_t window = MIN(MAX(c->current->spin_ns, SPIN_MIN_NS), poll_max_ns),
		 t0 = hal->clock_ns();
	unsigned long spins = 0;
	bool seen = false;

	while (window && !(seen = __atomic_load_n(flag, __ATOMIC_ACQUIRE)) && !work(c) &&
	       hal->clock_ns() - t0 < window)
		spin_wait(&spins);
	if (seen)
		c->st.spins_won++;
	preempt_enable();
	return seen;
}

/* A wait that a spin of its length would have caught (up to the maximum) widens the
 * thread's window to twice its length; a longer one halves it. So a thread whose waits
 * are short spins through them, and one that waits long soon stops spinning. */
void sched_spin_learn(uint64_t waited_ns)
{
	struct thread *t = thread_self();
	uint64_t w = MAX(t->spin_ns, SPIN_MIN_NS);

	if (waited_ns <= SPIN_MAX_NS)
		w = MIN(MAX(w, 2 * waited_ns), SPIN_MAX_NS);
	else
		w = MAX(w / 2, SPIN_MIN_NS);
	t->spin_ns = w;
}

static void block_timeout(struct timer *tm)
{
	struct thread *t = container_of(tm, struct thread, timer);

	t->timed_out = true;
	sched_wake(t);
}

int sched_block(uint64_t deadline)
{
	uint64_t f = irq_save();
	struct sched_cpu *c = me();
	struct thread *t = c->current;

	__atomic_store_n(&t->state, T_BLOCKED, __ATOMIC_SEQ_CST);
	if (__atomic_exchange_n(&t->wake, 0, __ATOMIC_SEQ_CST)) {
		int blocked = T_BLOCKED;

		if (__atomic_compare_exchange_n(&t->state, &blocked, T_RUNNING, false,
						__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			irq_restore(f);
			return 0;
		}
		/* the waker queued us already: schedule() will pick us up */
	}
	t->timed_out = false;
	if (deadline != NO_DEADLINE) {
		/* the timeout is in this CPU's heap, which only this CPU touches: the thread
		 * comes back here to take it out (`stay`: wakers, steals and pushes leave it
		 * here), and may move again from its next switch on */
		t->rq.stay = true;
		if (arm_locked(c, &t->timer, deadline, block_timeout))
			sched_fail("thread %s: no room for its timeout (%d timers)", t->name,
				   MAX_TIMERS);
	}
	schedule();
	if (t->rq.stay) {
		if (me() != c)
			sched_fail("thread %s left cpu%u with its timeout armed there", t->name,
				   cpu_of(c));
		if (t->timer.slot) {
			heap_remove(c, &t->timer);
			reprogram(c);
		}
		t->rq.stay = false;
		/* its mask changed while it waited: it came back only for the timeout; now it
		 * goes where it may run (else a thread that waits with timeouts over and over
		 * would never leave, being woken here each time) */
		if (!allowed(t, cpu_of(c)))
			schedule();
	}
	irq_restore(f);
	return t->timed_out ? -ETIMEDOUT : 0;
}

void thread_yield(void)
{
	uint64_t f = irq_save();

	schedule();
	irq_restore(f);
}

/* sync.c waits for another thread's drain: others run here meanwhile, and when none does,
 * the vCPU gives its physical CPU away (that thread may be on a vCPU sharing it) */
void sched_yield_briefly(void)
{
	unsigned long spins = SPIN_YIELD_EVERY - 1;

	thread_yield();
	spin_wait(&spins);
}

void thread_sleep_until(uint64_t deadline)
{
	while (clock_ns() < deadline)
		sched_block(deadline);
}

void thread_sleep(uint64_t ns)
{
	thread_sleep_until(clock_ns() + ns);
}

/* ---- interrupts */

static void timer_fired(void)
{
	struct sched_cpu *c = me();
	uint64_t now = hal->clock_ns();

	c->st.timer_irqs++;
	c->armed = 0;
	check_cpus(c, now);
	while (c->nheap && c->heap[0]->deadline <= now) {
		struct timer *t = c->heap[0];

		heap_remove(c, t);
		t->fn(t);
	}
	serve_ask(c);
	if (c->slice_armed && now >= c->slice_end && c->rq.n) {
		this_cpu()->resched = true;
		push_balance(c);
	}
	if (c->current != c->idle && !allowed(c->current, cpu_of(c)))
		this_cpu()->resched = true; /* its mask changed: it moves at the switch */
	reprogram(c);
}

static void ipi_received(void)
{
	struct sched_cpu *c = me();

	c->st.ipis_received++;
	mm_tlb_sync();
	drain_incoming(c);
	serve_ask(c);
	if (c->rq.n || (c->current != c->idle && !allowed(c->current, cpu_of(c))))
		this_cpu()->resched = true;
}

/* Preemption: on the way out of an interrupt that found the CPU needed elsewhere, if the
 * interrupted thread may be preempted (preemption and interrupts were on). The idle thread
 * looks for work itself. */
static void irq_exit(const struct trap_frame *f)
{
	struct sched_cpu *c = me();
	struct cpu *cpu = this_cpu();

	if (!c || !cpu->resched || cpu->preempt || cpu->irq_depth || c->current == c->idle ||
	    !arch->frame_irqs_on(f))
		return;
	c->st.preemptions++;
	schedule();
}

/* ---- idle */

/* a thread for this CPU, or a steal request to answer (schedule() does both) */
static bool work(struct sched_cpu *c)
{
	return READ_ONCE(c->rq.n) || mpsc_pending(&c->incoming) ||
	       __atomic_load_n(&pub[cpu_of(c)].steal_ask, __ATOMIC_RELAXED);
}

static void set_idle_state(struct sched_cpu *c, int state)
{
	__atomic_store_n(&pub[cpu_of(c)].idle_state, state, __ATOMIC_SEQ_CST);
}

/* Idle: first ask a busier CPU for a thread (try_steal), then poll, then halt. The poll
 * adapts: polling that catches a wakeup (or the stolen thread) doubles the next poll, one
 * that halts anyway halves it. A thread woken while this CPU polls costs its waker no IPI
 * and no exit. */
static void __noreturn idle_loop(void)
{
	struct sched_cpu *c = me();

	for (;;) {
		irq_save();
		if (work(c)) {
			schedule();
			continue;
		}
		uint64_t t0 = hal->clock_ns();

		set_idle_state(c, IDLE_POLLING);
		try_steal(c, t0);
		irq_restore(1);
		bool won = false;
		void (*hook)(bool) = __atomic_load_n(&idle_hook, __ATOMIC_ACQUIRE);

		if (hook)
			hook(false);

		unsigned long spins = 0;
		uint64_t window = MIN(c->poll_ns, poll_max_ns);

		while (window && !(won = work(c)) && hal->clock_ns() - t0 < window) {
			spin_wait(&spins);
			if (hook)
				hook(false);
		}
		irq_save();
		if (won) {
			c->st.polls_won++;
			c->poll_ns = MIN(c->poll_ns * 2, POLL_MAX_NS);
			set_idle_state(c, IDLE_BUSY);
			continue;
		}
		c->poll_ns = MAX(c->poll_ns / 2, POLL_MIN_NS);
		if (hook)
			hook(true);
		set_idle_state(c, IDLE_HALTED);
		if (!work(c)) {
			c->st.halts++;
			arch->halt();
		}
		set_idle_state(c, IDLE_BUSY);
	}
}

static void idle_entry(void *arg)
{
	finish_switch();
	idle_loop();
}

/* ---- threads */

static void thread_entry(void *arg)
{
	struct thread *t = arg;

	finish_switch();
	irq_restore(1);
	thread_exit(t->fn(t->arg));
}

static struct thread *new_thread(const char *name, unsigned cpu)
{
	struct thread *t = kcalloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->stack = mm_stack_alloc(THREAD_STACK_SIZE);
	if (!t->stack) {
		kfree(t);
		return NULL;
	}
	t->cpu = cpu;
	t->state = T_BLOCKED;
	strlcpy(t->name, name, sizeof(t->name));
	return t;
}

/* CPU_ANY: the least loaded online CPU, this one on a tie (so that threads a thread
 * creates spread evenly once it stops counting: it blocks or exits); not round-robin,
 * which piles threads on a CPU that is busy already. */
struct thread *thread_create(const char *name, int (*fn)(void *), void *arg, int cpu)
{
	if (cpu != CPU_ANY &&
	    (cpu < 0 || cpu >= MAX_CPUS || !__atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE)))
		return NULL;
	struct thread *t = new_thread(name, cpu == CPU_ANY ? 0 : (unsigned)cpu);

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->rsp = arch_thread_stack(t->stack, thread_entry, t);
	t->rq.mask = cpu == CPU_ANY ? ~0ull : CPU_BIT(cpu);
	t->state = T_READY;
	uint64_t f = irq_save();
	struct sched_cpu *c = me();

	if (cpu == CPU_ANY)
		cpu = balance_least_loaded(pub, sched_cpus_online(), ~0ull, cpu_of(c));
	enqueue(c, t, (unsigned)cpu);
	irq_restore(f);
	return t;
}

int thread_set_affinity(struct thread *t, uint64_t mask)
{
	mask &= sched_online_mask();
	if (!mask)
		return -EINVAL;
	__atomic_store_n(&t->rq.mask, mask, __ATOMIC_SEQ_CST);
	if (t == thread_self()) {
		/* schedule() sends it to an allowed CPU (after the switch) */
		while (!(mask & CPU_BIT(thread_cpu(t))))
			thread_yield();
		return 0;
	}
	/* Running or waiting on a CPU it may not use now: that CPU moves it at its next
	 * switch, which the IPI brings about soon (ipi_received); a blocked thread is
	 * placed by its mask when woken. */
	unsigned cpu = thread_cpu(t);

	if (!(mask & CPU_BIT(cpu)))
		sched_nudge(cpu);
	return 0;
}

void thread_exit(int ret)
{
	struct thread *t = thread_self();

	if (t == &main_thread)
		sched_fail("the boot thread cannot exit");
	t->ret = ret;
	irq_save();
	__atomic_store_n(&t->state, T_DEAD, __ATOMIC_SEQ_CST);
	schedule();
	panic("a dead thread was scheduled");
}

int thread_join(struct thread *t, uint64_t deadline, int *ret)
{
	struct thread *self = thread_self(), *none = NULL;

	if (t == self)
		return -EINVAL;
	if (!__atomic_compare_exchange_n(&t->join, &none, self, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST) &&
	    none != JOIN_DONE)
		return -EINVAL; /* someone else joins it */
	while (__atomic_load_n(&t->join, __ATOMIC_SEQ_CST) != JOIN_DONE) {
		if (sched_block(deadline) == -ETIMEDOUT) {
			struct thread *me_ = self;

			if (__atomic_compare_exchange_n(&t->join, &me_, NULL, false,
							__ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				return -ETIMEDOUT;
		}
	}
	if (ret)
		*ret = t->ret;
	while (waitq_holds_nodes_of(t)) /* another CPU's drain is about to let go of them */
		thread_yield();
	mm_stack_free(t->stack, THREAD_STACK_SIZE);
	kfree(t->fpu);
	kfree(t);
	return 0;
}

/* ---- bring-up */

static void cpu_sched_init(unsigned cpu, struct thread *current)
{
	struct sched_cpu *c = &scpu[cpu];

	mpsc_init(&c->incoming);
	runq_init(&c->rq, cpu, &pub[cpu]);
	c->heap = kcalloc(MAX_TIMERS, sizeof(*c->heap));
	if (!c->heap)
		panic("sched: no memory for CPU %u's timers", cpu);
	c->poll_ns = POLL_START_NS;
	console_percpu_start(cpu);
	c->current = current;
	cpus[cpu].thread = current;
	current->cpu = cpu;
	current->state = T_RUNNING;
	current->on_cpu = 1;
	current->rq.mask = CPU_BIT(cpu);
	cpus[cpu].sched = c;
}

static const char *current_name(void)
{
	struct sched_cpu *c = me();

	return c && c->current ? c->current->name : "(none)";
}

/* Kernel mappings went away: every other CPU should flush soon (mm_tlb_sync). */
static void tlb_kick(uint64_t which)
{
	preempt_disable(); /* `self` stays this CPU's index */
	unsigned self = arch_cpu_id();

	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) /* (MAX_CPUS <= 64: mm.c) */
		if (cpu != self && (which >> cpu & 1) &&
		    __atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE)) {
			me()->st.ipis_sent++;
			hal->ipi_send(cpu);
		}
	preempt_enable();
}

/* preempt_enable() found this CPU wanted elsewhere */
static void preempt_now(void)
{
	uint64_t f = irq_save();
	struct sched_cpu *c = me(); /* after irq_save: the thread stays on this CPU from here */

	if (f && this_cpu()->resched && !this_cpu()->irq_depth && c->current != c->idle) {
		c->st.preemptions++;
		schedule();
	}
	irq_restore(f);
}

void sched_init(void)
{
	panic_thread_name = current_name;
	preempt_point = preempt_now;
	mm_tlb_kick = tlb_kick;
	mm_tlb_yield = thread_yield;
	strlcpy(main_thread.name, "main", sizeof(main_thread.name));
	cpu_sched_init(0, &main_thread);
	balance_load_add(&pub[0], 1); /* main runs there, pinned (the idle threads count not) */
	struct thread *idle = new_thread("idle0", 0);

	if (!idle)
		panic("sched: no memory for the idle thread");
	idle->idle = true;
	idle->rsp = arch_thread_stack(idle->stack, idle_entry, NULL);
	scpu[0].idle = idle;
	hal_events.timer = timer_fired;
	hal_events.ipi = ipi_received;
	arch_irq_exit = irq_exit;
	int rc = hal->cpu_setup(0);

	if (rc)
		panic("sched: %s's interrupt setup failed on CPU 0 (%d)", hal->name, rc);
	acct_start(&main_thread, hal->clock_ns()); /* (this CPU's clock works from here) */
	__atomic_store_n(&cpus[0].online, true, __ATOMIC_RELEASE);
	online = 1;
	irq_restore(1);
}

/* An AP's first code in C: its tables, its stacks, its interrupts, then it idles. */
static void __noreturn ap_main(void *arg)
{
	struct thread *idle = arg;
	unsigned cpu = idle->cpu;

	arch->cpu_init(&cpus[cpu]);
	if (arch->set_exception_stacks)
		arch->set_exception_stacks(mm_stack_alloc);
	cpu_sched_init(cpu, idle);
	scpu[cpu].idle = idle;
	int rc = hal->cpu_setup(cpu);

	if (rc)
		panic("sched: %s's interrupt setup failed on CPU %u (%d)", hal->name, cpu, rc);
	acct_start(idle, hal->clock_ns());
	__atomic_add_fetch(&online, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&cpus[cpu].online, true, __ATOMIC_RELEASE);
	idle_loop();
}

unsigned sched_start_cpus(void)
{
	for (unsigned cpu = 1; cpu < hal_info.vcpus && cpu < MAX_CPUS; cpu++) {
		char name[16];

		ksnprintf(name, sizeof(name), "idle%u", cpu);
		struct thread *idle = new_thread(name, cpu);

		if (!idle) {
			kprintf("smp: no memory to start CPU %u\n", cpu);
			break;
		}
		idle->idle = true;
		/* this_cpu() works from the AP's first instruction where the platform sets its
		 * GS base at start (Xen PV) */
		cpus[cpu].self = &cpus[cpu];
		cpus[cpu].id = cpu;
		int rc = hal->cpu_start(cpu, (void (*)(void *))ap_main, idle, idle->stack);

		if (rc) {
			kprintf("smp: CPU %u did not start (%d)\n", cpu, rc);
			break;
		}
		/* one CPU at a time: the PC start-up page is shared */
		uint64_t t0 = clock_ns();

		while (!__atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE) &&
		       clock_ns() - t0 < 2000000000ULL)
			thread_yield();
		if (!__atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE)) {
			kprintf("smp: CPU %u did not come up within 2 s\n", cpu);
			break;
		}
	}
	if (hal->cpus_started)
		hal->cpus_started();
	return sched_cpus_online();
}
