/* The 16550 UART at COM1 (0x3f8), polled. PC hardware, so arch owns it; the kvm/qemu
 * platforms use it as their console, and the PVH entry as its early console. */
#ifndef ARCH_UART_H
#define ARCH_UART_H

#include <stddef.h>

void uart_init(void);
void uart_write(const char *s, size_t n);

#endif
