/* Threads, time and timers: one scheduler for every platform (sched/README.md).
 * Each CPU runs its own threads from its own run queue; other CPUs hand it threads to wake
 * through a lock-free queue. Nothing here takes a spinlock. Timers are one-shot and per
 * CPU, so an idle CPU gets no tick. */
#ifndef SCHED_SCHED_H
#define SCHED_SCHED_H

#include "lib/compiler.h"

#define CPU_ANY (-1)
#define NO_DEADLINE UINT64_MAX
#define THREAD_STACK_SIZE (16 << 10)

struct thread;

/* Monotonic ns (the platform's clock), the same on every CPU. */
uint64_t clock_ns(void);
/* ns since this kernel started (the platform's clock counts from the host's or Xen's
 * start): what /proc/uptime and sysinfo say */
uint64_t uptime_ns(void);
/* ns since 1970 UTC, 0 when the platform has no wall clock */
uint64_t wallclock_ns(void);

/* A thread running fn(arg): on `cpu` and only there (pinned), or for CPU_ANY first on the
 * least loaded online CPU and then wherever balancing moves it (sched/README.md). NULL when
 * out of memory or cpu is not online. It must be joined. */
struct thread *thread_create(const char *name, int (*fn)(void *), void *arg, int cpu);
/* Waits for t to exit (or the deadline: -ETIMEDOUT) and frees it; *ret gets its value. */
int thread_join(struct thread *t, uint64_t deadline, int *ret);
/* thread_join of a short job pinned to a CPU (NO_DEADLINE, no result): one that has not
 * ended after 30 s is said, with the scheduler's state (sched_dump), once, and waited on
 * still (an idle CPU that missed its wake-up would otherwise hang the boot unexplained) */
void thread_join_job(struct thread *t, const char *what);
void __noreturn thread_exit(int ret);
void thread_yield(void);
/* Sleeps until clock_ns() >= deadline. */
void thread_sleep_until(uint64_t deadline);
void thread_sleep(uint64_t ns);
struct thread *thread_self(void);
/* An app thread's user state (hp/): the FS base (its TLS pointer), loaded on every switch
 * to it; the slot app_enter records its entry stack in; hp/'s per-thread pointer. */
void thread_set_fs_base(uint64_t base);
uint64_t thread_fs_base(void);
uint64_t *thread_entry_stack_slot(void);
void **thread_app(struct thread *t);
/* The calling thread's address space (mm.h), loaded now and at every switch to it; NULL
 * (a kernel thread's) runs on whatever is loaded and touches no app memory. */
struct mm_space;
void thread_set_space(struct mm_space *s);
struct mm_space *thread_space(const struct thread *t);
/* The current thread gets SSE/x87 registers of its own (a process's initial state),
 * saved and restored at every switch from then on. 0 or -ENOMEM. */
int thread_fpu_enable(void);
/* the CPU t runs or waits on (it may move at any switch unless pinned) */
unsigned thread_cpu(const struct thread *t);
/* The CPUs t may run on (bit n: CPU n), and setting them: only online CPUs count, and
 * none of those is -EINVAL. The calling thread moves at once when its CPU is no longer
 * allowed; another thread at its next switch (its CPU is interrupted to make one soon). */
uint64_t thread_affinity(const struct thread *t);
int thread_set_affinity(struct thread *t, uint64_t mask);
/* ns t has run (its own CPU time, to now when it runs), and how often it switched away
 * blocked (voluntary) or still runnable (involuntary: preempted or yielding) */
uint64_t thread_cpu_ns(const struct thread *t);
void thread_switches(const struct thread *t, uint64_t *voluntary, uint64_t *involuntary);

/* One-shot timers, per CPU: fn runs in interrupt context on the CPU that armed the timer,
 * at or after `deadline`, never before. Timers on one CPU fire in deadline order. Only
 * that CPU may cancel or re-arm it, and CPU_ANY threads move between CPUs: a thread that
 * arms one must be pinned, or cancel it before it can move (sched_block's own timeout
 * keeps its thread on its CPU until it is out: sched/README.md). */
