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

/* A device that completes transport checksums (virtio's NEEDS_CSUM) sums the bytes from
 * *start to the frame's end into the field at *start + *offset, which must hold the
 * pseudo-header's sum beforehand. For an unfragmented IPv4 TCP segment in an Ethernet
 * frame of len bytes, this writes that sum (whatever the field held) and returns true;
 * for anything else, or a frame whose headers do not fit or agree, false (its checksum
 * is then the sender's to make). */
bool inet_tcp_csum_offload(uint8_t *frame, size_t len, uint16_t *start, uint16_t *offset);

/* Two Ethernet IPv4 TCP frames: INET_OTHER_FLOW when they belong to different connections
 * (or either is no unfragmented IPv4 TCP), INET_ACK_SUPERSEDES when both are pure
 * acknowledgements (the ACK flag alone, no data) of one connection and newer's
 * acknowledges more than older's (older can go: newer says all it said, and a later
 * window), INET_SAME_FLOW otherwise (a duplicate acknowledgement, which a sender counts,
 * data, or other flags: both must go). */
enum inet_ack_relation { INET_OTHER_FLOW, INET_SAME_FLOW, INET_ACK_SUPERSEDES };
/* A TCP connection's initial sequence number as RFC 6528 has it: a clock of 4-us ticks
 * (ns / 4096) plus a keyed hash (SipHash-2-4) of the connection's addresses and ports, so
 * that nobody without the key can predict it, and a connection of the same addresses and
 * ports made again starts later in sequence space than the one before. Addresses and
 * ports as numbers (host order). */
uint32_t inet_tcp_isn(const uint64_t key[2], uint32_t laddr, uint16_t lport, uint32_t raddr,
		      uint16_t rport, uint64_t ns);

/* An Ethernet frame holding unfragmented IPv4 TCP whose headers fit and agree, read once
 * (inet_tcp_parse: false for anything else): where its TCP header starts, how many bytes
 * of data follow it, its flags byte (FIN 0x01 ... RST 0x04 ... ACK 0x10). */
struct inet_tcp {
	uint16_t tcp;
	uint16_t data;
	uint8_t flags;
};
bool inet_tcp_parse(const uint8_t *f, size_t len, struct inet_tcp *seg);
/* a pure acknowledgement (the ACK flag alone, no data): the only kind inet_ack_relation
 * lets supersede another */
static inline bool inet_tcp_is_pure_ack(const struct inet_tcp *seg)
{
	return !seg->data && seg->flags == 0x10;
}
bool inet_tcp_pure_ack(const uint8_t *f, size_t len);
/* inet_tcp_csum_offload's pseudo-header sum, for a frame inet_tcp_parse has read (its
 * start is seg->tcp, its offset INET_TCP_CSUM_OFFSET: the checksum's place in a TCP
 * header) */
#define INET_TCP_CSUM_OFFSET 16
void inet_tcp_pseudo_sum(uint8_t *f, const struct inet_tcp *seg);
enum inet_ack_relation inet_ack_relation(const uint8_t *newer, size_t nlen,
					 const uint8_t *older, size_t olen);

/* TSO by gathering: lwIP cuts a send into segments of the MSS; a device that cuts segments
 * itself (virtio's HOST_TSO4) takes one big segment instead. inet_tcp_append appends seg
 * (seglen bytes) to super (*len bytes in room bytes) when seg continues it: one
 * connection, the same header lengths and options, the same acknowledgement, seg's
 * sequence number right after super's data, super's flags ACK alone and seg's ACK or
 * ACK+PSH, both with data, super's data a whole number of *gso_size bytes (the first
 * segment's data length, set when 0) and seg's at most that, and 64 KiB at most. The IP
 * length and header checksum, the window (seg's), PSH and the pseudo-header sum
 * (inet_tcp_csum_offload) are made right; the device then cuts the very segments lwIP
 * made. INET_NO_ROOM: it would continue super but does not fit room. */
enum inet_append { INET_NOT_CONTINUED, INET_NO_ROOM, INET_APPENDED };
enum inet_append inet_tcp_append(uint8_t *super, size_t *len, size_t room, uint16_t *gso_size,
				 const uint8_t *seg, size_t seglen);

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
