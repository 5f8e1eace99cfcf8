/* CPU tables, the interrupt flag, and trap and interrupt dispatch for both CPU modes:
 * native: per-CPU GDT and TSS (IST stacks for #DF, NMI and #MC so they work on a broken
 *   stack), one IDT for all 256 vectors, IF, sti;hlt;
 * Xen PV: the trap table and event callbacks (per vCPU, by hypercall), the event mask in
 *   vcpu_info as the interrupt flag, SCHEDOP_block to halt. */
#include <stdint.h>

#include <xen/callback.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/paging.h"
#include "arch_x86_64/percpu.h"
#include "arch_x86_64/uart.h"
#include "common/console.h"
#include "common/panic.h"
#include "hv_xen/hypercall.h"
#include "lib/errno.h"
#include "mm/mm.h"

extern char trap_stubs_native[], trap_stubs_app[], trap_stubs_xenpv[];
extern char xenpv_upcall_entry[], xenpv_failsafe_entry[];
extern char syscall_entry_native[], syscall_entry_user[], syscall_entry_xenpv[];

#define MSR_GS_BASE 0xc0000101
#define MSR_FS_BASE 0xc0000100
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_FMASK 0xc0000084
#define EFER_SCE (1u << 0)
/* cleared on syscall entry: TF, IF, DF, NT, AC */
#define SYSCALL_FMASK 0x44700

struct cpu cpus[MAX_CPUS];
void (*preempt_point)(void);
bool (*arch_app_fault)(struct trap_frame *f);
void (*arch_app_interrupt)(struct trap_frame *f);

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

/* IST_ENTRY carries every other vector while an app runs: see trap_entry_native */
enum { IST_DF = 1, IST_NMI = 2, IST_MC = 3, IST_ENTRY = 4, IST_COUNT = 4 };

static uint64_t gdt[MAX_CPUS][8] __aligned(16);
static struct tss tss[MAX_CPUS] __aligned(16);
static struct idt_gate idt[256] __aligned(16);
/* the boot CPU's exception stacks until the memory manager gives guarded ones */
static uint8_t boot_ist[IST_COUNT][IST_STACK_SIZE] __aligned(16);

static struct {
	void (*fn)(void *arg);
	void *arg;
} irq_handlers[256];
void (*arch_irq_exit)(const struct trap_frame *f);

/* Two IDTs with the same gates (layout.h, traps.S): the kernel's, where only #DF, NMI and
 * #MC switch stacks (IST), and the one loaded while an HP-mode app's code runs in ring 0,
 * where every vector arrives on IST_ENTRY (traps.S: trap_entry_native says why). */
static struct idt_gate idt_app[256] __aligned(16);
struct desc_ptr idt_kernel_ptr, idt_app_ptr;

static void build_idt(void)
{
	for (int v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)trap_stubs_native + 16 * v;
		uint8_t own = v == 8 ? IST_DF : v == 2 ? IST_NMI : v == 18 ? IST_MC : 0;

		idt[v] = (struct idt_gate){
			.off_lo = a & 0xffff,
			.sel = SEL_KCODE,
			.ist = own,
			.type = 0x8e,
			.off_mid = (a >> 16) & 0xffff,
			.off_hi = a >> 32,
		};
		a = (uint64_t)trap_stubs_app + 16 * v;
		idt_app[v] = idt[v];
		idt_app[v].off_lo = a & 0xffff;
		idt_app[v].off_mid = (a >> 16) & 0xffff;
		idt_app[v].off_hi = a >> 32;
		idt_app[v].ist = own ? own : IST_ENTRY;
	}
	idt_kernel_ptr = (struct desc_ptr){ sizeof(idt) - 1, (uint64_t)idt };
	idt_app_ptr = (struct desc_ptr){ sizeof(idt_app) - 1, (uint64_t)idt_app };
}

static bool want_smep = true, want_smap = true;

