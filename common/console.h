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
/* console_times on the command line: each kernel line starts with the time since boot,
 * "[    0.036123] " (seconds; Xen's console log has no times) */
void console_times(bool on);

/* Input: the platform's console driver hands what it received to console_received, in
 * interrupt context. With a reader (console_on_input: hp's terminal, hp/tty.c) every byte
 * goes to it, and it calls console_interrupt_key for the interrupt key when its termios
 * say so; without one, Ctrl-C (ETX, 0x03) is the interrupt key and the rest is counted and
 * dropped. The interrupt key calls the function console_on_interrupt set (hp: SIGINT to the
 * foreground process group), or is dropped when none is set. */
void console_received(const char *s, size_t n);
void console_on_interrupt(void (*fn)(void));
void console_on_input(void (*fn)(const char *s, size_t n));
void console_interrupt_key(void);
struct console_input {
	uint64_t bytes, interrupts;
};
void console_input_stats(struct console_input *in);

#endif
