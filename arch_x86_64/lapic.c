#include "arch_x86_64/lapic.h"

#include "arch_x86_64/cpu.h"
#include "arch_x86_64/phys.h"

#define LAPIC_BASE 0xfee00000UL
#define REG_ID 0x020
#define REG_EOI 0x0b0
#define REG_SVR 0x0f0
#define REG_ICR_LO 0x300
#define REG_ICR_HI 0x310
#define REG_LVT_TIMER 0x320
#define REG_LVT_LINT0 0x350
#define REG_TIMER_INIT 0x380
#define REG_TIMER_CUR 0x390
#define REG_TIMER_DIV 0x3e0
#define LVT_MASKED (1u << 16)
#define LVT_TSC_DEADLINE (2u << 17)
#define ICR_PENDING (1u << 12)
#define MSR_TSC_DEADLINE 0x6e0

static volatile uint32_t *base;

static uint32_t rd(unsigned reg)
{
	return base[reg / 4];
}

static void wr(unsigned reg, uint32_t v)
{
	base[reg / 4] = v;
}

/* The PC's 8259 interrupt controllers, which a BIOS leaves running: SeaBIOS sets them up
 * with the PIT's tick on IRQ 0 at vector 8 (the BIOS's layout) and the local APIC's LINT0
 * as their input (virtual wire), so 18 times a second an interrupt came in at the double
 * fault's vector and the boot died in a fault loop (qboot leaves them alone). They are
 * moved off the exception vectors (0x20-0x2f, as a spurious IRQ 7 or 15 may still come)
 * and every line masked; LINT0 is masked too (lapic_init). Harmless where there is no PIC
 * (microvm without one: the ports read and write nothing). */
static void pic_off(void)
{
	static const uint8_t init[][2] = {
		{ 0x20, 0x11 }, { 0xa0, 0x11 }, /* ICW1: edge, cascade, ICW4 follows */
		{ 0x21, 0x20 }, { 0xa1, 0x28 }, /* ICW2: vector bases */
		{ 0x21, 0x04 }, { 0xa1, 0x02 }, /* ICW3: the second on IRQ 2 */
		{ 0x21, 0x01 }, { 0xa1, 0x01 }, /* ICW4: 8086 mode */
		{ 0x21, 0xff }, { 0xa1, 0xff }, /* every line masked */
	};

	for (unsigned i = 0; i < ARRAY_SIZE(init); i++)
		outb(init[i][0], init[i][1]);
}

void lapic_init(void)
{
	if (!base) { /* the first CPU's */
		base = mmio_map(LAPIC_BASE, PAGE_SIZE);
		pic_off();
	}
	wr(REG_LVT_LINT0, LVT_MASKED);
	wr(REG_SVR, 0x100 | 0xff); /* enabled, spurious vector 0xff */
	wr(REG_LVT_TIMER, LVT_MASKED);
	wr(REG_TIMER_DIV, 0xb); /* divide by 1 */
}

uint32_t lapic_id(void)
{
	return rd(REG_ID) >> 24;
}

void lapic_eoi(void)
{
	wr(REG_EOI, 0);
}

static void icr(uint32_t apic_id, uint32_t lo)
{
	/* bounded: a wedged APIC must not hang the sender */
	for (int i = 0; i < 100000 && (rd(REG_ICR_LO) & ICR_PENDING); i++)
		cpu_relax();
	wr(REG_ICR_HI, apic_id << 24);
	wr(REG_ICR_LO, lo);
}

void lapic_send_ipi(uint32_t apic_id, uint8_t vector)
{
	icr(apic_id, vector); /* fixed delivery, physical destination */
}

/* Intel SDM vol. 3, 8.4.4.1: INIT, a wait (the SDM's 10 ms, or init_wait_ns), STARTUP,
 * 200 us, STARTUP */
void lapic_start_cpu(uint32_t apic_id, uint8_t page, uint64_t init_wait_ns,
		     void (*delay)(uint64_t ns))
{
	icr(apic_id, 0x4500);
	delay(init_wait_ns);
	for (int i = 0; i < 2; i++) {
		icr(apic_id, 0x4600 | page);
		delay(200000);
	}
}

uint64_t lapic_timer_calibrate(uint64_t (*now)(void))
{
	uint64_t t0, t1;
	uint32_t c0, c1;

	wr(REG_LVT_TIMER, LVT_MASKED);
	wr(REG_TIMER_INIT, 0xffffffff);
	c0 = rd(REG_TIMER_CUR);
	t0 = now();
	while ((t1 = now()) - t0 < 10000000) /* 10 ms */
		cpu_relax();
	c1 = rd(REG_TIMER_CUR);
	wr(REG_TIMER_INIT, 0);
	return t1 > t0 ? (uint64_t)(c0 - c1) * 1000000000ULL / (t1 - t0) : 0;
}

void lapic_timer_oneshot(uint8_t vector, uint32_t count)
{
	wr(REG_LVT_TIMER, vector);
	wr(REG_TIMER_INIT, count ? count : 1);
}

bool lapic_has_tsc_deadline(void)
{
	return cpuid(1, 0).ecx & (1u << 24);
}

void lapic_timer_deadline(uint8_t vector, uint64_t tsc)
{
	wr(REG_LVT_TIMER, LVT_TSC_DEADLINE | vector);
	wrmsr(MSR_TSC_DEADLINE, tsc);
}

void lapic_timer_stop(void)
{
	wr(REG_LVT_TIMER, LVT_MASKED);
	wr(REG_TIMER_INIT, 0);
}
