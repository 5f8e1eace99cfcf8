/* arch_switch(uint64_t *save_rsp, uint64_t next_rsp): the context switch. The System V ABI
 * makes the caller save everything but %rbx, %rbp, %r12-%r15, so these six and the stack
 * pointer are a thread's whole context. */
	.text
	.globl arch_switch
arch_switch:
	push	%rbp
	push	%rbx
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, (%rdi)
	mov	%rsi, %rsp
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbx
	pop	%rbp
	ret

/* A new thread's first switch "returns" here, with arch_thread_stack()'s fn in %r12 and
 * its argument in %r13. */
	.globl arch_thread_start
arch_thread_start:
	mov	%r13, %rdi
	call	*%r12
	ud2

	.section .note.GNU-stack, "", @progbits
