#include "hv_kvm/tsc.h"

#include "arch_x86_64/cpu.h"
#include "arch_x86_64/phys.h"
#include "common/vclock.h"
#include "hv_kvm/kvm_reg.h"

#define PIT_HZ 1193182
#define LAPIC_BASE 0xfee00000UL

static bool plausible(uint64_t khz)
{
	return khz >= 100000 && khz <= 20000000; /* 100 MHz .. 20 GHz */
}

/* A reference counter's count now (the PIT's or the LAPIC timer's), and the TSC just
 * before and after the read: a vCPU the host takes away in between shows as a wide
 * window. */
struct ref_sample {
	uint64_t tsc, window;
	uint32_t count;
};

/* the rate's ends are trustworthy: neither read's window wider than 1/64 of the span */
static bool steady(struct ref_sample s0, struct ref_sample s1)
{
	uint64_t span = s1.tsc - s0.tsc;

	return s0.window <= span / 64 && s1.window <= span / 64;
}

static struct ref_sample pit_read(void)
{
	uint64_t a = rdtsc_ordered();

	outb(0x43, 0x80); /* latch channel 2's count */
	uint8_t lo = inb(0x42), hi = inb(0x42);
	uint64_t b = rdtsc_ordered();

	return (struct ref_sample){ a + (b - a) / 2, b - a, (uint16_t)(lo | hi << 8) };
}

/* the narrowest of 3 reads in a row */
static struct ref_sample pit_best(void)
{
	struct ref_sample best = pit_read();

	for (int i = 0; i < 2; i++) {
		struct ref_sample s = pit_read();

		if (s.window < best.window)
			best = s;
	}
	return best;
}

/* PIT channel 2 counting down from 0xffff (55 ms) in one-shot mode, gated through port
 * 0x61. The PIT's count is read with the TSC at both ends of `ms`, rather than its
 * expiry waited for: a vCPU the host takes away while it waits then costs nothing (the
 * PIT and the TSC both go on), where noticing the expiry late made the TSC look up to 7
 * times faster under a loaded host's TCG. A read whose TSC window is wider than 1/64 of
 * the span (the vCPU was away inside it), or a count that ran out (bit 5 of 0x61), makes
 * it try again, `most` times at most. Bounded, because some machines (microvm) have no
 * PIT. Each end's error is at most half its window, so the rate is within 1/64 of the
 * truth, and under TCG, where a read's window is 3-5 us, within 0.3 % over 2 ms. */
static uint64_t pit_khz(unsigned ms, int most, int *tries)
{
	const uint16_t ticks = (uint16_t)(PIT_HZ * ms / 1000);
	uint8_t gate = inb(0x61);

	if (gate == 0xff)
		return 0;
	for (*tries = 1; *tries <= most; ++*tries) {
		long spins = 0;

		outb(0x61, (gate & ~0x02) | 0x01); /* speaker off, gate on */
		outb(0x43, 0xb0);		   /* channel 2, lo/hi byte, mode 0 */
		outb(0x42, 0xff);
		outb(0x42, 0xff);
		struct ref_sample s0 = pit_best(), s1;

		do
			s1 = pit_read();
		while ((uint16_t)(s0.count - s1.count) < ticks && !(inb(0x61) & 0x20) &&
		       ++spins < 50000000);
		s1 = pit_best();
		bool out = inb(0x61) & 0x20;
		uint16_t elapsed = (uint16_t)(s0.count - s1.count);

		outb(0x61, gate);
		if (spins >= 50000000) {
			*tries = 0; /* the count never moved: no PIT */
			return 0;
		}
		if (out || elapsed < ticks || !steady(s0, s1))
			continue;
		return (s1.tsc - s0.tsc) * PIT_HZ / elapsed / 1000;
	}
	return 0;
}

static volatile uint32_t *lapic(unsigned reg)
{
	static char *base;

	if (!base)
		base = mmio_map(LAPIC_BASE, PAGE_SIZE);
	return (volatile uint32_t *)(base + reg);
}

