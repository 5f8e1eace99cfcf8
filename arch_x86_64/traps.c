/* CPU tables and exception dispatch for both CPU modes:
 * native: GDT with a TSS (IST stacks for #DF, NMI, #MC so they work on a broken stack), IDT;
 * Xen PV: the trap table (HYPERVISOR_set_trap_table), selectors are Xen's flat ones. */
#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "arch_x86_64/uart.h"
#include "common/panic.h"
#include "hv_xen/hypercall.h"

extern char trap_stubs_native[], trap_stubs_xenpv[];

struct tss {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
} __packed;

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t ist;
	uint8_t type; /* 0x8e: present, DPL 0, 64-bit interrupt gate */
	uint16_t off_mid;
	uint32_t off_hi;
	uint32_t reserved;
} __packed;

struct desc_ptr {
	uint16_t limit;
	uint64_t base;
} __packed;

enum { IST_DF = 1, IST_NMI = 2, IST_MC = 3, IST_COUNT = 3 };

static uint64_t gdt[7] __aligned(16);
static struct tss tss __aligned(16);
static struct idt_gate idt[256] __aligned(16);
static uint8_t ist_stacks[IST_COUNT][IST_STACK_SIZE] __aligned(16);

static void native_cpu_init(void)
{
	uint64_t t = (uint64_t)&tss;
	struct desc_ptr p;

	for (int i = 0; i < IST_COUNT; i++)
		tss.ist[i] = (uint64_t)ist_stacks[i] + IST_STACK_SIZE;
	tss.iomap_base = sizeof(tss); /* no I/O bitmap */
	gdt[SEL_KCODE / 8] = 0x00af9a000000ffff;
	gdt[SEL_KDATA / 8] = 0x00cf92000000ffff;
	gdt[SEL_UDATA / 8] = 0x00cff2000000ffff;
	gdt[SEL_UCODE / 8] = 0x00affa000000ffff;
	gdt[SEL_TSS / 8] = (sizeof(tss) - 1) | (t & 0xffffff) << 16 | 0x89ull << 40 |
			   ((t >> 24) & 0xff) << 56;
	gdt[SEL_TSS / 8 + 1] = t >> 32;
	p = (struct desc_ptr){ sizeof(gdt) - 1, (uint64_t)gdt };
	__asm__ __volatile__("lgdt %0\n\t"
			     "pushq %1\n\t"
			     "lea 1f(%%rip), %%rax\n\t"
			     "pushq %%rax\n\t"
			     "lretq\n"
			     "1:\n\t"
			     "mov %2, %%eax\n\t"
			     "mov %%eax, %%ds\n\t"
			     "mov %%eax, %%es\n\t"
			     "mov %%eax, %%ss\n\t"
			     "ltr %w3"
			     :
			     : "m"(p), "i"(SEL_KCODE), "i"(SEL_KDATA), "r"(SEL_TSS)
			     : "rax", "memory");

	for (int v = 0; v < 32; v++) {
		uint64_t a = (uint64_t)trap_stubs_native + 16 * v;

		idt[v] = (struct idt_gate){
			.off_lo = a & 0xffff,
			.sel = SEL_KCODE,
			.ist = v == 8 ? IST_DF : v == 2 ? IST_NMI : v == 18 ? IST_MC : 0,
			.type = 0x8e,
			.off_mid = (a >> 16) & 0xffff,
			.off_hi = a >> 32,
		};
	}
	p = (struct desc_ptr){ sizeof(idt) - 1, (uint64_t)idt };
	__asm__ __volatile__("lidt %0" : : "m"(p));
}

static void native_set_exception_stacks(void *(*stack_alloc)(size_t size))
{
	for (int i = 0; i < IST_COUNT; i++) {
		void *top = stack_alloc(IST_STACK_SIZE);

		if (!top)
			panic("no memory for exception stack %d", i);
		tss.ist[i] = (uint64_t)top;
	}
}

static void xenpv_cpu_init(void)
{
	/* vectors 0-19 except NMI, which Xen delivers through a callback instead */
	static struct trap_info table[21];
	int n = 0;

	for (int v = 0; v < 20; v++) {
		if (v == 2)
			continue;
		table[n++] = (struct trap_info){
			.vector = v,
			.flags = 4, /* mask events on entry, like an interrupt gate */
			.cs = FLAT_KERNEL_CS,
			.address = (unsigned long)trap_stubs_xenpv + 16 * v,
		};
	}
	long rc = xen_set_trap_table(table);

	if (rc)
		panic("xen-pv: set_trap_table failed (%ld)", rc);
}

