/* The CPU-mode operations that differ between a native kernel (PVH entry: ring 0, real
 * IDT, hlt) and a deprivileged Xen PV kernel (trap table, iret and block by hypercall).
 * The entry picks one set; everything above calls through `arch`, like Linux's pv_ops. */
#ifndef ARCH_ARCH_H
#define ARCH_ARCH_H

#include "lib/compiler.h"
#include "arch_x86_64/percpu.h"

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct paging_ops;
struct cpu;

struct arch_ops {
	const char *name; /* "native" or "xen-pv" */
	const struct paging_ops *paging;
	/* loads this CPU's tables (GDT/IDT/TSS, or Xen's trap table) and its GS base */
	void (*cpu_init)(struct cpu *c);
	/* the interrupt flag: native IF, Xen PV the event mask in vcpu_info */
	uint64_t (*irq_save)(void); /* disables, returns whether they were enabled */
	void (*irq_restore)(uint64_t enabled);
	/* with interrupts disabled: enables them and waits for one, atomically */
	void (*halt)(void);
	/* whether the interrupted context of a trap frame had interrupts enabled */
	bool (*frame_irqs_on)(const struct trap_frame *f);
	/* console before the platform is known (may print nowhere) */
	void (*early_write)(const char *s, size_t n);
	/* ends the VM when no platform was selected yet */
	void (*early_exit)(int code);
	/* moves the CPU's exception stacks to guarded ones (NULL: the mode has none) */
	void (*set_exception_stacks)(void *(*stack_alloc)(size_t size));
};

extern const struct arch_ops *arch;
extern const struct arch_ops arch_native, arch_xenpv;

/* Exception table: a faulting instruction listed here resumes at its fixup address with
 * %rax set to the vector, instead of panicking. */
#define EXTABLE(insn, fixup) \
	".pushsection .extable, \"a\"\n.balign 8\n.quad " #insn ", " #fixup "\n.popsection\n"

/* Executes ud2 under an extable entry: proves the trap path delivers and returns. Returns
 * the vector that was taken (6) or 0 if none was. */
uint64_t arch_trap_roundtrip(void);
/* Tries one access and reports the exception it raised (e.g. 14) or 0 if none: for tests
 * of memory protection that must not panic. exec calls p, so p must hold a `ret`. */
uint64_t arch_probe_read(const volatile void *p);
uint64_t arch_probe_write(volatile void *p);
uint64_t arch_probe_exec(const void *p);

/* The context switch: saves this thread's registers on its stack and *save_rsp, resumes
 * the one whose stack pointer is next_rsp. */
void arch_switch(uint64_t *save_rsp, uint64_t next_rsp);
/* The stack pointer a new thread starts with: its first arch_switch calls fn(arg) (which
 * must not return) on the stack ending at top. */
static inline uint64_t arch_thread_stack(void *top, void (*fn)(void *), void *arg)
{
	extern char arch_thread_start[];
	uint64_t *sp = (uint64_t *)top - 7;

	/* popped by arch_switch: r15, r14, r13 (arg), r12 (fn), rbx, rbp; then its ret */
	sp[0] = sp[1] = sp[4] = sp[5] = 0;
	sp[2] = (uint64_t)arg;
	sp[3] = (uint64_t)fn;
	sp[6] = (uint64_t)arch_thread_start;
	return (uint64_t)sp;
}

/* Continues on another stack by calling fn(arg) there; fn does not return. */
void __noreturn arch_run_on_stack(void *top, void (*fn)(void *), void *arg);

void trap_dispatch(struct trap_frame *f);

/* Interrupt vectors (native): handlers run with interrupts disabled; the platform sends
 * the EOI. Vector 32-255. */
#define VEC_FIRST_DEVICE 0x30
#define VEC_LAST_DEVICE 0xdf
#define VEC_XEN_UPCALL 0xf3 /* Xen: the event upcall (PVH vector, PV callback) */
#define VEC_TIMER 0xec
#define VEC_IPI 0xfd
#define VEC_SPURIOUS 0xff
/* A fixed vector's handler (timer, IPI, Xen upcall): fn(arg) with interrupts off. */
void arch_irq_set_handler(unsigned vector, void (*fn)(void *arg), void *arg);
/* A free device vector (VEC_FIRST_DEVICE..VEC_LAST_DEVICE) now running fn(arg), or
 * -ENOSPC. The same vector on every CPU; the interrupt's routing picks the CPU. */
int arch_irq_alloc(void (*fn)(void *arg), void *arg);
void arch_irq_free(unsigned vector);
/* called after every interrupt, before the interrupted context resumes (the scheduler
 * preempts there) */
extern void (*arch_irq_exit)(const struct trap_frame *f);

static inline uint64_t irq_save(void)
{
	return arch->irq_save();
}

static inline void irq_restore(uint64_t enabled)
{
	arch->irq_restore(enabled);
}
const char *trap_name(uint64_t vector);

#endif
