/* panic(): for broken invariants only. Prints platform, CPU, reason, registers (for traps)
 * and a symbolised backtrace, then ends the VM with EXIT_PANIC. */
#ifndef COMMON_PANIC_H
#define COMMON_PANIC_H

#include <stdarg.h>

#include "lib/compiler.h"

struct trap_frame;

void __noreturn panic(const char *fmt, ...) __printf(1, 2);
void __noreturn vpanic(const char *fmt, va_list ap);
/* set by the scheduler: the running thread's name for panic reports */
extern const char *(*panic_thread_name)(void);
void __noreturn panic_trap(const struct trap_frame *f, uint64_t cr2);

#endif
