/* Kernel console: formatted output to whatever sink the boot stage has (the entry's early
 * console, then the platform's). */
#ifndef COMMON_CONSOLE_H
#define COMMON_CONSOLE_H

#include "lib/compiler.h"

void console_set_sink(void (*write)(const char *s, size_t n));
/* CPU `cpu` buffers its own output from now on (console.c); once CPU 0 does, several may
 * print at once. */
void console_percpu_start(unsigned cpu);
/* Writes out everything buffered (before shutdown; bounded). */
void console_flush(void);
void console_write(const char *s, size_t n);
void kprintf(const char *fmt, ...) __printf(1, 2);

/* Input: the platform's console driver hands what it received to console_received, in
 * interrupt context. Ctrl-C (ETX, 0x03) is the interrupt key: it calls the function
 * console_on_interrupt set (hp: SIGINT to the running program), or is dropped when none
 * is set. Nothing reads other input yet; it is counted and dropped. */
void console_received(const char *s, size_t n);
void console_on_interrupt(void (*fn)(void));
struct console_input {
	uint64_t bytes, interrupts;
};
void console_input_stats(struct console_input *in);

#endif
