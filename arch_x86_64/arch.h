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

struct arch_ops {
	const char *name; /* "native" or "xen-pv" */
	void (*cpu_init)(void);
	/* console before the platform is known (may print nowhere) */
	void (*early_write)(const char *s, size_t n);
	/* ends the VM when no platform was selected yet */
	void (*early_exit)(int code);
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
/* true when [p, p+len) lies in memory the kernel can read without faulting (its image) */
bool arch_kernel_readable(uint64_t p, size_t len);

void trap_dispatch(struct trap_frame *f);
const char *trap_name(uint64_t vector);

#endif
