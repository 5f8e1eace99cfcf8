#include "hv_kvm/tsc.h"

#include "arch_x86_64/cpu.h"
#include "arch_x86_64/phys.h"
#include "hv_kvm/kvm_reg.h"

#define PIT_HZ 1193182
#define PIT_MS 10
#define LAPIC_BASE 0xfee00000UL
#define QEMU_LAPIC_HZ 1000000000ULL /* QEMU's LAPIC timer runs at 1 GHz (PLATFORM.md) */

static bool plausible(uint64_t khz)
{
	return khz >= 100000 && khz <= 20000000; /* 100 MHz .. 20 GHz */
}

/* PIT channel 2 in one-shot mode, gated through port 0x61; bit 5 of 0x61 rises when it
 * has counted down. Bounded, because some machines (microvm) have no working PIT. */
static uint64_t pit_khz(void)
{
	uint16_t count = PIT_HZ * PIT_MS / 1000;
	uint8_t gate = inb(0x61);
	uint64_t t0, t1;
	long spins = 0;

	outb(0x61, (gate & ~0x02) | 0x01); /* speaker off, gate on */
	outb(0x43, 0xb0);		   /* channel 2, lo/hi byte, mode 0 */
	outb(0x42, count & 0xff);
	outb(0x42, count >> 8);
	t0 = rdtsc_ordered();
	while (!(inb(0x61) & 0x20) && ++spins < 50000000)
		;
	t1 = rdtsc_ordered();
	outb(0x61, gate);
	return inb(0x61) == 0xff || spins >= 50000000 ? 0 : (t1 - t0) / PIT_MS;
}

static volatile uint32_t *lapic(unsigned reg)
{
	static char *base;

	if (!base)
		base = mmio_map(LAPIC_BASE, PAGE_SIZE);
	return (volatile uint32_t *)(base + reg);
}

/* The LAPIC timer counting down from its maximum with divide-by-1, masked. */
static uint64_t lapic_khz(void)
{
	uint64_t t0, t1;
	uint32_t c0, c1;
	long spins = 0;

	*lapic(0xf0) |= 0x100; /* software enable */
	*lapic(0x320) = 1u << 16;
	*lapic(0x3e0) = 0xb;
	*lapic(0x380) = 0xffffffff;
	c0 = *lapic(0x390);
	t0 = rdtsc_ordered();
	while (c0 - *lapic(0x390) < QEMU_LAPIC_HZ / 100 && ++spins < 50000000) /* 10 ms */
		;
	t1 = rdtsc_ordered();
	c1 = *lapic(0x390);
	*lapic(0x380) = 0;
	/* kHz = ticks / (counts / LAPIC Hz) / 1000 */
	return c0 == c1 ? 0 : (t1 - t0) * (QEMU_LAPIC_HZ / 1000) / (c0 - c1);
}

uint64_t tsc_calibrate(const char **method)
{
	struct cpuid_regs r = cpuid(0x40000000, 0);
	uint64_t khz;

	if (r.eax >= KVM_CPUID_TIMING && plausible(khz = cpuid(KVM_CPUID_TIMING, 0).eax)) {
		*method = "CPUID 0x40000010";
		return khz;
	}
	if (plausible(khz = pit_khz())) {
		*method = "PIT";
		return khz;
	}
	if (plausible(khz = lapic_khz())) {
		*method = "LAPIC timer at QEMU's 1 GHz";
		return khz;
	}
	*method = "no reference";
	return 0;
}

static uint64_t tsc0, mul; /* ns = (tsc - tsc0) * mul >> 32 */

void tsc_clock_start(uint64_t khz)
{
	mul = (1000000ULL << 32) / khz;
	tsc0 = rdtsc_ordered();
}

uint64_t tsc_clock_ns(void)
{
	return (uint64_t)(((unsigned __int128)(rdtsc_ordered() - tsc0) * mul) >> 32);
}