static void native_cpu_init(struct cpu *c)
{
	struct tss *t = &tss[c->id];
	uint64_t ta = (uint64_t)t, *g = gdt[c->id];
	struct desc_ptr p;

	if (c->id == 0) {
		build_idt();
		for (int i = 0; i < IST_COUNT; i++)
			t->ist[i] = (uint64_t)boot_ist[i] + IST_STACK_SIZE;
	}
	t->iomap_base = sizeof(*t); /* no I/O bitmap */
	/* accessed bits preset, so loading a selector never writes the GDT */
	g[SEL_KCODE / 8] = 0x00af9b000000ffff;
	g[SEL_KDATA / 8] = 0x00cf93000000ffff;
	g[SEL_UDATA / 8] = 0x00cff3000000ffff;
	g[SEL_UCODE / 8] = 0x00affb000000ffff;
	g[SEL_TSS / 8] = (sizeof(*t) - 1) | (ta & 0xffffff) << 16 | 0x89ull << 40 |
			 ((ta >> 24) & 0xff) << 56;
	g[SEL_TSS / 8 + 1] = ta >> 32;
	/* data, present, DPL 3, byte-granular limit = the CPU's number (c->id < 2^16) */
	g[SEL_CPUNR / 8] = (uint64_t)(c->id & 0xffff) | 0xf3ull << 40;
	p = (struct desc_ptr){ sizeof(gdt[0]) - 1, (uint64_t)g };
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
	__asm__ __volatile__("lidt %0" : : "m"(idt_kernel_ptr));
	c->idt_app = 0;
	c->self = c;
	/* rsp0 sits at offset 4: unaligned, which x86 allows */
	c->tss_rsp0 = (uint64_t *)((char *)t + __builtin_offsetof(struct tss, rsp));
	wrmsr(MSR_GS_BASE, (uint64_t)c);
	wrmsr(MSR_KERNEL_GS_BASE, 0); /* a ring-3 app's GS base (swapgs) */
	/* syscall: kernel CS/SS from STAR[47:32]; sysret's user SS/CS are STAR[63:48] + 8 and
	 * + 16, so user data then user code (layout.h) */
	wrmsr(MSR_STAR, (uint64_t)(SEL_UDATA - 8) << 48 | (uint64_t)SEL_KCODE << 32);
	wrmsr(MSR_LSTAR, (uint64_t)syscall_entry_native);
	wrmsr(MSR_FMASK, SYSCALL_FMASK);
	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
	wrmsr(MSR_FS_BASE, 0);
	/* SSE for apps (the kernel itself uses none): no emulation, no lazy switching, and
	 * fxsave/fxrstor enabled; sched/ saves an app thread's registers at each switch */
	uint64_t cr0, cr4;

	__asm__ __volatile__("mov %%cr0, %0" : "=r"(cr0));
	cr0 = (cr0 & ~(uint64_t)0xc) | 0x22; /* -EM -TS +MP +NE */
	__asm__ __volatile__("mov %0, %%cr0" : : "r"(cr0));
	__asm__ __volatile__("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= 0x600; /* OSFXSR, OSXMMEXCPT */
	/* SMEP and SMAP (CPUID 7.0 EBX bits 7 and 20; CR4 bits 20 and 21): a normal-mode
	 * app's pages are out of the kernel's reach but through the copy helpers. Every CPU
	 * decides alike (the same CPUID) */
	struct cpuid_regs l7 = cpuid(0, 0).eax >= 7 ? cpuid(7, 0) : (struct cpuid_regs){0};

	if ((l7.ebx & (1u << 7)) && want_smep) {
		cr4 |= 1ull << 20;
		arch_smep = true;
	}
	if ((l7.ebx & (1u << 20)) && want_smap) {
		cr4 |= 1ull << 21;
		arch_smap = true;
	}
	__asm__ __volatile__("mov %0, %%cr4" : : "r"(cr4));
}

bool arch_smep, arch_smap;

void arch_user_guard_options(bool smep, bool smap)
{
	want_smep = smep;
	want_smap = smap;
}

static void native_set_fs_base(uint64_t base)
{
	wrmsr(MSR_FS_BASE, base);
}

/* ring 3's interrupts and exceptions arrive on the running app thread's entry stack */
static void native_set_kernel_stack(uint64_t top)
{
	*this_cpu()->tss_rsp0 = top;
}

/* this CPU's syscall entry for the app's mode (an app thread calls it on its CPU) */
static int native_app_prepare(bool user, uint64_t user_root)
{
	wrmsr(MSR_LSTAR, (uint64_t)(user ? syscall_entry_user : syscall_entry_native));
	return 0;
}

static void native_set_exception_stacks(void *(*stack_alloc)(size_t size))
{
	struct tss *t = &tss[arch_cpu_id()];

	for (int i = 0; i < IST_COUNT; i++) {
		void *top = stack_alloc(IST_STACK_SIZE);

		if (!top)
			panic("no memory for exception stack %d", i);
		t->ist[i] = (uint64_t)top;
	}
}

static uint64_t native_irq_save(void)
{
	uint64_t flags;

	__asm__ __volatile__("pushfq; pop %0; cli" : "=r"(flags) : : "memory");
	return (flags >> 9) & 1;
}

static void native_irq_restore(uint64_t on)
{
	if (on)
		__asm__ __volatile__("sti" ::: "memory");
}

/* sti takes effect after the next instruction, so on hardware no interrupt slips in
 * before hlt. Nested under TCG (the Xen PVH rig, PLATFORM.md) one does now and then: its
 * handler then runs with the CPU about to halt although the handler just gave it work.
 * interrupt() therefore moves an interrupted hlt on past itself. */
extern const char arch_halt_insn[];

static void native_halt(void)
{
	__asm__ __volatile__("sti\n"
			     ".globl arch_halt_insn\n"
			     "arch_halt_insn: hlt\n"
			     "cli" ::: "memory");
}

static bool native_frame_irqs_on(const struct trap_frame *f)
{
	return f->rflags & 0x200;
}

static void xenpv_cpu_init(struct cpu *c)
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
	struct callback_register ev = { .type = CALLBACKTYPE_event,
					.flags = CALLBACKF_mask_events,
					.address = (unsigned long)xenpv_upcall_entry };
	struct callback_register fs = { .type = CALLBACKTYPE_failsafe,
					.flags = CALLBACKF_mask_events,
					.address = (unsigned long)xenpv_failsafe_entry };

	struct callback_register sc = { .type = CALLBACKTYPE_syscall,
					.flags = CALLBACKF_mask_events,
					.address = (unsigned long)syscall_entry_xenpv };

	if ((rc = xen_callback_op(CALLBACKOP_register, &ev)) ||
	    (rc = xen_callback_op(CALLBACKOP_register, &fs)) ||
	    (rc = xen_callback_op(CALLBACKOP_register, &sc)))
		panic("xen-pv: registering the event callbacks failed (%ld)", rc);
	/* CR0.TS clear: apps' SSE registers are saved at switches (sched/), not lazily */
	if ((rc = XEN_HYPERCALL(__HYPERVISOR_fpu_taskswitch, 0, 0, 0, 0, 0)))
		panic("xen-pv: fpu_taskswitch failed (%ld)", rc);
	c->self = c;
	if ((rc = xen_set_segment_base(SEGBASE_GS_KERNEL, (uint64_t)c)))
		panic("xen-pv: setting the GS base failed (%ld)", rc);
}

