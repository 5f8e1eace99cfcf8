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
struct syscall_frame;
struct app_ctx {
	uint64_t rsp;
};

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
	/* loads the FS base (an app's thread pointer) on this CPU */
	void (*set_fs_base)(uint64_t base);
	/* App support: where the CPU mode takes an app's events and syscalls from; readies
	 * this CPU for the app (user: normal mode, whose root table, where the mode needs
	 * one, is user_root: mm_user_root); enters the app (app_enter below); the selectors
	 * of kernel code, for a trap frame that is to resume in the kernel */
	void (*set_kernel_stack)(uint64_t top);
	int (*app_prepare)(bool user, uint64_t user_root);
	int (*app_enter)(uint64_t entry, uint64_t sp, struct app_ctx *ctx, uint64_t *entry_stack);
	int (*app_resume)(const struct syscall_frame *f, struct app_ctx *ctx,
			  uint64_t *entry_stack);
	/* the same for normal mode (ring 3 natively; Xen PV: user mode on the app's own root) */
	int (*app_enter_user)(uint64_t entry, uint64_t sp, struct app_ctx *ctx,
			      uint64_t *entry_stack);
	int (*app_resume_user)(const struct syscall_frame *f, struct app_ctx *ctx,
			       uint64_t *entry_stack);
	/* back to the app with every register of *f, as an interrupt returns (rt_sigreturn);
	 * called on the entry stack with interrupts off, from a syscall of either mode */
	void (*app_return)(const struct trap_frame *f) __noreturn;
	uint64_t kernel_cs, kernel_ss;
};


extern const struct arch_ops *arch;
extern const struct arch_ops arch_native, arch_xenpv;

/* SMEP (the kernel never runs a user page) and SMAP (it touches one only between
 * user_access_begin and _end: the copy helpers), where the CPU has them (native only) */
extern bool arch_smep, arch_smap;
/* before the first cpu_init: the command line's `nosmep` / `nosmap` turn them off (a
 * hypervisor that emulates ring 0 may not know stac/clac: this machine's local KVM stops
 * the VM at them) */
void arch_user_guard_options(bool smep, bool smap);

static inline void user_access_begin(void)
{
	if (arch_smap)
		__asm__ __volatile__("stac" ::: "memory");
}

static inline void user_access_end(void)
{
	if (arch_smap)
		__asm__ __volatile__("clac" ::: "memory");
}

/* whether a trap frame interrupted user mode: its RPL. (A Xen PV kernel runs in ring 3
 * too, on the same 64-bit selector as its user mode, but Xen presents a kernel-mode frame
 * with RPL 0, which is also how iret goes back to kernel mode: kernel_cs.) */
static inline bool frame_from_user(const struct trap_frame *f)
{
	return (f->cs & 3) == 3;
}

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

/* Set by hp/: offered every exception no extable entry claims, before a panic; returns
 * true when it was the app's (and has redirected the frame so the app is ended). */
extern bool (*arch_app_fault)(struct trap_frame *f);
/* Set by hp/: called at the end of every interrupt that came while the app's code ran,
 * after the scheduler's; may redirect the frame (the app is being ended). */
extern void (*arch_app_interrupt)(struct trap_frame *f);

/* A thread's user state, loaded at each switch to it (sched/): its FS base and the entry
 * stack syscalls and interrupts of its app continue on (0 for a kernel thread). */
static inline void arch_thread_state(uint64_t fs_base, uint64_t entry_stack)
{
	struct cpu *c = this_cpu();

	if (c->entry_stack != entry_stack) {
		c->entry_stack = entry_stack;
		if (entry_stack && arch->set_kernel_stack)
			arch->set_kernel_stack(entry_stack);
	}
	if (c->fs_base != fs_base) {
		c->fs_base = fs_base;
		arch->set_fs_base(fs_base);
	}
}

/* An app thread's x87/SSE registers (fxsave format, 512 bytes, 16-byte aligned); the
 * kernel uses none, so they are saved and restored only at switches between apps. */
#define FPU_AREA_SIZE 512
static inline void arch_fpu_save(void *area)
{
	__asm__ __volatile__("fxsave64 (%0)" : : "r"(area) : "memory");
}
static inline void arch_fpu_restore(const void *area)
{
	__asm__ __volatile__("fxrstor64 (%0)" : : "r"(area) : "memory");
}
/* the state a process starts with: x87 control word 0x37f, MXCSR 0x1f80 */
static inline void arch_fpu_init_area(void *area)
{
	uint8_t *b = area;

	for (int i = 0; i < FPU_AREA_SIZE; i++)
		b[i] = 0;
	b[0] = 0x7f;
	b[1] = 0x03;
	b[24] = 0x80;
	b[25] = 0x1f;
}

/* HP-mode app entry (arch_x86_64/syscall.S). arch->app_enter saves the kernel's
 * callee-saved registers and stack pointer in *ctx, records the stack below them as this
 * thread's entry stack (*entry_stack and the CPU's), and starts `entry` on stack `sp` with
 * every other register zero: natively by a jump in ring 0; on Xen PV by HYPERVISOR_iret
 * into Xen's user mode (syscall.S says why). It returns `code` when app_leave(ctx, code)
 * runs on that thread. */
int app_enter_native(uint64_t entry, uint64_t sp, struct app_ctx *ctx, uint64_t *entry_stack);
int app_enter_xenpv(uint64_t entry, uint64_t sp, struct app_ctx *ctx, uint64_t *entry_stack);
int app_resume_native(const struct syscall_frame *f, struct app_ctx *ctx, uint64_t *entry_stack);
int app_resume_xenpv(const struct syscall_frame *f, struct app_ctx *ctx, uint64_t *entry_stack);
int app_enter_user_native(uint64_t entry, uint64_t sp, struct app_ctx *ctx,
			  uint64_t *entry_stack);
int app_resume_user_native(const struct syscall_frame *f, struct app_ctx *ctx,
			   uint64_t *entry_stack);
void __noreturn app_return_native(const struct trap_frame *f);
void __noreturn app_return_xenpv(const struct trap_frame *f);
void __noreturn app_leave(struct app_ctx *ctx, int code);
/* The frame the syscall entry builds on the entry stack: the app's registers, then an
 * iret frame (native fills cs and ss with 0). */
struct syscall_frame {
	uint64_t r15, r14, r13, r12, rbp, rbx, r9, r8, r10, rdx, rsi, rdi;
	uint64_t nr, rip, cs, rflags, rsp, ss;
};
/* hp/'s dispatcher, called by the entry with interrupts on; returns the app's %rax */
long hp_syscall(struct syscall_frame *f);

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
