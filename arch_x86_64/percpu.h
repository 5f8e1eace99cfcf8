/* Per-CPU data: one struct cpu per vCPU, reached through the GS base, so `this_cpu()` is
 * one load. Set up on each CPU by arch->cpu_init(). */
#ifndef ARCH_PERCPU_H
#define ARCH_PERCPU_H

#include "arch_x86_64/layout.h"
#include "lib/compiler.h"

#define MAX_CPUS 64

struct vcpu_info;

struct cpu {
	struct cpu *self; /* %gs:0 */
	uint32_t id;	  /* %gs:8 */
	uint32_t preempt; /* %gs:12: no preemption while non-zero */
	uint32_t apic_id;
	uint32_t irq_depth; /* interrupt handlers running on this CPU */
	bool online;
	/* the scheduler wants this CPU back: taken at the next preemption point */
	bool resched;
	/* Xen: this vCPU's vcpu_info (PV keeps its interrupt flag there) */
	struct vcpu_info *xen_vcpu;
	void *sched; /* sched/'s per-CPU state */
	uint64_t irqs; /* interrupts taken */
	/* interrupts that arrived between sti and hlt in native_halt (see there) */
	uint64_t halt_window_irqs;
	/* The running thread's entry stack (%gs:64): where a syscall, or an interrupt that
	 * comes while an HP-mode app runs on its own stack, continues (0: not an app thread).
	 * The syscall entry keeps the app's stack pointer in scratch (%gs:72) meanwhile. */
	uint64_t entry_stack;
	uint64_t scratch;
	uint64_t fs_base; /* the FS base loaded on this CPU */
	uint64_t idt_app; /* %gs:88: the app's IDT is loaded (traps.c), not the kernel's */
	uint64_t *tss_rsp0; /* %gs:96: where ring 3's interrupts switch stacks (native) */
	uint64_t hv_yields; /* waits that gave the physical CPU away (cpu_spin_wait) */
	/* the running thread (sched/ sets it at each switch), read in one %gs-relative load:
	 * a thread preempted between reading this_cpu() and a field of it may resume on
	 * another CPU, and would read that field of the CPU it left */
	void *thread;
};

/* the offsets the entry code uses (layout.h) */
_Static_assert(__builtin_offsetof(struct cpu, entry_stack) == CPU_ENTRY_STACK, "entry_stack");
_Static_assert(__builtin_offsetof(struct cpu, scratch) == CPU_SCRATCH, "scratch");
_Static_assert(__builtin_offsetof(struct cpu, idt_app) == CPU_IDT_APP, "idt_app");
_Static_assert(__builtin_offsetof(struct cpu, tss_rsp0) == CPU_TSS_RSP0, "tss_rsp0");

extern struct cpu cpus[MAX_CPUS];

static inline struct cpu *this_cpu(void)
{
	struct cpu *c;

	__asm__ __volatile__("mov %%gs:0, %0" : "=r"(c));
	return c;
}

/* The running thread (see struct cpu's thread). */
static inline void *this_cpu_thread(void)
{
	void *t;

	__asm__ __volatile__("mov %%gs:%c1, %0" : "=r"(t) : "i"(__builtin_offsetof(struct cpu, thread)));
	return t;
}

/* Whether this CPU's GS base points at its struct cpu yet (set by arch->cpu_init). */
static inline bool this_cpu_ready(void)
{
	return cpus[0].self != NULL;
}

/* This CPU's index. */
static inline unsigned arch_cpu_id(void)
{
	unsigned id;

	__asm__ __volatile__("movl %%gs:8, %0" : "=r"(id));
	return id;
}

/* Preemption off (nests): per-CPU data stays this CPU's and nothing else runs here, though
 * interrupts still come. */
static inline void preempt_disable(void)
{
	__asm__ __volatile__("incl %%gs:12" ::: "memory");
}

/* set by the scheduler: switches away if this CPU is wanted (preemption was deferred) */
extern void (*preempt_point)(void);

static inline void preempt_enable(void)
{
	__asm__ __volatile__("decl %%gs:12" ::: "memory");
	/* this_cpu() read after the decl: from there the thread may move to another CPU */
	struct cpu *c = this_cpu();

	if (unlikely(!c->preempt && c->resched) && preempt_point)
		preempt_point();
}

#endif