static const char *const names[32] = {
	[0] = "divide error (#DE)",
	[1] = "debug (#DB)",
	[2] = "NMI",
	[3] = "breakpoint (#BP)",
	[4] = "overflow (#OF)",
	[5] = "bound range (#BR)",
	[6] = "invalid opcode (#UD)",
	[7] = "device not available (#NM)",
	[8] = "double fault (#DF)",
	[10] = "invalid TSS (#TS)",
	[11] = "segment not present (#NP)",
	[12] = "stack fault (#SS)",
	[13] = "general protection (#GP)",
	[14] = "page fault (#PF)",
	[16] = "x87 error (#MF)",
	[17] = "alignment check (#AC)",
	[18] = "machine check (#MC)",
	[19] = "SIMD error (#XM)",
	[20] = "virtualization (#VE)",
	[21] = "control protection (#CP)",
};

const char *trap_name(uint64_t vector)
{
	return vector < 32 && names[vector] ? names[vector] : "unexpected vector";
}

struct extable_entry {
	uint64_t insn, fixup;
};
extern const struct extable_entry __extable_start[], __extable_end[];

/* arch_probe_exec's target: a fault fetching it returns to the probe's caller */
static uint64_t probe_exec_target;

void trap_dispatch(struct trap_frame *f)
{
	for (const struct extable_entry *e = __extable_start; e < __extable_end; e++) {
		if (e->insn == f->rip) {
			f->rip = e->fixup;
			f->rax = f->vector;
			return;
		}
	}
	if (probe_exec_target && f->rip == probe_exec_target) {
		/* undo the call: return to its caller with %rax = vector */
		f->rip = *(uint64_t *)f->rsp;
		f->rsp += 8;
		f->rax = f->vector;
		return;
	}
	panic_trap(f, f->vector == 14 ? read_cr2() : 0);
}

uint64_t arch_probe_read(const volatile void *p)
{
	uint64_t vec = 0;

	__asm__ __volatile__("1: movb (%1), %%cl\n"
			     "2:\n" EXTABLE(1b, 2b)
			     : "+a"(vec)
			     : "r"(p)
			     : "rcx", "memory");
	return vec;
}

/* reads the byte and writes it back, so a writable page keeps its contents */
uint64_t arch_probe_write(volatile void *p)
{
	uint64_t vec = 0;

	__asm__ __volatile__("1: movb (%1), %%cl\n"
			     "3: movb %%cl, (%1)\n"
			     "2:\n" EXTABLE(1b, 2b) EXTABLE(3b, 2b)
			     : "+a"(vec)
			     : "r"(p)
			     : "rcx", "memory");
	return vec;
}

uint64_t arch_probe_exec(const void *p)
{
	uint64_t vec = 0;

	probe_exec_target = (uint64_t)p;
	__asm__ __volatile__("call *%1"
			     : "+a"(vec)
			     : "r"(p)
			     : "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");
	probe_exec_target = 0;
	return vec;
}

uint64_t arch_trap_roundtrip(void)
{
	uint64_t vec = 0;

	__asm__ __volatile__("1: ud2\n"
			     "2:\n" EXTABLE(1b, 2b)
			     : "+a"(vec)
			     :
			     : "memory");
	return vec;
}

static void native_early_write(const char *s, size_t n);
static void xenpv_early_write(const char *s, size_t n);
static void native_early_exit(int code);
static void xenpv_early_exit(int code);

const struct arch_ops arch_native = {
	.name = "native",
	.paging = &paging_native,
	.cpu_init = native_cpu_init,
	.early_write = native_early_write,
	.early_exit = native_early_exit,
	.set_exception_stacks = native_set_exception_stacks,
};

const struct arch_ops arch_xenpv = {
	.name = "xen-pv",
	.paging = &paging_xenpv,
	.cpu_init = xenpv_cpu_init,
	.early_write = xenpv_early_write,
	.early_exit = xenpv_early_exit,
};

const struct arch_ops *arch = &arch_native;

/* Before the platform is known the PVH entry writes to both places a console may be:
 * COM1 (QEMU/KVM) and port 0xe9, which Xen copies to its own console for HVM/PVH guests. */
static void native_early_write(const char *s, size_t n)
{
	uart_write(s, n);
	for (size_t i = 0; i < n; i++)
		outb(0xe9, s[i]);
}

/* Xen's console (xl dmesg). Release builds of Xen refuse it to unprivileged guests, so
 * this only prints for dom0 or a debug Xen: it is the fallback before the PV console. */
static void xenpv_early_write(const char *s, size_t n)
{
	xen_console_io(CONSOLEIO_write, (int)n, s);
}

/* QEMU's isa-debug-exit, if present, ends the VM; anything else just stops here. */
static void native_early_exit(int code)
{
	outl(0xf4, code);
	for (;;)
		__asm__ __volatile__("cli; hlt");
}

static void xenpv_early_exit(int code)
{
	struct sched_shutdown s = { code ? SHUTDOWN_crash : SHUTDOWN_poweroff };

	for (;;)
		xen_sched_op(SCHEDOP_shutdown, &s);
}
