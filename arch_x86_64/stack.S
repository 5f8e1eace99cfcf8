/* arch_run_on_stack(top, fn, arg): continue on a new stack by calling fn(arg) there;
 * fn must not return. %rbp = 0 ends backtraces at the new stack's base. */
	.text
	.globl arch_run_on_stack
arch_run_on_stack:
	mov	%rdi, %rsp
	xor	%ebp, %ebp
	mov	%rdx, %rdi
	call	*%rsi
	ud2

	.section .note.GNU-stack, "", @progbits
