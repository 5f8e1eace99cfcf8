/* The pvclock reader shared by KVM (kvmclock, MSR 0x4b564d01) and Xen (vcpu_time_info):
 * both hypervisors publish the same 32-byte record (Linux pvclock-abi.h; xen/xen.h
 * struct vcpu_time_info), so one reader serves both. */
#ifndef LIB_PVCLOCK_H
#define LIB_PVCLOCK_H

#include "lib/compiler.h"

struct pvclock_time {
	uint32_t version; /* odd while the hypervisor updates the record */
	uint32_t pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time; /* ns at tsc_timestamp */
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags;
	uint8_t pad[2];
};
_Static_assert(sizeof(struct pvclock_time) == 32, "pvclock ABI is 32 bytes");

#define PVCLOCK_TSC_STABLE 0x01

/* ns for `delta` TSC ticks: ((delta << shift) * mul) >> 32, shift may be negative */
uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int8_t shift);
/* Reads the record consistently (retries while it changes) and returns system time in ns
 * at TSC value produced by read_tsc(). */
uint64_t pvclock_read(const volatile struct pvclock_time *t, uint64_t (*read_tsc)(void));
/* The same, never earlier than any time this function returned before on any CPU: where
 * the records do not promise a stable TSC, per-CPU records may disagree slightly, and
 * *last (shared) holds the clock back to the latest time handed out. */
uint64_t pvclock_read_mono(const volatile struct pvclock_time *t, uint64_t (*read_tsc)(void),
			   uint64_t *last);
/* TSC frequency the record implies, in kHz */
uint64_t pvclock_tsc_khz(const struct pvclock_time *t);

#endif
