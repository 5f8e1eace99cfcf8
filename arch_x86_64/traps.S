/* Entry stubs (native: vectors 0-255; Xen PV: exceptions 0-31 and the event upcall), in
 * two flavours that end in the same struct trap_frame (arch.h) and the same trap_dispatch():
 * - native: the CPU pushed ss, rsp, rflags, cs, rip [, error]; return with iretq;
 * - Xen PV: Xen's bounce frame has %rcx and %r11 on top of that (xen/arch-x86/xen-x86_64.h);
 *   return with HYPERVISOR_iret, which wants rax, r11, rcx, flags on top of the frame.
 * Stubs are 16 bytes apart: stub for vector v = trap_stubs_<kind> + 16 * v. */
#include <xen/xen.h>

#include "arch_x86_64/layout.h"

/* vectors whose exceptions push an error code */
#define HAS_ERROR(v) ((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || (v) == 21 || \
		      (v) == 29 || (v) == 30)

.macro STUBS kind, prologue, count, main, own
	.balign 16
	.globl trap_stubs_\kind
trap_stubs_\kind:
	.set vec, 0
	.rept \count
	.balign 16
	\prologue
	.if HAS_ERROR(vec) == 0
	pushq	$0
	.endif
	pushq	$vec
	.if (vec == 2) || (vec == 8) || (vec == 18)
	jmp	\own				/* own IST stack (traps.c): handled there */
	.else
	jmp	\main
	.endif
	.set vec, vec + 1
	.endr
.endm

.macro SAVE_REGS
	push	%rax
	push	%rcx
	push	%rdx
	push	%rbx
	push	%rbp
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
.endm

.macro RESTORE_REGS
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rbp
	pop	%rbx
	pop	%rdx
	pop	%rcx
	pop	%rax
.endm

.macro NOTHING
.endm
.macro POP_XEN_RCX_R11
	pop	%rcx
	pop	%r11
.endm

	.text
	/* the kernel's IDT, the app IDT (IST: trap_entry_native), Xen PV's trap table */
	STUBS native, NOTHING, 256, trap_common_native, trap_common_native
	STUBS app, NOTHING, 256, trap_entry_native, trap_common_native
	STUBS xenpv, POP_XEN_RCX_R11, 32, trap_common_xenpv, trap_common_xenpv

/* Xen PV event upcall (CALLBACKTYPE_event): the same bounce frame as an exception without
 * an error code; dispatched as vector VEC_XEN_UPCALL. */
	.globl xenpv_upcall_entry
xenpv_upcall_entry:
	pop	%rcx
	pop	%r11
	pushq	$0
	pushq	$0xf3
	jmp	trap_common_xenpv

/* Xen PV failsafe callback: Xen could not return to us (bad segment); ds, es, fs, gs sit
 * between %r11 and the frame. Reported as vector 0xf4, which nothing handles: a panic. */
	.globl xenpv_failsafe_entry
xenpv_failsafe_entry:
	pop	%rcx
	pop	%r11
	add	$32, %rsp
	pushq	$0
	pushq	$0xf4
	jmp	trap_common_xenpv

/* While an HP-mode app's code may run (the app IDT is loaded: traps.c), native vectors
 * other than #DF, NMI and #MC arrive on this CPU's IST_ENTRY stack. The app runs in ring 0
 * on its own stack, so the CPU would otherwise push the frame there, over the 128-byte
 * red zone below its %rsp that the x86-64 ABI lets the app's code keep data in. The frame
 * is moved off the IST stack at once (it could not stay: the handler may switch threads)
 * to where it belongs, and the kernel's IDT is loaded again:
 * - the interrupted %rsp is the kernel's (upper half; the last instructions of the
 *   syscall return): just below it, where the CPU would have put it;
 * - it is the app's (lower half): the thread's entry stack (%gs:CPU_ENTRY_STACK).
 * Then on as usual, with the same 7 words (vector, error, rip, cs, rflags, rsp, ss).
 * The kernel's own code never runs with the app IDT: an IST stack is not reentrant, and
 * nested under TCG (Xen PVH) a vector is now and then delivered twice in a row, which on
 * an IST stack overwrites the first frame. That case is recognised (the second frame
 * interrupted a stub, on this IST stack) and ends the app with a clear message. */
trap_entry_native:
	push	%rax
	push	%rcx
	push	%rsi
	KERNEL_IDT
	mov	64(%rsp), %rax			/* the interrupted %rsp */
	mov	%rax, %rcx
	sub	%rsp, %rcx
	cmp	$256, %rcx			/* just above us: this IST stack */
	jb	3f
	bt	$63, %rax
	jc	1f
	mov	%gs:CPU_ENTRY_STACK, %rax
	test	%rax, %rax
	jnz	1f
	pop	%rsi				/* no entry stack (a kernel thread): stay */
	pop	%rcx
	pop	%rax
	jmp	trap_common_native
1:	and	$-16, %rax
	sub	$56, %rax
	xor	%ecx, %ecx
2:	mov	24(%rsp, %rcx, 8), %rsi
	mov	%rsi, (%rax, %rcx, 8)
	inc	%ecx
	cmp	$7, %ecx
	jb	2b
	pop	%rsi
	pop	%rcx
	xchg	%rax, (%rsp)
	mov	(%rsp), %rsp
	jmp	trap_common_native
3:	mov	24(%rsp), %rdi			/* the vector */
	mov	%gs:CPU_ENTRY_STACK, %rsp
	test	%rsp, %rsp
	jz	4f
	sti
	call	hp_lost_frame			/* ends the app; does not return */
4:	ud2

trap_common_native:
	testb	$3, 24(%rsp)			/* from ring 3 (normal mode): the kernel's GS */
	jz	1f
	swapgs
1:	testb	$1, arch_smap(%rip)		/* SMAP: AC off (an app may have set it; */
	jz	1f				/* iretq gives the interrupted code its own) */
	clac
1:	SAVE_REGS
	mov	%rsp, %rdi
	cld
	call	trap_dispatch
	/* back to an HP-mode app's stack (ring 0): the app IDT (see trap_entry_native) */
	.globl trap_return_native
trap_return_native:
	btq	$63, 160(%rsp)			/* the frame's rsp */
	jc	1f
	testb	$3, 144(%rsp)			/* the frame's cs: ring 3 needs no IST */
	jnz	1f
	APP_IDT
	jmp	2f
1:	KERNEL_IDT
2:	RESTORE_REGS
	add	$16, %rsp			/* vector, error */
	testb	$3, 8(%rsp)			/* to ring 3: the app's GS again */
	jz	3f
	swapgs
3:	iretq

trap_common_xenpv:
	SAVE_REGS
	mov	%rsp, %rdi
	cld
	call	trap_dispatch
	.globl trap_return_xenpv
trap_return_xenpv:
	RESTORE_REGS
	add	$16, %rsp
	pushq	$0				/* flags: not returning from a syscall */
	jmp	hypercall_page + __HYPERVISOR_iret * 32

	.section .note.GNU-stack, "", @progbits
