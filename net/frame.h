/* The sanity check every received frame passes before classification and lwIP: the
 * Ethernet, ARP, IPv4, UDP, TCP and ICMP headers must fit the frame and agree with each
 * other, and the IPv4 header checksum must hold. Transport checksums are lwIP's to check.
 * Pure: host-tested. */
#ifndef NET_FRAME_H
#define NET_FRAME_H

#include "lib/compiler.h"

enum frame_verdict {
	FRAME_OK,
	FRAME_ETH_SHORT,
	FRAME_ARP_SHORT,
	FRAME_IP_SHORT,
	FRAME_IP_VERSION,
	FRAME_IP_HEADER_LEN,
	FRAME_IP_TOTAL_LEN,
	FRAME_IP_CHECKSUM,
	FRAME_UDP_SHORT,
	FRAME_UDP_LEN,
	FRAME_TCP_SHORT,
	FRAME_TCP_OFFSET,
	FRAME_ICMP_SHORT,
	FRAME_SPLIT, /* a frame in several buffers whose headers do not fit the first */
	FRAME_VERDICTS
};

enum frame_verdict frame_check(const uint8_t *f, size_t len);
/* The same for a frame of len bytes in several buffers (a device's large receive), of
 * which the first `have` are at f: its headers must all be there (lwIP reads them there,
 * and so do the classifier and the stack's own checks). */
enum frame_verdict frame_check_split(const uint8_t *f, size_t have, size_t len);
const char *frame_verdict_name(enum frame_verdict v);

#endif
