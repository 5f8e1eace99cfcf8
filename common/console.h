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

#endif
