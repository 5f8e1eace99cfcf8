/* The CPU-mode operations that differ between a native kernel (PVH entry: ring 0, real
 * IDT, hlt) and a deprivileged Xen PV kernel (trap table, iret and block by hypercall).
 * The entry picks one set; everything above calls through `arch`, like Linux's pv_ops. */
#ifndef ARCH_ARCH_H
#define ARCH_ARCH_H

#include "lib/compiler.h"

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rbx, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct paging_ops;

struct arch_ops {
	const char *name; /* "native" or "xen-pv" */
	const struct paging_ops *paging;
	void (*cpu_init)(void);
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

/* Continues on another stack by calling fn(arg) there; fn does not return. */
void __noreturn arch_run_on_stack(void *top, void (*fn)(void *), void *arg);

/* This CPU's index: 0 until the scheduler starts the other vCPUs. */
static inline unsigned arch_cpu_id(void)
{
	return 0;
}

void trap_dispatch(struct trap_frame *f);
const char *trap_name(uint64_t vector);

#endif
