/* The PC's CMOS real-time clock (MC146818 registers through ports 0x70/0x71). */
#ifndef ARCH_RTC_H
#define ARCH_RTC_H

#include "lib/compiler.h"

/* Seconds since the epoch, read consistently; 0 when there is no sane RTC. */
uint64_t rtc_read_epoch(void);
/* The periodic interrupt (ISA IRQ 8) at 32768 >> (rate - 1) Hz, rate 3-15; 0 stops it.
 * Callers keep CMOS accesses on one CPU at a time (an index write, then the data). */
void rtc_periodic(unsigned rate);
/* Acknowledges the RTC's interrupt (reads register C); true when it was the periodic one.
 * Until then the RTC raises no further interrupt. */
bool rtc_ack(void);

#endif
