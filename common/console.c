/* The console. Once more than one CPU can print (console_percpu_start), a write goes into
 * that CPU's own buffer (a single-producer ring, filled with interrupts off) and then to
 * the device by whoever holds the console token, for every CPU at once. No writer waits for
 * another, so a vCPU the hypervisor preempts mid-print stalls nobody; each write reaches the
 * device whole. A full buffer drops output and says how much later. */
#include "common/console.h"

#include <stdarg.h>

#include "arch_x86_64/arch.h"
#include "arch_x86_64/cpu.h"
#include "arch_x86_64/percpu.h"
#include "common/hal.h"
#include "lib/format.h"
#include "lib/spinlock.h"
#include "lib/string.h"
#include "mm/mm.h"

#define CBUF 8192

struct cbuf {
	char data[CBUF];
	uint64_t head, tail; /* bytes written by the CPU / written out by the token holder */
	uint64_t dropped;
};

static void (*sink)(const char *s, size_t n);
static bool percpu;
static struct cbuf *cbufs[MAX_CPUS];
static int token;

void console_set_sink(void (*write)(const char *s, size_t n))
{
	sink = write;
}

static void device_write(const char *s, size_t n)
{
	if (sink)
		sink(s, n);
	else
		arch->early_write(s, n);
}

void console_percpu_start(unsigned cpu)
{
	cbufs[cpu] = kcalloc(1, sizeof(struct cbuf));
	if (cpu == 0 && cbufs[0])
		percpu = true;
}

/* Writes out what every CPU buffered; returns false when another CPU holds the token. */
static bool flush(void)
{
	bool again = true;

	while (again) {
		if (__atomic_exchange_n(&token, 1, __ATOMIC_ACQUIRE))
			return false;
		again = false;
		for (unsigned i = 0; i < MAX_CPUS; i++) {
			struct cbuf *b = cbufs[i];

			if (!b)
				continue;
			uint64_t head = __atomic_load_n(&b->head, __ATOMIC_ACQUIRE);

			while (b->tail < head) {
				uint64_t off = b->tail % CBUF, n = MIN(head - b->tail, CBUF - off);

				device_write(b->data + off, n);
				__atomic_store_n(&b->tail, b->tail + n, __ATOMIC_RELEASE);
			}
			uint64_t lost = __atomic_exchange_n(&b->dropped, 0, __ATOMIC_RELAXED);

			if (lost) {
				char note[48];
				int len = ksnprintf(note, sizeof(note),
						    "[console: cpu %u dropped %lu bytes]\n", i, lost);

				device_write(note, len);
			}
		}
		/* (an exchange, a full barrier: a plain store could pass the loads below, and a
		 * writer that found the token still taken meanwhile would see its line stay in
		 * its buffer until the next write) */
		__atomic_exchange_n(&token, 0, __ATOMIC_SEQ_CST);
		/* a write that came while we held the token: its writer found it taken */
		for (unsigned i = 0; i < MAX_CPUS && !again; i++)
			again = cbufs[i] && __atomic_load_n(&cbufs[i]->head, __ATOMIC_ACQUIRE) !=
						    __atomic_load_n(&cbufs[i]->tail, __ATOMIC_ACQUIRE);
	}
	return true;
}

void console_write(const char *s, size_t n)
{
	/* this CPU's buffer, taken with interrupts off: a thread may move to another CPU at
	 * any preemption, and each buffer has one writer, its CPU */
	uint64_t f = irq_save();
	struct cbuf *b = percpu ? cbufs[arch_cpu_id()] : NULL;

	if (!b) {
		irq_restore(f);
		device_write(s, n);
		return;
	}
	uint64_t head = b->head, room = CBUF - (head - __atomic_load_n(&b->tail, __ATOMIC_ACQUIRE));

	if (n > room) {
		b->dropped += n;
	} else {
		for (size_t i = 0; i < n;) {
			uint64_t off = (head + i) % CBUF, k = MIN(n - i, CBUF - off);

			memcpy(b->data + off, s + i, k);
			i += k;
		}
		__atomic_store_n(&b->head, head + n, __ATOMIC_RELEASE);
	}
	irq_restore(f);
	flush();
}

void console_flush(void)
{
	/* bounded: if the holder never lets go (its CPU stopped), write ours out anyway */
	unsigned long spins = 0;

	for (long i = 0; percpu && i < 10000000; i++) {
		if (flush())
			return;
		spin_wait(&spins);
	}
	uint64_t f = irq_save();
	struct cbuf *b = percpu ? cbufs[arch_cpu_id()] : NULL;

	for (uint64_t head = b ? b->head : 0; b && b->tail < head; b->tail++)
		device_write(b->data + b->tail % CBUF, 1);
	irq_restore(f);
}

static bool times, mid_line; /* mid_line: the last kprintf did not end its line */

void console_times(bool on)
{
	times = on && hal;
}

void kprintf(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = 0;

	if (times && !mid_line) { /* (console_times: Xen's console log has no times) */
		uint64_t us = (hal->clock_ns() - hal_info.boot_ns) / 1000;

		n = ksnprintf(buf, sizeof(buf), "[%5lu.%06lu] ", (unsigned long)(us / 1000000),
			      (unsigned long)(us % 1000000));
	}
	va_start(ap, fmt);
	n += kvsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf)) {
		n = sizeof(buf) - 1;
		buf[n - 1] = '\n'; /* truncated: keep the line ending */
	}
	if (times && n > 0)
		mid_line = buf[n - 1] != '\n';
	console_write(buf, n);
}

/* --- input --------------------------------------------------------------------------- */

static void (*interrupt_fn)(void);
static struct console_input input;

void console_on_interrupt(void (*fn)(void))
{
	__atomic_store_n(&interrupt_fn, fn, __ATOMIC_SEQ_CST);
}

static void (*input_fn)(const char *s, size_t n);

void console_on_input(void (*fn)(const char *s, size_t n))
{
	__atomic_store_n(&input_fn, fn, __ATOMIC_SEQ_CST);
}

void console_interrupt_key(void)
{
	__atomic_add_fetch(&input.interrupts, 1, __ATOMIC_RELAXED);
	void (*fn)(void) = __atomic_load_n(&interrupt_fn, __ATOMIC_SEQ_CST);

	if (fn)
		fn();
}

void console_received(const char *s, size_t n)
{
	void (*in)(const char *, size_t) = __atomic_load_n(&input_fn, __ATOMIC_SEQ_CST);

	__atomic_add_fetch(&input.bytes, n, __ATOMIC_RELAXED);
	if (in) {
		in(s, n); /* (a reader: the bytes, Ctrl-C as it decides) */
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (s[i] == 0x03)
			console_interrupt_key();
}

void console_input_stats(struct console_input *in)
{
	in->bytes = __atomic_load_n(&input.bytes, __ATOMIC_RELAXED);
	in->interrupts = __atomic_load_n(&input.interrupts, __ATOMIC_RELAXED);
}
