/* The clock as an app reads it without a system call (the vDSO, hp/vdso/): one page of the
 * kernel, mapped read-only into every app. The platform fills it: hv_kvm's kvmclock writes
 * every vCPU's pvclock record here, and its TSC clock (QEMU TCG) keeps its own as a
 * pvclock record in rec[0]; Xen leaves mode at VCLOCK_NONE (its records are per vCPU, in
 * shared_info, which no app may see). Core code only maps the page (hp/app.c). */
#ifndef COMMON_VCLOCK_H
#define COMMON_VCLOCK_H

#include "arch_x86_64/percpu.h"
#include "lib/pvclock.h"

#define VCLOCK_NONE    0 /* the vDSO asks the kernel (a system call) */
#define VCLOCK_PVCLOCK 1 /* rec[0] is the monotonic clock on every CPU, while its flags
			  * hold PVCLOCK_TSC_STABLE (checked at every read) */

struct vclock_page {
	uint32_t mode;
	uint32_t pad0;
	int64_t wall_ns; /* CLOCK_REALTIME = the monotonic clock + wall_ns */
	uint8_t pad1[48];
	struct pvclock_time rec[MAX_CPUS];
	uint8_t rest[4096 - 64 - 32 * MAX_CPUS]; /* (the page holds nothing else) */
};
_Static_assert(sizeof(struct vclock_page) == 4096, "the vclock page is one page");

extern struct vclock_page vclock_page;

#endif
