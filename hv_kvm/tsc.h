/* The clock where the hypervisor offers no pvclock (QEMU TCG): the TSC, with its rate
 * calibrated once at boot. */
#ifndef HV_KVM_TSC_H
#define HV_KVM_TSC_H

#include "lib/compiler.h"

/* QEMU's LAPIC timer counts at 1 GHz with the divider at 1, as lapic_init sets it
 * (PLATFORM.md; measured against the TSC clock: 1002.6-1002.8 MHz) */
#define QEMU_LAPIC_HZ 1000000000ULL

/* Measures the TSC rate; returns kHz (0 when no reference worked) and names the method. */
uint64_t tsc_calibrate(const char **method);
/* Starts the TSC clock at `khz`; tsc_clock_ns() then counts ns from this call. */
void tsc_clock_start(uint64_t khz);
uint64_t tsc_clock_ns(void);

#endif
