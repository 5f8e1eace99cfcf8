#include "common/selftest.h"

#include <stdarg.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/layout.h"
#include "common/console.h"
#include "common/hal.h"
#include "lib/cmdline.h"
#include "lib/format.h"
#include "lib/string.h"
#include "sched/sched.h"

void result_note(struct result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->len >= sizeof(r->detail))
		return;
	va_start(ap, fmt);
	r->len += kvsnprintf(r->detail + r->len, sizeof(r->detail) - r->len, fmt, ap);
	va_end(ap);
}

/* The banner's facts are sane and the basic machinery (traps, clock) works. */
static void test_boot(struct result *r, const struct boot_info *bi)
{
	uint64_t ram = memmap_total(bi->mem, bi->mem_count, MEM_RAM);
	uint64_t kstart = kernel_pa(__kernel_start), kend = kernel_pa(__kernel_end);
	char v[32];

	/* the console before the platform's own (the runner looks for this line where the
	 * early console leads somewhere it can see: COM1, Xen's console via port 0xe9) */
	arch->early_write("early console: ok\n", 18);
	EXPECT(r, hal && hal->name[0], "no platform");
	EXPECT(r, hal_info.vcpus >= 1 && hal_info.vcpus <= 4096, "vcpus=%u is implausible",
	       hal_info.vcpus);
	EXPECT(r, ram >= MiB(1), "only %lu KiB of RAM", ram >> 10);
	for (unsigned i = 0; i + 1 < bi->mem_count; i++)
		EXPECT(r, bi->mem[i].base + bi->mem[i].len <= bi->mem[i + 1].base,
		       "memory map unsorted or overlapping at %u", i);
	EXPECT(r, memmap_covers(bi->mem, bi->mem_count, kstart, kend - kstart, MEM_RAM),
	       "kernel image %#lx-%#lx is not in RAM", kstart, kend);
	EXPECT(r, cmdline_get(bi->cmdline, "test", v, sizeof(v)) == 4 && !strcmp(v, "boot"),
	       "command line does not round-trip (test=%s)", v);
	uint64_t vec = arch_trap_roundtrip();

	EXPECT(r, vec == 6, "ud2 came back as vector %lu, expected 6", vec);
	if (hal->clock_ns) {
		uint64_t t0 = hal->clock_ns(), t1;

		for (volatile int i = 0; i < 1000; i++)
			;
		t1 = hal->clock_ns();
		EXPECT(r, t1 > t0, "clock did not advance (%lu -> %lu)", t0, t1);
		/* uptime counts from this kernel's start, not from the clock's (Xen's start,
		 * the host's boot under kvmclock): this test runs within a second of it */
		uint64_t up = uptime_ns();

		EXPECT(r, hal_info.boot_ns <= t0 && up < 5000000000ull,
		       "uptime %lu ms at the boot test (the platform's clock %lu ms)",
		       up / 1000000, t1 / 1000000);
	}
	if (r->ok)
		result_note(r, "platform=%s vcpus=%u ram_kib=%lu trap=ok clock=%s", hal->name,
		     hal_info.vcpus, ram >> 10, hal->clock_ns ? "ok" : "none");
}

#define FAULT_ADDR 0x00000dead000beefULL

/* A deliberate page fault: the runner expects the panic report and a failure exit. */
static void test_fault(struct result *r, const struct boot_info *bi)
{
	kprintf("reading %p: expect a page fault and a panic\n", (void *)FAULT_ADDR);
	(void)*(volatile uint64_t *)FAULT_ADDR;
	EXPECT(r, false, "reading %p did not fault", (void *)FAULT_ADDR);
}

/* Passes when exit=N parses; boot_main then exits with N, which the runner checks. */
static void test_exitcode(struct result *r, const struct boot_info *bi)
{
	uint64_t code;

	EXPECT(r, cmdline_get_u64(bi->cmdline, "exit", &code) == 0 && code <= 127,
	       "needs exit=N with N in 0-127");
	if (r->ok)
		result_note(r, "exiting with %lu", code);
}

static void spin_ns(uint64_t ns)
{
	if (hal->clock_ns)
		for (uint64_t t0 = hal->clock_ns(); hal->clock_ns() - t0 < ns;)
			cpu_relax();
}

/* Writes far more than any console buffer holds (the Xen ring is 2 KiB). The rig freezes
 * the Xen console backend when it sees the first line and thaws it 5 s later: the console
 * must drop what does not fit, go on without hanging, and say what it lost once the backend
 * is back (which the idle 4 s at the end leave time for). */
static void test_flood(struct result *r, const struct boot_info *bi)
{
	kprintf("flood: stop the console now; flooding in 2 s\n");
	spin_ns(2000000000ULL);
	for (int i = 0; i < 1000; i++)
		kprintf("flood %04d: the quick brown fox jumps over the lazy dog\n", i);
	spin_ns(4000000000ULL);
	result_note(r, "wrote 1000 lines (56 KB)");
}

/* Spins for ever: proves the runner turns a hang into a timeout, never a wait. */
static void test_hang(struct result *r, const struct boot_info *bi)
{
	kprintf("hanging on purpose: the runner must time out\n");
	for (;;)
		cpu_relax();
}

static const struct {
	const char *name;
	void (*run)(struct result *r, const struct boot_info *bi);
} tests[] = {
	{ "boot", test_boot },
	{ "fault", test_fault },
	{ "exitcode", test_exitcode },
	{ "flood", test_flood },
	{ "mm", selftest_mm },
	{ "mm_wx", selftest_mm_wx },
	{ "mm_badfree", selftest_mm_badfree },
	{ "smap", selftest_smap },
	{ "clock", selftest_clock },
	{ "timer", selftest_timer },
	{ "sched", selftest_sched },
	{ "smp", selftest_smp },
	{ "balance", selftest_balance },
	{ "net_raw", selftest_net_raw },
	{ "reconnect", selftest_reconnect },
	{ "tx_stall", selftest_tx_stall },
	{ "net_lie", selftest_net_lie },
	{ "blk", selftest_blk },
	{ "blk_reconnect", selftest_blk_reconnect },
	{ "blk_lie", selftest_blk_lie },
	{ "udp_echo", selftest_udp_echo },
	{ "tcp", selftest_tcp },
	{ "http", selftest_http },
	{ "malformed", selftest_malformed },
	{ "soak", selftest_soak },
	{ "hang", test_hang },
};

bool selftest_run(const char *name, const struct boot_info *bi)
{
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++) {
		if (strcmp(tests[i].name, name))
			continue;
		struct result r = { .ok = true };

		tests[i].run(&r, bi);
		kprintf("TEST %s %s %s\n", name, r.ok ? "PASS" : "FAIL", r.detail);
		return r.ok;
	}
	/* the platform's own (hv_kvm/irq.c, hv_xen/xen_selftest.c) */
	struct result r = { .ok = true };

	if (hal->selftest && hal->selftest(name, &r)) {
		kprintf("TEST %s %s %s\n", name, r.ok ? "PASS" : "FAIL", r.detail);
		return r.ok;
	}
	kprintf("TEST %s FAIL no such test on %s\n", name, hal->name);
	return false;
}
