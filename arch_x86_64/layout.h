/* Where the kernel lives. Shared by C, assembly and (by value) kernel.ld. */
#ifndef ARCH_LAYOUT_H
#define ARCH_LAYOUT_H

#define KERNEL_VBASE 0xffffffff80000000
#define KERNEL_PBASE 0x100000

/* The kernel's half of the address space (the low half is the HP-mode app's):
 * 0xffff800000000000-0xffff87ffffffffff  Xen's own (PML4 slots 256-271, PV guests only)
 * DIRECT_BASE      all RAM at DIRECT_BASE + physical address (64 TiB at most)
 * STACK_BASE       kernel stacks, each above an unmapped guard page
 * MMIO_BASE        device registers, uncached
 * KERNEL_VBASE     the kernel image (-2 GiB) */
#define DIRECT_BASE 0xffff888000000000
#define DIRECT_MAX 0x0000400000000000
#define STACK_BASE 0xffffc90000000000
#define STACK_AREA 0x0000010000000000
#define MMIO_BASE 0xffffca0000000000
#define MMIO_AREA 0x0000010000000000

/* GDT selectors (native). The order user data, then user code, is what SYSRET needs. */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x18
#define SEL_UCODE 0x20
#define SEL_TSS 0x28
/* 32-bit code selector used only by the PVH entry while it enters long mode (in its own
 * boot GDT) */
#define SEL_BOOT_CODE32 0x38
/* In each CPU's GDT: a data segment nobody loads, whose limit is the CPU's number, so that
 * `lsl` tells an app its CPU without a system call (the vDSO's getcpu; Linux does the
 * same). Readable from ring 3 (DPL 3); with RPL 3. */
#define SEL_CPUNR 0x3b

/* RFLAGS an app may set for itself (CF PF AF ZF SF DF OF AC): whatever path returns to
 * it, IOPL, NT, TF, VM and the rest come from the kernel, never from the app's registers */
#define RFLAGS_USER 0x40ed5
#define RFLAGS_IF 0x200
/* the top user page: SYSRET to an address there can fault in ring 0 on some CPUs (Intel,
 * with a non-canonical successor), so returns there go by iretq */
#define SYSRET_TOP 0x00007ffffffff000

#define BOOT_STACK_SIZE 16384
/* where the other CPUs of a PC start (real mode): a page in the reserved first MiB */
#define AP_TRAMP 0x8000
#define IST_STACK_SIZE 8192
/* struct cpu (percpu.h) fields the entry code reads through %gs */
#define CPU_ENTRY_STACK 64
#define CPU_SCRATCH 72
#define CPU_IDT_APP 88
#define CPU_TSS_RSP0 96

#ifdef __ASSEMBLY__
/* Which IDT is loaded (traps.c): the app's only while app code may run. Flags only. */
.macro KERNEL_IDT
	cmpq	$0, %gs:CPU_IDT_APP
	je	9f
	lidt	idt_kernel_ptr(%rip)
	movq	$0, %gs:CPU_IDT_APP
9:
.endm
.macro APP_IDT
	cmpq	$0, %gs:CPU_IDT_APP
	jne	9f
	lidt	idt_app_ptr(%rip)
	movq	$1, %gs:CPU_IDT_APP
9:
.endm
#endif

#ifndef __ASSEMBLY__
#include <stdint.h>

extern char __kernel_start[], __kernel_end[], __text_start[], __text_end[];
extern char __bss_start[], __bss_end[], __rodata_start[], __data_start[];

/* kernel image virtual address <-> its load (physical, or pseudo-physical on Xen PV) address */
static inline uint64_t kernel_pa(const void *va)
{
	return (uint64_t)va - KERNEL_VBASE;
}
#endif

#endif
