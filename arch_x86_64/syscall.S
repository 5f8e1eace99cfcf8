/* HP-mode app entry and exit, and the native syscall entry (LSTAR).
 *
 * HP mode: the app runs in ring 0 on its own stack, in the kernel's address space. Its
 * `syscall` instruction (CPL 0 -> CPL 0) jumps here with the return address in %rcx, its
 * flags in %r11 and interrupts off (FMASK, traps.c); nothing was pushed. The entry moves
 * to the thread's entry stack without touching the app's stack (its red zone may be in
 * use), saves the app's registers as a struct syscall_frame (arch.h), runs hp_syscall()
 * with interrupts on, and returns by restoring the flags and the stack pointer and jumping
 * back: no privilege change, no page-table switch, no sysret or iret. As on Linux, every
 * register but %rax (the result), %rcx and %r11 is preserved.
 */
#include <xen/xen.h>

#include "arch_x86_64/layout.h"

/* The x86-64 ABI's process entry: %rdx is an atexit function (none: 0), the rest is
 * undefined; every register is zeroed so nothing of the kernel's leaks into the app. */
.macro ZERO_REGS_BUT_RCX
	xor	%eax, %eax
	xor	%ebx, %ebx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%ebp, %ebp
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d
.endm
.macro ZERO_REGS
	ZERO_REGS_BUT_RCX
	xor	%ecx, %ecx
.endm

/* app_enter's and app_resume's start: the kernel's callee-saved registers and stack
 * pointer into *ctx, and the stack below them (16-byte aligned) as the thread's entry
 * stack (*slot and the CPU's) */
.macro RESUME_PROLOGUE_ARGS ctx, slot
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	sub	$8, %rsp
	mov	%rsp, (\ctx)
	mov	%rsp, (\slot)
	mov	%rsp, %gs:CPU_ENTRY_STACK
.endm
.macro RESUME_PROLOGUE
	RESUME_PROLOGUE_ARGS %rsi, %rdx
.endm

/* the registers of struct syscall_frame below its nr (arch.h) */
.macro PUSH_ARGS
	push	%rax				/* nr */
	push	%rdi
	push	%rsi
	push	%rdx
	push	%r10
	push	%r8
	push	%r9
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
.endm
.macro POP_ARGS
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	pop	%r9
	pop	%r8
	pop	%r10
	pop	%rdx
	pop	%rsi
	pop	%rdi
	add	$8, %rsp			/* nr */
.endm
/* calls fn(frame) on a 16-byte aligned stack */
.macro CALL_WITH_FRAME fn
	mov	%rsp, %rdi
	mov	%rsp, %rbp
	and	$-16, %rsp
	cld
	call	\fn
	mov	%rbp, %rsp
.endm

	.text
	.globl syscall_entry_native
syscall_entry_native:
	mov	%rsp, %gs:CPU_SCRATCH
	mov	%gs:CPU_ENTRY_STACK, %rsp
	KERNEL_IDT
	pushq	$0				/* ss */
	pushq	%gs:CPU_SCRATCH			/* rsp */
	push	%r11				/* rflags */
	pushq	$0				/* cs */
	push	%rcx				/* rip */
	PUSH_ARGS
	sti
	CALL_WITH_FRAME hp_syscall
	cli
syscall_exit_native:
	APP_IDT
	POP_ARGS
	pop	%rcx				/* rip */
	add	$8, %rsp			/* cs */
	mov	(%rsp), %r11
	/* The flags without IF, then the app's %rsp, then sti: its one-instruction shadow
	 * covers the jump, so no interrupt comes between here and the app with the kernel's
	 * stack or IDT, and if one does anyway (TCG), traps.S handles it by %rsp. */
	btrq	$9, (%rsp)
	popfq
	pop	%rsp
	sti
	jmp	*%rcx


