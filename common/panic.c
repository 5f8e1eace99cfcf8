#include "common/panic.h"

#include <stdarg.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "arch_x86_64/percpu.h"
#include "common/console.h"
#include "common/hal.h"
#include "lib/format.h"
#include "lib/ksyms.h"
#include "mm/mm.h"

extern const uint64_t ksyms_count, ksyms_addr[];
extern const uint32_t ksyms_name_off[];
extern const char ksyms_names[];

static bool in_panic;

static void print_addr(int i, uint64_t a)
{
	const struct ksyms_table t = { ksyms_count, ksyms_addr, ksyms_name_off, ksyms_names,
				       (uint64_t)__text_end };
	const char *name;
	uint64_t off;

	if (ksyms_find(&t, a, &name, &off))
		kprintf("  #%d %p %s+0x%lx\n", i, (void *)a, name, off);
	else
		kprintf("  #%d %p ?\n", i, (void *)a);
}

/* Follows the %rbp chain (every function keeps a frame pointer). Each frame is probed
 * before it is read, so a corrupt stack ends the trace instead of faulting in here. */
static void backtrace(uint64_t rip, uint64_t rbp)
{
	int i = 0;

	kprintf("backtrace:\n");
	if (rip)
		print_addr(i++, rip);
	while (i < 32 && rbp && !(rbp & 7) && !arch_probe_read((void *)rbp) &&
	       !arch_probe_read((void *)(rbp + 15))) {
		const uint64_t *frame = (const uint64_t *)rbp;

		if (!frame[1])
			break;
		print_addr(i++, frame[1] - 1); /* inside the call, not after it */
		if (frame[0] <= rbp)
			break; /* stacks grow down: older frames are higher */
		rbp = frame[0];
	}
}

const char *(*panic_thread_name)(void);

static void header(const char *what)
{
	/* before per-CPU data exists (the very first moments) this is CPU 0 */
	unsigned cpu = this_cpu_ready() ? arch_cpu_id() : 0;

	kprintf("PANIC on %s cpu%u: %s\n", hal ? hal->name : "(platform not yet known)", cpu,
		what);
	if (panic_thread_name)
		kprintf("  in thread %s\n", panic_thread_name());
}

static __noreturn void finish(void)
{
	mm_stats_print();
	hal_exit(EXIT_PANIC);
}

static bool enter(void)
{
	if (!in_panic) {
		in_panic = true;
		return true;
	}
	kprintf("PANIC while panicking; giving up\n");
	return false;
}

void vpanic(const char *fmt, va_list ap)
{
	char buf[256];

	if (!enter())
		finish();
	kvsnprintf(buf, sizeof(buf), fmt, ap);
	header(buf);
	backtrace(0, read_rbp()); /* from vpanic's own frame: its callers */
	finish();
}

void panic(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vpanic(fmt, ap);
}

void panic_trap(const struct trap_frame *f, uint64_t cr2)
{
	char buf[128];

	if (!enter())
		finish();
	ksnprintf(buf, sizeof(buf), "%s, vector %lu", trap_name(f->vector), f->vector);
	header(buf);
	/* on Xen PV, bits 32-39 of the CS slot hold the saved event mask: show the selector */
	kprintf("  error=0x%lx rip=%p cs=0x%lx rflags=0x%lx\n", f->error, (void *)f->rip,
		f->cs & 0xffff, f->rflags);
	if (f->vector == 14)
		kprintf("  cr2=%p (%s, %s, %s)\n", (void *)cr2,
			f->error & 1 ? "protection violation" : "page not present",
			f->error & 2 ? "write" : f->error & 16 ? "instruction fetch" : "read",
			f->error & 4 ? "user" : "kernel");
	kprintf("  rax=%p rbx=%p rcx=%p rdx=%p\n", (void *)f->rax, (void *)f->rbx,
		(void *)f->rcx, (void *)f->rdx);
	kprintf("  rsi=%p rdi=%p rbp=%p rsp=%p\n", (void *)f->rsi, (void *)f->rdi,
		(void *)f->rbp, (void *)f->rsp);
	kprintf("  r8=%p r9=%p r10=%p r11=%p\n", (void *)f->r8, (void *)f->r9, (void *)f->r10,
		(void *)f->r11);
	kprintf("  r12=%p r13=%p r14=%p r15=%p\n", (void *)f->r12, (void *)f->r13,
		(void *)f->r14, (void *)f->r15);
	/* the words at the stack pointer (an iret's frame, a return address), when it is in
	 * the kernel's half and 8-byte aligned: read through the exception table */
	if (f->rsp >> 63 && !(f->rsp & 7)) {
		kprintf("  stack:");
		for (int i = 0; i < 6; i++) {
			const uint64_t *p = (const uint64_t *)f->rsp + i;

			if (arch_probe_read(p))
				break;
			kprintf(" %p", (void *)*p);
		}
		kprintf("\n");
	}
	backtrace(f->rip, f->rbp);
	finish();
}
