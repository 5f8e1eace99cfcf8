/* The scheduler. Per CPU: a ready list only that CPU touches (with interrupts off), an
 * incoming MPSC queue where other CPUs put the threads they wake, a timer heap, and an idle
 * thread that polls briefly before it halts. Threads stay on the CPU they were created on.
 * The only cross-CPU operations are the incoming queue and the IPI that wakes a halted or
 * busy CPU; nothing takes a lock. */
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
#include "lib/string.h"
#include "lib/time.h"
#include "mm/mm.h"
#include "sched/thread.h"

#define SLICE_NS 10000000ULL /* preempt a thread that ran this long while others wait */
#define RETRY_NS 1000000ULL  /* a deferred preemption is tried again this much later */
#define POLL_START_NS 20000
#define POLL_MIN_NS 2000
#define POLL_MAX_NS 200000

enum { IDLE_BUSY, IDLE_POLLING, IDLE_HALTED };

struct sched_cpu {
	struct thread *current, *idle;
	struct thread *ready_head, *ready_tail;
	unsigned nready;
	struct mpsc incoming;
	int idle_state; /* read by other CPUs deciding on an IPI */
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
static struct thread main_thread;
static unsigned online, next_cpu;
static uint64_t stuck_ns = 10 * NSEC_PER_SEC;
static unsigned stuck_reports;

static struct sched_cpu *me(void)
{
	return this_cpu()->sched;
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

uint64_t wallclock_ns(void)
{
	if (!hal->wallclock_ns)
		return 0;
	preempt_disable();
	uint64_t t = hal->wallclock_ns();

	preempt_enable();
	return t;
}

struct thread *thread_self(void)
{
	return me()->current;
}

void thread_set_fs_base(uint64_t base)
{
	struct thread *t = me()->current;
	uint64_t on = irq_save();

	t->fs_base = base;
	arch_thread_state(t->fs_base, t->entry_stack);
	irq_restore(on);
}

uint64_t thread_fs_base(void)
{
	return me()->current->fs_base;
}

uint64_t *thread_entry_stack_slot(void)
{
	return &me()->current->entry_stack;
}

int thread_fpu_enable(void)
{
	struct thread *t = me()->current;

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
	return t->cpu;
}

unsigned sched_cpus_online(void)
{
	return __atomic_load_n(&online, __ATOMIC_ACQUIRE);
}

void sched_dump(const struct thread *t)
{
	static const char *const idle_names[] = { "busy", "polling", "halted" };

	for (unsigned i = 0; i < MAX_CPUS; i++) {
		struct sched_cpu *c = &scpu[i];

		if (!__atomic_load_n(&cpus[i].online, __ATOMIC_ACQUIRE))
			continue;
		kprintf("sched dump cpu%u: current %s, %u ready, incoming %s, %s, %u timers, "
			"armed %lu, poll %lu ns\n",
			i, c->current ? c->current->name : "-", c->nready,
			mpsc_pending(&c->incoming) ? "pending" : "empty",
			idle_names[c->idle_state % 3], c->nheap, c->armed, c->poll_ns);
		kprintf("sched dump cpu%u: ready list", i);
		unsigned n = 0;
		for (struct thread *r = c->ready_head; r && n < 8; r = r->next, n++)
			kprintf(" %s", r->name);
		kprintf("; %lu switches, %lu IPIs in, %lu halts, %lu polls won, %lu timer irqs\n",
			c->st.switches, c->st.ipis_received, c->st.halts, c->st.polls_won,
			c->st.timer_irqs);
	}
	if (hal->irq_stats) {
		char buf[320];

		hal->irq_stats(buf, sizeof(buf));
		kprintf("sched dump interrupts: %s\n", buf);
	}
	if (t) {
		uint64_t now = hal->clock_ns();

		kprintf("sched dump thread %s: cpu %u, state %d, wake %d, join %p, timer %s",
			t->name, t->cpu, t->state, t->wake, (void *)t->join,
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

void sched_nudge(unsigned cpu)
{
	hal->ipi_send(cpu);
}

void sched_stats(unsigned cpu, struct sched_stats *s)
{
	*s = scpu[cpu].st;
}

void sched_report(void)
{
	for (unsigned cpu = 0; cpu < sched_cpus_online(); cpu++) {
		const struct sched_stats *s = &scpu[cpu].st;

		kprintf("sched cpu%u: %lu switches, %lu preemptions, %lu IPIs sent, %lu received, "
			"%lu halts, %lu polls won, %lu timer irqs, %lu remote wakes, %lu interrupts "
			"before hlt\n",
			cpu, s->switches, s->preemptions, s->ipis_sent, s->ipis_received, s->halts,
			s->polls_won, s->timer_irqs, s->remote_wakes, cpus[cpu].halt_window_irqs);
	}
	if (hal->irq_stats) {
		char line[320];

		hal->irq_stats(line, sizeof(line));
		kprintf("interrupts: %s\n", line);
	}
}

/* ---- the ready list (this CPU, interrupts off) */

static void ready_push(struct sched_cpu *c, struct thread *t)
{
	t->next = NULL;
	t->prev = c->ready_tail;
	if (c->ready_tail)
		c->ready_tail->next = t;
	else
		c->ready_head = t;
	c->ready_tail = t;
	c->nready++;
}

static struct thread *ready_pop(struct sched_cpu *c)
{
	struct thread *t = c->ready_head;

	if (!t)
		return NULL;
	c->ready_head = t->next;
	if (c->ready_head)
		c->ready_head->prev = NULL;
	else
		c->ready_tail = NULL;
	c->nready--;
	return t;
}

static void drain_incoming(struct sched_cpu *c)
{
	struct mpsc_node *n;

	/* before the pops: a thread pushed after them set it again (sched_wake) */
	__atomic_store_n(&c->waiting_since, 0, __ATOMIC_SEQ_CST);
	if (c->stuck_reported)
		__atomic_store_n(&c->stuck_reported, false, __ATOMIC_SEQ_CST); /* again next time */
	while ((n = mpsc_pop(&c->incoming)))
		ready_push(c, container_of(n, struct thread, node));
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

	if (c->current != c->idle && c->nready) {
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
	if (d != c->armed) {
		c->armed = d;
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

/* ---- switching */

/* Runs in the thread switched to, first thing: the one switched from is off its stack
 * now, so if it exited, its joiner may free it. */
static void finish_switch(void)
{
	struct sched_cpu *c = me();
	struct thread *prev = c->switched_from;

	c->switched_from = NULL;
	if (prev && prev->state == T_DEAD) {
		/* after this exchange prev is the joiner's: not another look at it */
		struct thread *j = __atomic_exchange_n(&prev->join, JOIN_DONE, __ATOMIC_SEQ_CST);

		if (j)
			sched_wake(j);
	}
}

/* Picks the next thread and switches to it. Interrupts off. */
static void schedule(void)
{
	struct sched_cpu *c = me();
	struct thread *prev = c->current, *next;

	mm_tlb_sync();
	drain_incoming(c);
	this_cpu()->resched = false;
	if (prev->state == T_RUNNING && !prev->idle) {
		prev->state = T_READY;
		ready_push(c, prev);
	}
	next = ready_pop(c);
	if (!next)
		next = c->idle;
	__atomic_store_n(&next->state, T_RUNNING, __ATOMIC_SEQ_CST);
	/* next->wake stays: a wake that came while next was running (between its check of
	 * a condition and sched_block) must survive a preemption or a yield on the way, or
	 * that sched_block sleeps through it. Only sched_block consumes it; a stale one
	 * costs one spurious return, which every caller loops on. */
	c->current = next;
	if (next != prev)
		c->slice_armed = false; /* a fresh slice */
	reprogram(c);
	if (next == prev)
		return;
	c->st.switches++;
	c->switched_from = prev;
	if (next->entry_stack | prev->entry_stack | next->fs_base | prev->fs_base)
		arch_thread_state(next->fs_base, next->entry_stack);
	if (prev->fpu)
		arch_fpu_save(prev->fpu);
	if (next->fpu)
		arch_fpu_restore(next->fpu);
	arch_switch(&prev->rsp, next->rsp);
	finish_switch();
}

/* Sends the IPI a CPU needs to notice a thread put on its incoming queue: unless it is
 * polling for exactly that (the point of polling: no IPI, no exit). */
static void kick(unsigned cpu)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&scpu[cpu].idle_state, __ATOMIC_SEQ_CST) == IDLE_POLLING)
		return;
	me()->st.ipis_sent++;
	hal->ipi_send(cpu);
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

void sched_set_stuck_ms(uint64_t ms)
{
	stuck_ns = ms * 1000000;
}

unsigned sched_stuck_reports(void)
{
	return __atomic_load_n(&stuck_reports, __ATOMIC_SEQ_CST);
}

void sched_wake(struct thread *t)
{
	int blocked = T_BLOCKED;

	__atomic_store_n(&t->wake, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_compare_exchange_n(&t->state, &blocked, T_READY, false, __ATOMIC_SEQ_CST,
					 __ATOMIC_SEQ_CST))
		return; /* running or about to block: it sees t->wake */
	uint64_t f = irq_save();
	unsigned cpu = t->cpu; /* once pushed, t may run, exit and be freed */
	struct sched_cpu *c = me(), *target = &scpu[cpu];

	if (target == c) {
		ready_push(c, t);
		if (c->current != c->idle)
			reprogram(c); /* a slice for whoever runs now */
	} else {
		c->st.remote_wakes++;
		if (!__atomic_load_n(&target->waiting_since, __ATOMIC_SEQ_CST)) {
			uint64_t none = 0;

			__atomic_compare_exchange_n(&target->waiting_since, &none,
						    hal->clock_ns() | 1, false, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
		}
		mpsc_push(&target->incoming, &t->node);
		kick(cpu);
		if (!(c->st.remote_wakes & 63))
			check_cpus(c, 0); /* now and then: it reads the clock */
	}
	irq_restore(f);
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
	if (deadline != NO_DEADLINE && arm_locked(c, &t->timer, deadline, block_timeout))
		sched_fail("thread %s: no room for its timeout (%d timers)", t->name, MAX_TIMERS);
	schedule();
	if (t->timer.slot) {
		heap_remove(c, &t->timer);
		reprogram(c);
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

void sched_yield_briefly(void)
{
	thread_yield();
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
	if (c->slice_armed && now >= c->slice_end && c->nready)
		this_cpu()->resched = true;
	reprogram(c);
}

static void ipi_received(void)
{
	struct sched_cpu *c = me();

	c->st.ipis_received++;
	mm_tlb_sync();
	drain_incoming(c);
	if (c->nready)
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

static bool work(struct sched_cpu *c)
{
	return READ_ONCE(c->nready) || mpsc_pending(&c->incoming);
}

/* Adaptive: polling that catches a wakeup doubles the next poll, one that halts anyway
 * halves it. A thread woken while this CPU polls costs its waker no IPI and no exit. */
static void __noreturn idle_loop(void)
{
	struct sched_cpu *c = me();

	for (;;) {
		irq_save();
		if (work(c)) {
			schedule();
			continue;
		}
		__atomic_store_n(&c->idle_state, IDLE_POLLING, __ATOMIC_SEQ_CST);
		irq_restore(1);
		bool won = false;
		uint64_t t0 = hal->clock_ns();

		while (!(won = work(c)) && hal->clock_ns() - t0 < c->poll_ns)
			cpu_relax();
		irq_save();
		if (won) {
			c->st.polls_won++;
			c->poll_ns = MIN(c->poll_ns * 2, POLL_MAX_NS);
			__atomic_store_n(&c->idle_state, IDLE_BUSY, __ATOMIC_SEQ_CST);
			continue;
		}
		c->poll_ns = MAX(c->poll_ns / 2, POLL_MIN_NS);
		__atomic_store_n(&c->idle_state, IDLE_HALTED, __ATOMIC_SEQ_CST);
		if (!work(c)) {
			c->st.halts++;
			arch->halt();
		}
		__atomic_store_n(&c->idle_state, IDLE_BUSY, __ATOMIC_SEQ_CST);
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

struct thread *thread_create(const char *name, int (*fn)(void *), void *arg, int cpu)
{
	if (cpu == CPU_ANY)
		cpu = __atomic_fetch_add(&next_cpu, 1, __ATOMIC_RELAXED) % sched_cpus_online();
	if (cpu < 0 || cpu >= MAX_CPUS || !__atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE))
		return NULL;
	struct thread *t = new_thread(name, cpu);

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->rsp = arch_thread_stack(t->stack, thread_entry, t);
	sched_wake(t);
	return t;
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
	c->heap = kcalloc(MAX_TIMERS, sizeof(*c->heap));
	if (!c->heap)
		panic("sched: no memory for CPU %u's timers", cpu);
	c->poll_ns = POLL_START_NS;
	console_percpu_start(cpu);
	c->current = current;
	current->cpu = cpu;
	current->state = T_RUNNING;
	cpus[cpu].sched = c;
}

static const char *current_name(void)
{
	struct sched_cpu *c = me();

	return c && c->current ? c->current->name : "(none)";
}

/* Kernel mappings went away: every other CPU should flush soon (mm_tlb_sync). */
static void tlb_kick(void)
{
	unsigned self = arch_cpu_id();

	for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++)
		if (cpu != self && __atomic_load_n(&cpus[cpu].online, __ATOMIC_ACQUIRE)) {
			me()->st.ipis_sent++;
			hal->ipi_send(cpu);
		}
}

/* preempt_enable() found this CPU wanted elsewhere */
static void preempt_now(void)
{
	struct sched_cpu *c = me();
	uint64_t f = irq_save();

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
