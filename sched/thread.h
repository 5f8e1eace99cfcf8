/* The scheduler's view of a thread; private to sched/. */
#ifndef SCHED_THREAD_H
#define SCHED_THREAD_H

#include "lib/mpsc.h"
#include "sched/sched.h"
#include "sched/sync.h"

enum thread_state { T_RUNNING, T_READY, T_BLOCKED, T_DEAD };

struct thread {
	uint64_t rsp;		  /* saved by arch_switch */
	struct mpsc_node node;	  /* in another CPU's incoming queue */
	struct thread *next, *prev; /* in its CPU's ready list */
	int state;		  /* enum thread_state, atomic */
	int wake;		  /* a wake arrived (see sched_block), atomic */
	bool timed_out, idle;
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
	void *fpu; /* an app thread's SSE/x87 registers (arch_fpu_save), or NULL */
};

#define JOIN_DONE ((struct thread *)1)

#endif
