/* PVH entry (xen/arch-x86/hvm/start_info.h): 32-bit flat protected mode, paging off,
 * %ebx = physical address of struct hvm_start_info. Used by QEMU/KVM and Xen PVH.
 * Builds the boot page tables, enters long mode, jumps to the -2 GiB link address and
 * calls pvh_start(start_info_pa). Until then addresses are physical: PA(x). */
#include "arch_x86_64/layout.h"

#define PA(x) ((x) - KERNEL_VBASE)
#define PTE_P 0x1
#define PTE_W 0x2
#define PTE_PS 0x80

	.section .text.boot, "ax"
	.code32
	.globl pvh_entry
pvh_entry:
	cli
	cld
	mov	%ebx, %esi			/* start info, kept in %esi throughout */
	lgdt	PA(boot_gdt_ptr)
	ljmp	$SEL_BOOT_CODE32, $PA(1f)
1:	mov	$SEL_KDATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	%eax, %fs
	mov	%eax, %gs

	/* .bss holds the page tables and the stack: clear it first */
	mov	$PA(__bss_start), %edi
	mov	$PA(__bss_end), %ecx
	sub	%edi, %ecx
	shr	$2, %ecx
	xor	%eax, %eax
	rep stosl
	mov	$PA(boot_stack_top), %esp

	/* long mode is required; NX is used when offered */
	mov	$0x80000000, %eax
	cpuid
	cmp	$0x80000001, %eax
	jb	no_long_mode
	mov	$0x80000001, %eax
	cpuid
	bt	$29, %edx
	jnc	no_long_mode
	mov	%edx, %ebp			/* bit 20: NX */

	/* pml4[0] -> identity map of 0..4 GiB (needed only to get to the high half), and the
	 * same at DIRECT_BASE (pml4[273]), where the memory manager's direct map will be;
	 * pml4[511] -> pdpt_high (-2 GiB). The two share their page directories but the
	 * first: the identity map leaves page 0 out (a NULL dereference faults), the alias
	 * maps it, since a loader may put boot structures there (SeaBIOS's PVH loader puts
	 * the memory map at 0x5a8) */
	movl	$PA(boot_pdpt_low) + (PTE_P | PTE_W), PA(boot_pml4)
	movl	$PA(boot_pdpt_direct) + (PTE_P | PTE_W), PA(boot_pml4) + ((DIRECT_BASE >> 39) & 511) * 8
	movl	$PA(boot_pdpt_high) + (PTE_P | PTE_W), PA(boot_pml4) + 511 * 8
	movl	$PA(boot_pd_high) + (PTE_P | PTE_W), PA(boot_pdpt_high) + 510 * 8
	xor	%ecx, %ecx
2:	mov	%ecx, %eax
	shl	$12, %eax
	add	$PA(boot_pd_low) + (PTE_P | PTE_W), %eax
	mov	%eax, PA(boot_pdpt_low)(, %ecx, 8)
	mov	%eax, PA(boot_pdpt_direct)(, %ecx, 8)
	inc	%ecx
	cmp	$4, %ecx
	jb	2b
	movl	$PA(boot_pd_direct0) + (PTE_P | PTE_W), PA(boot_pdpt_direct)
	/* 2048 x 2 MiB identity pages (all below 4 GiB, so the upper halves stay 0); the
	 * first 512 of them also map the kernel's 1 GiB at -2 GiB, and the alias's first
	 * GiB */
	xor	%ecx, %ecx
3:	mov	%ecx, %eax
	shl	$21, %eax
	or	$(PTE_P | PTE_W | PTE_PS), %eax
	mov	%eax, PA(boot_pd_low)(, %ecx, 8)
	cmp	$512, %ecx
	jae	4f
	mov	%eax, PA(boot_pd_high)(, %ecx, 8)
	mov	%eax, PA(boot_pd_direct0)(, %ecx, 8)
4:	inc	%ecx
	cmp	$2048, %ecx
	jb	3b
	/* the first 2 MiB in 4 KiB pages, page 0 left out: a NULL dereference faults */
	movl	$PA(boot_pt_low0) + (PTE_P | PTE_W), PA(boot_pd_low)
	mov	$1, %ecx
5:	mov	%ecx, %eax
	shl	$12, %eax
	or	$(PTE_P | PTE_W), %eax
	mov	%eax, PA(boot_pt_low0)(, %ecx, 8)
	inc	%ecx
	cmp	$512, %ecx
	jb	5b

	mov	%cr4, %eax
	or	$0x20, %eax			/* PAE */
	mov	%eax, %cr4
	mov	$PA(boot_pml4), %eax
	mov	%eax, %cr3
	mov	$0xc0000080, %ecx		/* EFER */
	rdmsr
	or	$0x100, %eax			/* LME */
	bt	$20, %ebp
	jnc	6f
	or	$0x800, %eax			/* NXE */
6:	wrmsr
	mov	%cr0, %eax
	or	$0x80010001, %eax		/* PG | WP | PE */
	mov	%eax, %cr0
	ljmp	$SEL_KCODE, $PA(long_mode)

no_long_mode:
	mov	$PA(msg_no_long_mode), %esi
7:	lodsb
	test	%al, %al
	jz	8f
	out	%al, $0xe9			/* Xen's HVM debug port */
	mov	$0x3f8, %dx			/* COM1 */
	out	%al, %dx
	jmp	7b
8:	mov	$2, %al				/* QEMU isa-debug-exit: code 2, panic */
	out	%al, $0xf4
9:	hlt
	jmp	9b

	.code64
long_mode:
	movabs	$high_half, %rax
	jmp	*%rax
high_half:
	lea	boot_stack_top(%rip), %rsp
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	xor	%ebp, %ebp			/* ends the backtrace */
	mov	%esi, %edi
	call	pvh_start
	ud2

	.section .rodata
msg_no_long_mode:
	.asciz "Amphi: this CPU has no long mode (x86_64); cannot boot\n"

	.balign 8
boot_gdt:
	.quad	0
	.quad	0x00af9a000000ffff		/* SEL_KCODE: 64-bit code */
	.quad	0x00cf92000000ffff		/* SEL_KDATA */
	.quad	0, 0, 0, 0
	.quad	0x00cf9a000000ffff		/* SEL_BOOT_CODE32 */
boot_gdt_end:
	.balign 8
boot_gdt_ptr:
	.word	boot_gdt_end - boot_gdt - 1
	.long	PA(boot_gdt)

	.section .bss.pagealigned, "aw", @nobits
	.balign 4096
	.globl boot_pml4
boot_pml4:	.skip 4096
boot_pdpt_low:	.skip 4096
boot_pdpt_high:	.skip 4096
boot_pd_low:	.skip 4 * 4096
boot_pd_high:	.skip 4096
boot_pt_low0:	.skip 4096
boot_pdpt_direct: .skip 4096
boot_pd_direct0: .skip 4096

	.section .bss
	.balign 16
	.globl boot_stack, boot_stack_top
boot_stack:	.skip BOOT_STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