static struct ref_sample lapic_read(void)
{
	uint64_t a = rdtsc_ordered();
	uint32_t count = *lapic(0x390);
	uint64_t b = rdtsc_ordered();

	return (struct ref_sample){ a + (b - a) / 2, b - a, count };
}

/* The LAPIC timer counting down from its maximum with divide-by-1, masked, against the
 * TSC over `ms` at QEMU's constant rate (microvm has no PIT), with the PIT's checks: a
 * read whose TSC window is wider than 1/64 of the span makes it try again, `most` times
 * at most. */
static uint64_t lapic_khz(unsigned ms, int most)
{
	const uint32_t ticks = (uint32_t)(QEMU_LAPIC_HZ / 1000 * ms);

	*lapic(0xf0) |= 0x100; /* software enable */
	*lapic(0x320) = 1u << 16;
	*lapic(0x3e0) = 0xb;
	for (int t = 0; t < most; t++) {
		long spins = 0;

		*lapic(0x380) = 0xffffffff;
		struct ref_sample s0 = lapic_read(), s1 = s0;

		while (s0.count - s1.count < ticks && ++spins < 50000000)
			s1 = lapic_read();
		*lapic(0x380) = 0;
		if (s0.count == s1.count)
			return 0; /* the count never moved */
		if (s0.count - s1.count < ticks || !steady(s0, s1))
			continue;
		/* kHz = TSC ticks / (counts / LAPIC Hz) / 1000 */
		return (s1.tsc - s0.tsc) * (QEMU_LAPIC_HZ / 1000) / (s0.count - s1.count);
	}
	return 0;
}

uint64_t tsc_calibrate(const char **method)
{
	struct cpuid_regs r = cpuid(0x40000000, 0);
	uint64_t khz;

	if (r.eax >= KVM_CPUID_TIMING && plausible(khz = cpuid(KVM_CPUID_TIMING, 0).eax)) {
		*method = "CPUID 0x40000010";
		return khz;
	}
	int tries = 0;

	/* 2 ms of the PIT (10 ms was a fifth of Amphi's boot under TCG), then, where the
	 * vCPU was away in each of 3 tries (a loaded host), 10 ms windows, which allow wider
	 * reads */
	if (plausible(khz = pit_khz(2, 3, &tries))) {
		*method = tries == 1 ? "PIT" : "PIT (again after a try the vCPU was away in)";
		return khz;
	}
	if (tries && plausible(khz = pit_khz(10, 5, &tries))) {
		*method = "PIT, 10 ms (2 ms tries had the vCPU away)";
		return khz;
	}
	if (plausible(khz = lapic_khz(2, 3)) || plausible(khz = lapic_khz(10, 5))) {
		*method = "LAPIC timer at QEMU's 1 GHz";
		return khz;
	}
	*method = "no reference";
	return 0;
}

/* The TSC clock as a pvclock record that never changes (its TSC is one for every CPU:
 * QEMU's), kept where apps' vDSO reads it too (common/vclock.h): ns = system time 0 +
 * (((tsc - tsc0) << shift) * mul) >> 32, mul below 2^32 with the shift to match. */
void tsc_clock_start(uint64_t khz)
{
	uint64_t mul = (1000000ULL << 32) / khz;
	int8_t shift = 0;

	while (mul >= 1ull << 32) {
		mul >>= 1;
		shift++;
	}
	vclock_page.rec[0] = (struct pvclock_time){
	    .version = 2,
	    .tsc_timestamp = rdtsc_ordered(),
	    .system_time = 0,
	    .tsc_to_system_mul = (uint32_t)mul,
	    .tsc_shift = shift,
	    .flags = PVCLOCK_TSC_STABLE,
	};
}

uint64_t tsc_clock_ns(void)
{
	return pvclock_read(&vclock_page.rec[0], rdtsc_ordered);
}
