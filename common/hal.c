#include "common/hal.h"

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "common/console.h"
#include "common/panic.h"
#include "common/vclock.h"
#include "lib/spinlock.h"

extern struct hal hal_xen_pv, hal_xen_pvh, hal_kvm, hal_qemu;

/* Most specific first: qemu accepts any PVH boot, so it must come last. */
static const struct hal *const platforms[] = { &hal_xen_pv, &hal_xen_pvh, &hal_kvm, &hal_qemu };

const struct hal *hal;
struct hal_info hal_info;
struct hal_events hal_events;
struct vclock_page vclock_page __aligned(4096);

void hal_select(struct boot_info *bi)
{
	for (size_t i = 0; i < ARRAY_SIZE(platforms); i++) {
		if (!platforms[i]->detect(bi))
			continue;
		int rc = platforms[i]->init(bi);

		if (rc)
			panic("platform %s failed to initialise (%d)", platforms[i]->name, rc);
		hal = platforms[i];
		hal_info.boot_ns = hal->clock_ns();
		console_set_sink(hal->console_write);
		return;
	}
	panic("no platform matches this boot (entry %d)", bi->entry);
}

void spin_wait(unsigned long *spins)
{
	if (++*spins % SPIN_YIELD_EVERY || !hal || !hal->vcpu_yield || !this_cpu_ready()) {
		cpu_relax();
		return;
	}
	__atomic_add_fetch(&this_cpu()->hv_yields, 1, __ATOMIC_RELAXED);
	hal->vcpu_yield();
}

void hal_exit(int code)
{
	kprintf("EXIT %d\n", code);
	console_flush();
	if (hal)
		hal->shutdown(code);
	arch->early_exit(code);
	for (;;)
		;
}
