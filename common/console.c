#include "common/console.h"

#include <stdarg.h>

#include "arch_x86_64/arch.h"
#include "lib/format.h"
#include "lib/string.h"

static void (*sink)(const char *s, size_t n);

void console_set_sink(void (*write)(const char *s, size_t n))
{
	sink = write;
}

void console_write(const char *s, size_t n)
{
	if (sink)
		sink(s, n);
	else
		arch->early_write(s, n);
}

void kprintf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n'; /* truncated: keep the line ending */
	}
	console_write(buf, n);
}
