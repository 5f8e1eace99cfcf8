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

.macro STUBS kind, prologue, count
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
	jmp	trap_common_\kind
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
	STUBS native, NOTHING, 256
	STUBS xenpv, POP_XEN_RCX_R11, 32

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

trap_common_native:
	SAVE_REGS
	mov	%rsp, %rdi
	cld
	call	trap_dispatch
	RESTORE_REGS
	add	$16, %rsp			/* vector, error */
	iretq

trap_common_xenpv:
	SAVE_REGS
	mov	%rsp, %rdi
	cld
	call	trap_dispatch
	RESTORE_REGS
	add	$16, %rsp
	pushq	$0				/* flags: not returning from a syscall */
	jmp	hypercall_page + __HYPERVISOR_iret * 32

	.section .note.GNU-stack, "", @progbits
