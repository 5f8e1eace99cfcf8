/* lwIP's platform header for Amphi (lwIP 2.1, doc/sys_arch.txt): freestanding, little
 * endian, diagnostics to the kernel console, assertions panic. */
#ifndef AMPHI_LWIP_ARCH_CC_H
#define AMPHI_LWIP_ARCH_CC_H

#include <stddef.h>
#include <stdint.h>

#define BYTE_ORDER LITTLE_ENDIAN
#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1
#define LWIP_NO_UNISTD_H 1
#define LWIP_NO_LIMITS_H 1
#define INT_MAX __INT_MAX__
#define SSIZE_MAX INT64_MAX
typedef long ssize_t;

#define X8_F "02x"
#define U16_F "u"
#define S16_F "d"
#define X16_F "x"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "lu"

void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void panic(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
uint32_t net_rand(void);
/* RFC 6528's initial sequence numbers (net/core.c; lwipopts.h's LWIP_HOOK_TCP_ISN): the
 * addresses are lwIP's ip_addr_t */
uint32_t net_tcp_isn(const void *local_ip, uint16_t local_port, const void *remote_ip,
		     uint16_t remote_port);

#define LWIP_PLATFORM_DIAG(x) \
	do {                  \
		kprintf x;    \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) panic("lwip: assertion \"%s\" failed at %s:%d", x, __FILE__, __LINE__)
#define LWIP_RAND() net_rand()

#endif