/* Before the platform maps vcpu_info there is no event to mask: report "disabled". */
/* Preemption off from the read of vcpu_info to the mask's write: a thread moved to another
 * CPU in between would mask the events of the vCPU it left and run on with its own on. */
static uint64_t xenpv_irq_save(void)
{
	__asm__ __volatile__("incl %%gs:12" ::: "memory"); /* preempt_disable */
	struct vcpu_info *v = this_cpu()->xen_vcpu;
	uint8_t was = 1;

	if (v) {
		was = v->evtchn_upcall_mask;
		v->evtchn_upcall_mask = 1;
	}
	/* not preempt_enable(): its preemption point would switch threads inside irq_save;
	 * a preemption wanted meanwhile is taken at the next interrupt with events on */
	__asm__ __volatile__("decl %%gs:12" ::: "memory");
	return !was;
}

static void xenpv_irq_restore(uint64_t on)
{
	struct vcpu_info *v = this_cpu()->xen_vcpu;

	if (!v || !on)
		return;
	barrier();
	v->evtchn_upcall_mask = 0;
	barrier();
	/* an event that came while masked is delivered on the way back from any hypercall */
	if (READ_ONCE(v->evtchn_upcall_pending))
		xen_version(XENVER_version, NULL);
}

/* SCHEDOP_block unmasks events and checks for pending ones atomically (xen/sched.h), and
 * the upcall runs when it returns; the caller expects events masked again after. */
