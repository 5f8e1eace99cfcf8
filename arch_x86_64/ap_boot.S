/* Real-mode start-up code for the other CPUs on a PC (kvm, qemu): the BSP copies this to
 * physical AP_TRAMP (a page of the first MiB, which the PVH boot reserves), fills in the
 * five words at its end, maps the page at its own address and sends INIT-SIPI-SIPI. The
 * CPU starts in real mode at AP_TRAMP, goes through protected mode into long mode on the
 * kernel's page tables and calls ap_entry(ap_arg) on ap_stack. Every address in here is
 * where the code is once copied: T(x). */
#include "arch_x86_64/layout.h"

#define T(x) (AP_TRAMP + (x) - ap_tramp)

	.section .rodata
	.balign 16
	.globl ap_tramp, ap_tramp_end, ap_cr3, ap_efer, ap_stack, ap_arg, ap_entry
	.code16
ap_tramp:
	cli
	cld
	xor	%ax, %ax
	mov	%ax, %ds
	lgdtl	T(ap_gdt_ptr)
	mov	%cr0, %eax
	or	$1, %eax			/* PE */
	mov	%eax, %cr0
	ljmpl	$0x18, $T(ap_pm32)

	.code32
ap_pm32:
	mov	$0x10, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	%cr4, %eax
	or	$0x20, %eax			/* PAE */
	mov	%eax, %cr4
	mov	T(ap_cr3), %eax			/* the kernel's root table is below 4 GiB */
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx		/* EFER: LME, and NXE as on the BSP */
	rdmsr
	or	T(ap_efer), %eax
	wrmsr
	mov	%cr0, %eax
	or	$0x80010000, %eax		/* PG | WP */
	mov	%eax, %cr0
	ljmp	$0x08, $T(ap_lm64)

	.code64
ap_lm64:
	mov	T(ap_stack), %rsp
	mov	T(ap_arg), %rdi
	mov	T(ap_entry), %rax
	xor	%ebp, %ebp
	push	$0				/* a return address nobody uses: ABI alignment */
	jmp	*%rax

	/* accessed bits preset: the CPU would set them itself, with a write to this page,
	 * which is mapped read-only once paging is on */
	.balign 8
ap_gdt:
	.quad	0
	.quad	0x00af9b000000ffff		/* 0x08 64-bit code */
	.quad	0x00cf93000000ffff		/* 0x10 data */
	.quad	0x00cf9b000000ffff		/* 0x18 32-bit code */
ap_gdt_ptr:
	.word	ap_gdt_ptr - ap_gdt - 1
	.long	T(ap_gdt)
	.balign 8
ap_cr3:		.quad 0
ap_efer:	.quad 0
ap_stack:	.quad 0
ap_arg:		.quad 0
ap_entry:	.quad 0
ap_tramp_end:

	.section .note.GNU-stack, "", @progbits
