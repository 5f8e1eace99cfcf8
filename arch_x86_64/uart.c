#include "arch_x86_64/uart.h"

#include "arch_x86_64/cpu.h"

#define COM1 0x3f8
#define LSR_DR 0x01
#define LSR_THRE 0x20

static unsigned fifo_size = 1; /* until uart_init turns the FIFO on */

void uart_init(void)
{
	outb(COM1 + 1, 0x00); /* no interrupts */
	outb(COM1 + 3, 0x80); /* DLAB: divisor follows */
	outb(COM1 + 0, 0x01); /* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03); /* 8N1 */
	outb(COM1 + 2, 0x07); /* FIFO on, cleared; receive interrupt at its first byte */
	fifo_size = 16;
}

/* Waits until the transmitter is empty: then its 16-byte FIFO (once uart_init turned it
 * on) takes 16 bytes without another look. Bounded: an absent UART reads 0xff (THRE set) and a
 * wedged one must not hang us. One status read per 16 bytes instead of per byte: each is
 * an exit to QEMU, and under TCG the boot's 2,000 characters cost 4 ms that way. */
static void wait_empty(void)
{
	for (int i = 0; i < 100000 && !(inb(COM1 + 5) & LSR_THRE); i++)
		cpu_relax();
}

static void put(char c, unsigned *room)
{
	if (!*room) {
		wait_empty();
		*room = fifo_size;
	}
	outb(COM1, c);
	--*room;
}

void uart_write(const char *s, size_t n)
{
	unsigned room = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			put('\r', &room);
		put(s[i], &room);
	}
}

bool uart_rx_enable(void)
{
	/* the scratch register holds what is written to it, where there is a UART */
	outb(COM1 + 7, 0x5a);
	if (inb(COM1 + 7) != 0x5a)
		return false;
	outb(COM1 + 4, 0x0b); /* DTR, RTS, OUT2 (which gates the PC's IRQ line) */
	outb(COM1 + 1, 0x01); /* interrupt on received data */
	return true;
}

size_t uart_read(char *buf, size_t n)
{
	size_t i = 0;

	while (i < n && (inb(COM1 + 5) & LSR_DR))
		buf[i++] = (char)inb(COM1);
	return i;
}