static void xenpv_halt(void)
{
	struct vcpu_info *v = this_cpu()->xen_vcpu;

	xen_sched_op(SCHEDOP_block, NULL);
	if (v)
		v->evtchn_upcall_mask = 1;
	barrier();
}

/* Xen saves the interrupted context's event mask in bits 32-39 of the CS slot */
static bool xenpv_frame_irqs_on(const struct trap_frame *f)
{
	return !((f->cs >> 32) & 0xff);
}

/* where Xen puts the frame of an event, exception or syscall that comes from user mode */
static void xenpv_set_kernel_stack(uint64_t top)
{
	long rc = XEN_HYPERCALL(__HYPERVISOR_stack_switch, FLAT_KERNEL_SS, top, 0, 0, 0);

	if (rc)
		panic("xen-pv: stack_switch failed (%ld)", rc);
}

/* Xen's user mode gets, in HP mode, the kernel's own root table (one address space); in
 * normal mode the app's root (user_root: a pfn), which maps only the low half. Per vCPU. */
static int xenpv_app_prepare(bool user, uint64_t user_root)
{
	uint64_t cr3, mfn;

	__asm__ __volatile__("mov %%cr3, %0" : "=r"(cr3)); /* emulated: the root's mfn */
	mfn = user ? (paging_xenpv.entry(user_root, 0) & PTE_ADDR) >> 12 : cr3 >> 12;
	struct mmuext_op op = { .cmd = MMUEXT_NEW_USER_BASEPTR, .arg1.mfn = mfn };

	return (int)xen_mmuext_op(&op, 1, NULL);
}

long syscall_xenpv(struct syscall_frame *f);
long syscall_xenpv(struct syscall_frame *f)
{
	irq_restore(1);
	long r = hp_syscall(f);

	irq_save();
	return r;
}

