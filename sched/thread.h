/* The scheduler's view of a thread; private to sched/. */
#ifndef SCHED_THREAD_H
#define SCHED_THREAD_H

#include "lib/mpsc.h"
#include "sched/balance.h"
#include "sched/sched.h"
#include "sched/sync.h"

enum thread_state { T_RUNNING, T_READY, T_BLOCKED, T_DEAD };

struct thread {
	uint64_t rsp;		  /* saved by arch_switch */
	struct mpsc_node node;	  /* in a CPU's incoming queue */
	struct rq_node rq;	  /* in its CPU's run queue; holds its CPU mask */
	int state;		  /* enum thread_state, atomic */
	int wake;		  /* a wake arrived (see sched_block), atomic */
	/* 1 from the switch to it until a switch away from it has saved its registers
	 * (finish_switch): only then may another CPU run it. Atomic. */
	int on_cpu;
	bool timed_out, idle;
	bool stolen; /* handed to the CPU that asked for it: counted there as a steal */
	/* where it runs or is queued; changed only by whoever queues it (sched.c) */
	uint16_t cpu;
	void *stack;
	int (*fn)(void *);
	void *arg;
	int ret;
	/* NULL: running, no joiner; JOIN_DONE: exited and off its stack; else the joiner */
	struct thread *join;
	struct timer timer; /* sleeps and timeouts */
	struct wait_node wnodes[WAIT_NODES];
	char name[24];
	/* an app thread's user state (arch_thread_state): FS base and entry stack */
	uint64_t fs_base, entry_stack;
	void *app; /* hp/'s per-thread data */
	struct mm_space *space; /* its address space (NULL: a kernel thread's: any) */
	void *fpu; /* an app thread's SSE/x87 registers (arch_fpu_save), or NULL */
	/* CPU time: ns run until the last switch away, and since when it runs (when
	 * `running`); written by its CPU at switches, read by anyone under acct_seq (odd
	 * while being written) */
	uint64_t cpu_ns, run_start;
	uint32_t acct_seq;
	bool running;
	uint64_t nvcsw, nivcsw; /* switches away while blocked / while still runnable */
	/* how long it spins before it blocks in sched_spin_until (0: not yet learned) */
	uint64_t spin_ns;
};

#define JOIN_DONE ((struct thread *)1)

#endif