/* Normal mode, natively: the app runs in ring 3 on its own pages (PTE_U), the kernel's are
 * out of its reach. SYSCALL from ring 3 comes here (LSTAR, set per CPU by app_prepare):
 * swapgs (the app may have changed its GS; the kernel's per-CPU pointer waits in
 * KERNEL_GS_BASE), the entry stack, the same frame and hp_syscall as HP mode, and back
 * with SYSRET. hp_syscall ends an app whose return address is outside the user range
 * (a `syscall` in the last user page returns to a non-canonical address); one in the top
 * page returns by iretq, which cannot fault in ring 0 there (SYSRET_TOP). The flags are
 * the app's arithmetic ones with IF: never its IOPL. */
	.globl syscall_entry_user
syscall_entry_user:
	swapgs
	mov	%rsp, %gs:CPU_SCRATCH
	mov	%gs:CPU_ENTRY_STACK, %rsp
	pushq	$(SEL_UDATA | 3)		/* ss */
	pushq	%gs:CPU_SCRATCH			/* rsp */
	push	%r11				/* rflags */
	pushq	$(SEL_UCODE | 3)		/* cs */
	push	%rcx				/* rip */
	PUSH_ARGS
	sti
	CALL_WITH_FRAME hp_syscall
	cli
syscall_exit_user:
	POP_ARGS
	andq	$RFLAGS_USER, 16(%rsp)
	orq	$RFLAGS_IF, 16(%rsp)
	mov	(%rsp), %rcx			/* rip */
	movabs	$SYSRET_TOP, %r11
	cmp	%r11, %rcx
	mov	16(%rsp), %r11			/* rflags (as SYSRET leaves them) */
	jae	1f
	mov	24(%rsp), %rsp			/* the app's; interrupts are off until sysret */
	swapgs
	sysretq
1:	swapgs					/* the frame (rip cs rflags rsp ss) is iretq's */
	iretq

/* Xen PV. The kernel runs in ring 3 in Xen's "kernel mode", where `syscall` is the
 * hypercall instruction, so the app runs in Xen's user mode, on the same page tables (the
 * user root is the kernel's: the address space is still one). Its `syscall` goes to Xen,
 * which switches to kernel mode and calls this callback (CALLBACKTYPE_syscall, events
 * masked) on the entry stack (HYPERVISOR_stack_switch) with %rcx, %r11 on top of an iret
 * frame (rip, cs, rflags, rsp, ss). Back through HYPERVISOR_iret with VGCF_in_syscall,
 * which restores %rax, %rip, %rflags and %rsp and leaves %rcx and %r11 clobbered, as a
 * syscall does anyway. */
	.globl syscall_entry_xenpv
syscall_entry_xenpv:
	add	$16, %rsp			/* Xen's copies of rcx, r11 */
	PUSH_ARGS
	CALL_WITH_FRAME syscall_xenpv
syscall_exit_xenpv:
	POP_ARGS
	pushq	$VGCF_in_syscall
	jmp	hypercall_page + __HYPERVISOR_iret * 32

/* int app_enter_xenpv(entry, sp, ctx, entry_stack): as app_enter, but into user mode by
 * HYPERVISOR_iret with events enabled */
	.globl app_enter_xenpv
app_enter_xenpv:
	RESUME_PROLOGUE_ARGS %rdx, %rcx
	mov	%rdi, %r12
	mov	%rsi, %r13
	mov	$FLAT_KERNEL_SS, %edi		/* Xen's kernel_sp: the entry stack */
	mov	%rsp, %rsi
	call	hypercall_page + __HYPERVISOR_stack_switch * 32
	test	%rax, %rax
	jnz	1f
	pushq	$FLAT_USER_SS
	push	%r13
	pushq	$0x202				/* IF: events on */
	pushq	$FLAT_USER_CS
	push	%r12
	pushq	$0				/* iret flags */
	ZERO_REGS
	jmp	hypercall_page + __HYPERVISOR_iret * 32
1:	mov	%eax, %esi			/* stack_switch failed: return its error */
	jmp	app_leave_here