static void xenpv_set_fs_base(uint64_t base)
{
	long rc = xen_set_segment_base(SEGBASE_FS, base);

	if (rc)
		panic("xen-pv: setting the FS base failed (%ld)", rc);
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

void arch_irq_set_handler(unsigned vector, void (*fn)(void *arg), void *arg)
{
	irq_handlers[vector & 255].arg = arg;
	__atomic_store_n(&irq_handlers[vector & 255].fn, fn, __ATOMIC_RELEASE);
}

static void claimed(void *arg)
{
}

/* Device vectors are handed out by claiming their handler slot (a CAS from NULL to a
 * placeholder), then setting it: no lock, and a slot in use is never touched. */
int arch_irq_alloc(void (*fn)(void *arg), void *arg)
{
	for (unsigned v = VEC_FIRST_DEVICE; v <= VEC_LAST_DEVICE; v++) {
		void (*none)(void *) = NULL;

		if (__atomic_compare_exchange_n(&irq_handlers[v].fn, &none, claimed, false,
						__ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			arch_irq_set_handler(v, fn, arg);
			return (int)v;
		}
	}
	return -ENOSPC;
}

void arch_irq_free(unsigned vector)
{
	if (vector >= VEC_FIRST_DEVICE && vector <= VEC_LAST_DEVICE)
		__atomic_store_n(&irq_handlers[vector].fn, NULL, __ATOMIC_RELEASE);
}

struct extable_entry {
	uint64_t insn, fixup;
};
extern const struct extable_entry __extable_start[], __extable_end[];

/* arch_probe_exec's target: a fault fetching it returns to the probe's caller */
static uint64_t probe_exec_target;

static void interrupt(struct trap_frame *f)
{
	struct cpu *c = this_cpu();
	void (*h)(void *) = __atomic_load_n(&irq_handlers[f->vector & 255].fn, __ATOMIC_ACQUIRE);

	c->irq_depth++;
	c->irqs++;
	if (h) {
		h(irq_handlers[f->vector & 255].arg);
	} else {
		static uint64_t seen[4];

		if (!(seen[f->vector / 64] & (1ull << (f->vector % 64)))) {
			seen[f->vector / 64] |= 1ull << (f->vector % 64);
			kprintf("unexpected interrupt, vector %lu (ignored)\n", f->vector);
		}
	}
	c->irq_depth--;
	if (f->rip == (uint64_t)arch_halt_insn) {
		f->rip++; /* hlt is one byte: the idle loop looks for work again instead */
		c->halt_window_irqs++;
	}
	if (arch_irq_exit)
		arch_irq_exit(f);
	if (arch_app_interrupt && f->rip < 0x0000800000000000ull)
		arch_app_interrupt(f);
}

void trap_dispatch(struct trap_frame *f)
{
	if (f->vector >= 32 && f->vector != 0xf4) {
		interrupt(f);
		return;
	}
	/* an app page reserved and touched for the first time, or shared copy on write and
	 * written, by the app or by the kernel on its behalf (a copy, a futex): given its
	 * frame, and the access made again */
	if (f->vector == 14 && (!(f->error & 1) || (f->error & 2)) &&
	    mm_user_fault(read_cr2(), f->error & 2) > 0)
		return;
	/* (the kernel's own copy helpers only: an app that jumps to one faults as itself) */
	for (const struct extable_entry *e = __extable_start;
	     e < __extable_end && !frame_from_user(f); e++) {
		if (e->insn == f->rip) {
			f->rip = e->fixup;
			f->rax = f->vector;
			return;
		}
	}
	if (arch_app_fault && arch_app_fault(f))
		return;
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

const struct arch_ops arch_native = {
	.name = "native",
	.paging = &paging_native,
	.cpu_init = native_cpu_init,
	.irq_save = native_irq_save,
	.irq_restore = native_irq_restore,
	.halt = native_halt,
	.frame_irqs_on = native_frame_irqs_on,
	.early_write = native_early_write,
	.early_exit = native_early_exit,
	.set_exception_stacks = native_set_exception_stacks,
	.set_fs_base = native_set_fs_base,
	.set_kernel_stack = native_set_kernel_stack,
	.app_prepare = native_app_prepare,
	.app_enter = app_enter_native,
	.app_resume = app_resume_native,
	.app_enter_user = app_enter_user_native,
	.app_resume_user = app_resume_user_native,
	.app_return = app_return_native,
	.kernel_cs = SEL_KCODE,
	.kernel_ss = SEL_KDATA,
};

const struct arch_ops arch_xenpv = {
	.name = "xen-pv",
	.paging = &paging_xenpv,
	.cpu_init = xenpv_cpu_init,
	.irq_save = xenpv_irq_save,
	.irq_restore = xenpv_irq_restore,
	.halt = xenpv_halt,
	.frame_irqs_on = xenpv_frame_irqs_on,
	.early_write = xenpv_early_write,
	.early_exit = xenpv_early_exit,
	.set_fs_base = xenpv_set_fs_base,
	.set_kernel_stack = xenpv_set_kernel_stack,
	.app_prepare = xenpv_app_prepare,
	.app_enter = app_enter_xenpv,
	.app_resume = app_resume_xenpv,
	.app_enter_user = app_enter_xenpv, /* user mode either way; the root differs */
	.app_resume_user = app_resume_xenpv,
	.app_return = app_return_xenpv,
	.kernel_cs = FLAT_KERNEL_CS & ~3, /* a frame's RPL 0: back to Xen's kernel mode */
	.kernel_ss = FLAT_KERNEL_SS,
};

const struct arch_ops *arch = &arch_native;
