/* Just enough of Ethernet, ARP, IPv4 and ICMP for a test responder (the real stack is
 * lwIP): the Internet checksum (RFC 1071) and an ARP/ICMP-echo answering function that
 * rewrites a received frame into its reply in place. Pure code, host-tested. */
#ifndef LIB_INET_H
#define LIB_INET_H

#include "lib/compiler.h"

#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806

/* The ones-complement sum of len bytes, folded and complemented (as stored in headers;
 * over data that includes a correct checksum it is 0). */
uint16_t inet_csum(const void *data, size_t len);

enum inet_answer {
	INET_IGNORED, /* not for us, or not something we answer */
	INET_BAD,     /* for us but malformed (bad length or checksum) */
	INET_ARP_REPLY,
	INET_ECHO_REPLY,
};

/* frame (len bytes, room for at least len) is an Ethernet frame received by mac/ip
 * (ip in network order as 4 bytes). An ARP request for ip or an ICMP echo request to ip is
 * rewritten into its reply (the same length: *out_len) and the kind returned. */
enum inet_answer inet_answer(uint8_t *frame, size_t len, const uint8_t mac[6],
			     const uint8_t ip[4], size_t *out_len);
/* "a.b.c.d" to 4 bytes: 0 or -EINVAL */
int inet_parse_ip(const char *s, uint8_t ip[4]);

#endif
