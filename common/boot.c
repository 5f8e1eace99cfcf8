/* boot_main: where both entries meet. CPU tables, platform, banner, then the self-test or
 * the default work the command line asks for, then shutdown with an exit code. */
#include "arch_x86_64/arch.h"
#include "arch_x86_64/bootinfo.h"
#include "arch_x86_64/layout.h"
#include "common/console.h"
#include "common/hal.h"
#include "common/netdev.h"
#include "common/panic.h"
#include "common/random.h"
#include "common/selftest.h"
#include "hp/hp.h"
#include "lib/cmdline.h"
#include "lib/string.h"
#include "lib/time.h"
#include "mm/mm.h"
#include "net/http.h"
#include "net/net.h"
#include "sched/sched.h"

#define AMPHI_VERSION "0.1"

static void banner(const struct boot_info *bi)
{
	uint64_t ram = memmap_total(bi->mem, bi->mem_count, MEM_RAM);

	kprintf("Amphi %s: one image for KVM, QEMU, Xen PVH and Xen PV\n", AMPHI_VERSION);
	kprintf("platform: %s (entry %s, cpu mode %s)\n", hal->name,
		bi->entry == BOOT_PVH ? "pvh" : "xen-pv", arch->name);
	kprintf("hypervisor: %s%s%s\n", hal_info.hv, hal_info.detail[0] ? "; " : "",
		hal_info.detail);
	kprintf("vcpus: %u\n", hal_info.vcpus);
	kprintf("ram: %lu MiB usable (%lu KiB) in %u ranges\n", ram >> 20, ram >> 10,
		bi->mem_count);
	for (unsigned i = 0; i < bi->mem_count; i++)
		kprintf("  mem %016lx-%016lx %s\n", bi->mem[i].base,
			bi->mem[i].base + bi->mem[i].len - 1, mem_type_name(bi->mem[i].type));
	for (unsigned i = 0; i < bi->mod_count; i++)
		kprintf("  module %u at %#lx, %lu bytes\n", i, bi->mods[i].paddr, bi->mods[i].len);
	if (bi->mods_dropped)
		kprintf("  (%u more modules ignored)\n", bi->mods_dropped);
	kprintf("cmdline: ");
	console_write(bi->cmdline, strlen(bi->cmdline));
	kprintf("%s\n", bi->cmdline_truncated ? " (truncated)" : "");
}

/* The rest of the boot, on a stack with a guard page below it. */
static void __noreturn boot_continue(void *arg)
{
	struct boot_info *bi = arg;
	uint64_t code = EXIT_OK;
	char test[32];

	mm_stats_print();
	uint64_t poll_us;

	if (cmdline_get_u64(bi->cmdline, "sched_poll_us", &poll_us) == 0) {
		sched_set_poll_us(poll_us);
		kprintf("sched: idle CPUs poll and futex waiters spin up to %lu us "
			"(sched_poll_us=)\n", MIN(poll_us, 1000000));
	}
	sched_init();
	unsigned up = sched_start_cpus();
	uint64_t wall = wallclock_ns();
	char when[24] = "none";

	if (wall)
		format_utc(when, sizeof(when), wall);
	kprintf("cpus: %u of %u online; timer: %s; wall clock: %s%s\n", up, hal_info.vcpus,
		hal_info.timer, when, wall ? " UTC" : "");
	random_init();
	if (hal->probe_devices)
		hal->probe_devices();
	int e = cmdline_get_u64(bi->cmdline, "exit", &code);

	if (e == 0 && code > 127) {
		kprintf("exit=%lu is out of range (0-127); using %d\n", code, EXIT_FAIL);
		code = EXIT_FAIL;
	} else if (e != 0 && cmdline_has(bi->cmdline, "exit")) {
		kprintf("exit= needs a number (0-127); using %d\n", EXIT_FAIL);
		code = EXIT_FAIL;
	}
	if (cmdline_get(bi->cmdline, "test", test, sizeof(test)) >= 0) {
		if (!selftest_run(test, bi))
			code = EXIT_FAIL;
	} else if (hp_wanted(bi)) {
		/* the app's sockets need the network (and its links) up first, when there
		 * is one */
		if (netdev_count()) {
			int rc = net_start(bi->cmdline, clock_ns() + 30000000000ull);

			if (rc)
				kprintf("net: the network did not come up (%d); the app runs "
					"without it\n", rc);
		}
		int st = hp_main(bi);

		/* what the app sent before it ended (and closed its sockets) gets to its
		 * peers before the VM ends, as it would from a Linux host that lives on */
		if (netdev_count())
			net_linger(clock_ns() + NET_LINGER_NS);
		/* what the app's threads and traffic did, for the log */
		sched_report();
		if (netdev_count())
			net_report();

		/* the app's status is the VM's exit code; a refused or killed app fails it */
		code = st < 0 || st > 127 ? EXIT_FAIL : (uint64_t)st;
	} else if (netdev_count()) {
		/* no app: the default HTTP server, for ever unless http_requests= says */
		uint64_t n = 0;
		int rc = net_start(bi->cmdline, clock_ns() + 30000000000ull);

		cmdline_get_u64(bi->cmdline, "http_requests", &n);
		if (rc) {
			kprintf("net: the network did not come up (%d); shutting down\n", rc);
			code = EXIT_FAIL;
		} else if (http_serve(80, (unsigned long)n) < 0) {
			code = EXIT_FAIL;
		}
	} else {
		kprintf("nothing to run: no test=, no app yet and no network device; shutting "
			"down\n");
	}
	if (hal->stop_devices)
		hal->stop_devices();
	hal_exit((int)code);
}

void __noreturn boot_main(struct boot_info *bi)
{
	arch_user_guard_options(!cmdline_has(bi->cmdline, "nosmep"),
				!cmdline_has(bi->cmdline, "nosmap"));
	arch->cpu_init(&cpus[0]);
	hal_select(bi);
	console_times(cmdline_has(bi->cmdline, "console_times"));
	if (bi->error)
		panic("boot: %s", bi->error);
	banner(bi);
	mm_init(bi);
	if (arch->set_exception_stacks)
		arch->set_exception_stacks(mm_stack_alloc);
	void *stack = mm_stack_alloc(BOOT_STACK_SIZE);

	if (!stack)
		panic("mm: no memory for the boot stack");
	arch_run_on_stack(stack, boot_continue, bi);
}
