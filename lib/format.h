/* printf-style formatting without libc: %d %i %u %x %X %p %s %c %%, flags '-' '0' '#',
 * width and precision (also '*'), length modifiers hh h l ll z. */
#ifndef LIB_FORMAT_H
#define LIB_FORMAT_H

#include <stdarg.h>
#include <stddef.h>

#include "lib/compiler.h"

/* Writes at most size-1 characters and a NUL (when size > 0); returns the length the
 * full output would have had, like C99 snprintf. */
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);

#endif
