/* Xen PV entry (XEN_ELFNOTE_ENTRY): 64-bit mode, CPL 3 (the kernel is deprivileged),
 * paging set up by Xen's domain builder with the image at its link address,
 * %rsi = virtual address of struct start_info (xen/xen.h). Calls xenpv_start(start_info). */
#include "arch_x86_64/layout.h"

	.section .text.boot, "ax"
	.code64
	.globl xenpv_entry
xenpv_entry:
	cld
	mov	%rsi, %r12
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	shr	$3, %rcx
	xor	%eax, %eax
	rep stosq
	lea	boot_stack_top(%rip), %rsp
	xor	%ebp, %ebp
	mov	%r12, %rdi
	call	xenpv_start
	ud2

/* Filled by Xen: by the PV domain builder (XEN_ELFNOTE_HYPERCALL_PAGE), or on PVH when the
 * kernel writes its address to the MSR CPUID leaf base+2 names. Until then every 32-byte
 * slot is ud2, so a premature hypercall is a clear #UD, not a silent jump. */
	.text
	.balign 4096
	.globl hypercall_page
hypercall_page:
	.rept 2048
	ud2
	.endr

	.section .note.GNU-stack, "", @progbits
