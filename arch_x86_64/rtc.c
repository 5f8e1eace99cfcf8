#include "arch_x86_64/rtc.h"

#include "arch_x86_64/cpu.h"
#include "lib/time.h"

static uint8_t cmos(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static unsigned bcd(uint8_t v, bool binary)
{
	return binary ? v : (v >> 4) * 10 + (v & 15);
}

#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define B_PIE 0x40
#define C_PF 0x40

void rtc_periodic(unsigned rate)
{
	if (rate) {
		outb(0x70, REG_A);
		outb(0x71, (inb(0x71) & 0xf0) | (rate & 15));
	}
	outb(0x70, REG_B);
	uint8_t b = inb(0x71);

	outb(0x70, REG_B);
	outb(0x71, rate ? b | B_PIE : b & ~B_PIE);
	rtc_ack();
}

bool rtc_ack(void)
{
	return cmos(REG_C) & C_PF;
}

uint64_t rtc_read_epoch(void)
{
	uint8_t r[7], again[7];
	const uint8_t regs[7] = { 0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32 };

	/* read until two reads agree and no update was running: the RTC ticks meanwhile */
	for (int tries = 0; tries < 10; tries++) {
		for (int i = 0; i < 1000 && (cmos(0x0a) & 0x80); i++)
			cpu_relax();
		for (int i = 0; i < 7; i++)
			r[i] = cmos(regs[i]);
		for (int i = 0; i < 7; i++)
			again[i] = cmos(regs[i]);
		if (!__builtin_memcmp(r, again, sizeof(r)))
			break;
	}
	uint8_t b = cmos(0x0b);
	bool binary = b & 4, h24 = b & 2;
	unsigned hour = bcd(r[2] & 0x7f, binary);

	if (!h24 && (r[2] & 0x80))
		hour = (hour % 12) + 12;
	unsigned century = bcd(r[6], binary);
	unsigned year = bcd(r[5], binary) + (century >= 19 && century <= 21 ? century * 100 : 2000);
	unsigned mon = bcd(r[4], binary), day = bcd(r[3], binary);

	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || r[0] == 0xff)
		return 0;
	return (uint64_t)days_from_civil(year, mon, day) * 86400 + hour * 3600 +
	       bcd(r[1], binary) * 60 + bcd(r[0], binary);
}