struct timer {
	uint64_t deadline;
	void (*fn)(struct timer *t);
	int32_t slot; /* 1 + index in its CPU's heap; 0 when not armed (so zeroed is idle) */
	uint16_t cpu;
};
/* 0, or -ENOSPC when this CPU has MAX_TIMERS armed */
int timer_arm(struct timer *t, uint64_t deadline, void (*fn)(struct timer *t));
/* true when it was armed (it will not fire now); on the CPU that armed it */
bool timer_cancel(struct timer *t);
#define MAX_TIMERS 4096

/* Blocking, for sync.c: the current thread sleeps until sched_wake(it) or the deadline.
 * A wake that comes before the sleep is not lost: it makes the sleep return at once.
 * Returns 0 when woken, -ETIMEDOUT at the deadline. Wakeups may be spurious. */
int sched_block(uint64_t deadline);
void sched_wake(struct thread *t);
/* A wait for another CPU's wake (a futex), before it blocks: spins while *flag is 0 and
 * this CPU has nothing else ready, for at most the thread's spin window; true when *flag
 * became non-zero meanwhile. A wake that finds its thread spinning costs the waker no IPI
 * and neither side a switch. After the whole wait (spun or blocked), sched_spin_learn
 * with its length adapts the window (sched/README.md). */
bool sched_spin_until(const int *flag);
void sched_spin_learn(uint64_t waited_ns);

struct sched_stats {
	uint64_t switches, preemptions, ipis_sent, ipis_received, halts, polls_won,
		timer_irqs, remote_wakes;
	uint64_t timer_sets; /* the platform timer programmed (or stopped) */
	/* balancing (sched/README.md): threads this CPU took from others on its request,
	 * requests it made, requests it got and could not serve (nothing movable there),
	 * threads it gave on request, threads it gave away at a slice end, threads it woke
	 * onto a CPU other than their last one */
	uint64_t steals, steal_asks, asks_refused, handed_over, pushed, wake_moves;
	uint64_t idle_ns; /* time its idle thread ran */
	uint64_t hv_yields; /* waits that gave its physical CPU away (spin_wait) */
	uint64_t spins_won; /* sched_spin_until calls that saw their flag (no block) */
	uint32_t load;	  /* now: threads running, ready or queued for it */
};
void sched_stats(unsigned cpu, struct sched_stats *s);
/* Every CPU's counters and the platform's interrupt counts, on the console. */
void sched_report(void);
/* How long a thread woken for another CPU may wait there before that CPU is reported
 * stuck ("sched: cpuN is stuck ..."; default 10 s; for tests). */
void sched_set_stuck_ms(uint64_t ms);
/* The longest an idle CPU polls before it halts, and a futex waiter spins before it
 * blocks (sched_poll_us=; default 200, at most 1,000,000; 0: never) */
void sched_set_poll_us(uint64_t us);
/* fn runs on a CPU that went idle (no thread to run): fn(false) once before it polls and
 * at every step of its poll (interrupts on), fn(true) just before it halts (interrupts
 * off; a thread it wakes here keeps the CPU from halting). So work held back while the
 * CPU was busy (a NIC's notification) goes now, a device is looked at, and one that a
 * thread polls without interrupts can ask for one while nobody looks. It must be short
 * and must not block. One hook; NULL: none. */
void sched_set_idle_hook(void (*fn)(bool halting));
unsigned sched_stuck_reports(void); /* how many such reports so far */
/* Prints every CPU's scheduler state, and t's when given: for tests that time out. */
void sched_dump(const struct thread *t);
unsigned sched_cpus_online(void);
/* bit n set: CPU n is online (CPUs 0 .. sched_cpus_online() - 1) */
uint64_t sched_online_mask(void);
/* Sends cpu its wakeup IPI whether or not it needs one: for diagnosing a stuck test. */
void sched_nudge(unsigned cpu);

struct mm_stats;
/* mm_stats, exactly: every CPU first gives back its empty slabs, the objects other CPUs
 * freed for it and its cached frames (through a thread pinned there), so caches that any
 * CPU happens to hold do not count as used. For tests that compare memory before and
 * after. */
void sched_mm_stats_exact(struct mm_stats *s);

/* Boot: the running context becomes thread "main" on CPU 0, with interrupts on after. */
void sched_init(void);
/* Starts the other vCPUs; returns how many came up. */
unsigned sched_start_cpus(void);

#endif
