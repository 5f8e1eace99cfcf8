/* The 16550 UART at COM1 (0x3f8): output polled, input by its interrupt. PC hardware, so
 * arch owns it; the kvm/qemu platforms use it as their console, and the PVH entry as its
 * early console. */
#ifndef ARCH_UART_H
#define ARCH_UART_H

#include <stdbool.h>
#include <stddef.h>

void uart_init(void);
void uart_write(const char *s, size_t n);
/* Received data raises the UART's interrupt (ISA IRQ 4) from now on; false when there is
 * no UART at COM1. */
bool uart_rx_enable(void);
/* Up to n received bytes, without waiting: how many */
size_t uart_read(char *buf, size_t n);

#endif