/* int app_enter_native(uint64_t entry, uint64_t sp, struct app_ctx *ctx,
 *		       uint64_t *entry_stack) */
	.globl app_enter_native
app_enter_native:
	RESUME_PROLOGUE_ARGS %rdx, %rcx
	cli
	APP_IDT
	mov	%rsi, %rsp
	mov	%rdi, %rcx
	ZERO_REGS_BUT_RCX
	sti
	jmp	*%rcx

/* int app_resume_<mode>(const struct syscall_frame *f, struct app_ctx *ctx,
 *			 uint64_t *entry_stack): as app_enter, but the app starts by returning
 * from a syscall with the registers of *f and %rax = 0: a clone's child. */
/* copies the frame (18 words, arch.h) below the entry stack and points %rsp at it */
.macro RESUME_COPY
	mov	%rdi, %rsi
	sub	$144, %rsp
	mov	%rsp, %rdi
	mov	$18, %ecx
	rep movsq
	xor	%eax, %eax
.endm
	.globl app_resume_native
app_resume_native:
	RESUME_PROLOGUE
	cli
	RESUME_COPY
	jmp	syscall_exit_native

	.globl app_resume_xenpv
app_resume_xenpv:
	RESUME_PROLOGUE
	mov	%rdi, %r12
	mov	$FLAT_KERNEL_SS, %edi
	mov	%rsp, %rsi
	call	hypercall_page + __HYPERVISOR_stack_switch * 32
	test	%rax, %rax
	jnz	1f
	mov	%r12, %rdi
	RESUME_COPY
	movq	$FLAT_USER_CS, 112(%rsp)		/* the copy's cs, rflags and ss */
	movq	$0x202, 120(%rsp)
	movq	$FLAT_USER_SS, 136(%rsp)
	jmp	syscall_exit_xenpv
1:	mov	%eax, %esi
	jmp	app_leave_here


/* int app_enter_user_native(entry, sp, ctx, entry_stack): app_enter for normal mode: into
 * ring 3 by iretq, the entry stack also in the TSS (interrupts from ring 3 land there).
 * Interrupts off first: the TSS is this CPU's, found in one instruction and written in the
 * next; a thread preempted between the two and run on by another CPU would write its
 * entry stack into the TSS of the CPU it left, and that CPU would then push the frames of
 * whichever app thread it runs over this thread's saved registers. */
	.globl app_enter_user_native
app_enter_user_native:
	cli
	RESUME_PROLOGUE_ARGS %rdx, %rcx
	mov	%gs:CPU_TSS_RSP0, %rax
	mov	%rsp, (%rax)
	pushq	$(SEL_UDATA | 3)
	push	%rsi
	pushq	$0x202
	pushq	$(SEL_UCODE | 3)
	push	%rdi
	ZERO_REGS
	swapgs
	iretq

	.globl app_resume_user_native
app_resume_user_native:
	cli					/* (as app_enter_user_native) */
	RESUME_PROLOGUE
	mov	%gs:CPU_TSS_RSP0, %rax
	mov	%rsp, (%rax)
	RESUME_COPY
	jmp	syscall_exit_user

/* void app_return_<mode>(const struct trap_frame *f): back to the app with every register
 * of *f (rt_sigreturn), through the end of the interrupt path (traps.S). Called from a
 * syscall on the thread's entry stack with interrupts off; *f lies below the caller's
 * frames there, which are left for good. */
	.globl app_return_native
app_return_native:
	cli
	mov	%rdi, %rsp
	jmp	trap_return_native

	.globl app_return_xenpv
app_return_xenpv:
	mov	%rdi, %rsp
	jmp	trap_return_xenpv

/* void app_leave(struct app_ctx *ctx, int code): back to app_enter's caller */
	.globl app_leave
app_leave:
	mov	(%rdi), %rsp
app_leave_here:
	mov	%esi, %eax
	add	$8, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret

	.section .note.GNU-stack, "", @progbits
