/* panic(): for broken invariants only. Prints platform, CPU, reason, registers (for traps)
 * and a symbolised backtrace, then ends the VM with EXIT_PANIC. */
#ifndef COMMON_PANIC_H
#define COMMON_PANIC_H

#include "lib/compiler.h"

struct trap_frame;

void __noreturn panic(const char *fmt, ...) __printf(1, 2);
/* set by the scheduler: the running thread's name for panic reports */
extern const char *(*panic_thread_name)(void);
void __noreturn panic_trap(const struct trap_frame *f, uint64_t cr2);

#endif
