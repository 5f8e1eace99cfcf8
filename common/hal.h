/* The hypervisor abstraction layer: the one interface core code uses for what differs
 * between kvm, qemu (TCG), xen-pvh and xen-pv. Platforms are tried in table order and the
 * first whose detect() says yes fills `hal`. Core code never asks "am I on Xen?". */
#ifndef COMMON_HAL_H
#define COMMON_HAL_H

#include "arch_x86_64/bootinfo.h"
#include "lib/compiler.h"

/* Exit codes the test runner understands (QEMU: the exit status is 2 * code + 1;
 * Xen: 0 is a poweroff, anything else a crash). */
#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_PANIC 2

struct hal {
	const char *name; /* "kvm", "qemu", "xen-pvh", "xen-pv" */
	bool (*detect)(const struct boot_info *bi);
	/* Brings up the console and gathers hal_info; may fix up bi (e.g. a memory map the
	 * entry did not have). Returns 0 or a negative error (the boot then fails). */
	int (*init)(struct boot_info *bi);
	void (*console_write)(const char *s, size_t n);
	/* Ends the VM with `code`; does not return. */
	void (*shutdown)(int code);
	/* Monotonic time in ns from an arbitrary origin; set by init, NULL without a clock. */
	uint64_t (*clock_ns)(void);
};

/* Facts for the banner and the boot test, filled by hal->init */
struct hal_info {
	char hv[64];	  /* hypervisor and version, e.g. "Xen 4.17.7" */
	char detail[400]; /* features, clock source */
	unsigned vcpus;
};

extern const struct hal *hal;
extern struct hal_info hal_info;

/* Picks and initialises the platform; panics if none fits or its init fails. */
void hal_select(struct boot_info *bi);
void __noreturn hal_exit(int code);

#endif
