/* The local APIC (xAPIC, memory-mapped at 0xfee00000): interrupt acknowledge, IPIs, the
 * start-up sequence for other CPUs, and its timer in one-shot or TSC-deadline mode. The
 * kvm and qemu platforms use it; Xen's use event channels instead. */
#ifndef ARCH_LAPIC_H
#define ARCH_LAPIC_H

#include "lib/compiler.h"

/* Maps the APIC (once), enables it with the spurious vector, masks its timer. Per CPU. */
void lapic_init(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint8_t vector);
/* INIT, then two STARTUPs at `page` (physical address / 4096, below 1 MiB); delay(ns)
 * waits as the sequence requires */
void lapic_start_cpu(uint32_t apic_id, uint8_t page, uint64_t init_wait_ns,
		     void (*delay)(uint64_t ns));
/* Measures the timer's input clock against `now` (ns); returns Hz. */
uint64_t lapic_timer_calibrate(uint64_t (*now)(void));
/* One-shot: an interrupt on `vector` after `count` ticks of the calibrated clock. */
void lapic_timer_oneshot(uint8_t vector, uint32_t count);
/* TSC-deadline mode (CPUID.1:ECX[24]): an interrupt when the TSC reaches `tsc` (0 stops). */
bool lapic_has_tsc_deadline(void);
void lapic_timer_deadline(uint8_t vector, uint64_t tsc);
void lapic_timer_stop(void);

#endif
