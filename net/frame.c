#include "net/frame.h"

#include "lib/inet.h"

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

enum frame_verdict frame_check(const uint8_t *f, size_t len)
{
	return frame_check_split(f, len, len);
}

/* every header read below is within the first `have` bytes */
enum frame_verdict frame_check_split(const uint8_t *f, size_t have, size_t len)
{
	if (have > len)
		have = len;
	if (len < 14)
		return FRAME_ETH_SHORT;
	unsigned type = be16(f + 12);

	if (type == 0x0806)
		return len < 14 + 28 ? FRAME_ARP_SHORT : have < 14 + 28 ? FRAME_SPLIT : FRAME_OK;
	if (type != 0x0800)
		return FRAME_OK; /* not ours to judge: lwIP ignores other types */
	const uint8_t *ip = f + 14;
	size_t avail = len - 14;

	if (avail < 20)
		return FRAME_IP_SHORT;
	if (have < 14 + 20)
		return FRAME_SPLIT;
	if (ip[0] >> 4 != 4)
		return FRAME_IP_VERSION;
	size_t ihl = (ip[0] & 15u) * 4, total = be16(ip + 2);

	if (ihl < 20 || ihl > avail)
		return FRAME_IP_HEADER_LEN;
	if (total < ihl || total > avail)
		return FRAME_IP_TOTAL_LEN;
	if (14 + ihl > have)
		return FRAME_SPLIT;
	if (inet_csum(ip, ihl))
		return FRAME_IP_CHECKSUM;
	unsigned frag = be16(ip + 6);

	if (frag & 0x1fff)
		return FRAME_OK; /* a later fragment: no transport header here */
	bool more = frag & 0x2000;
	const uint8_t *l4 = ip + ihl;
	size_t payload = total - ihl;

	switch (ip[9]) {
	case 17:
		if (payload < 8)
			return FRAME_UDP_SHORT;
		if (14 + ihl + 8 > have)
			return FRAME_SPLIT;
		if (be16(l4 + 4) < 8 || (!more && be16(l4 + 4) > payload))
			return FRAME_UDP_LEN;
		return FRAME_OK;
	case 6:
		if (payload < 20)
			return FRAME_TCP_SHORT;
		if (14 + ihl + 20 > have)
			return FRAME_SPLIT;
		if ((l4[12] >> 4) < 5 || (l4[12] >> 4) * 4u > payload)
			return FRAME_TCP_OFFSET;
		return 14 + ihl + (l4[12] >> 4) * 4u > have ? FRAME_SPLIT : FRAME_OK;
	case 1:
		return payload < 8 ? FRAME_ICMP_SHORT : 14 + ihl + 8 > have ? FRAME_SPLIT : FRAME_OK;
	default:
		return FRAME_OK;
	}
}

const char *frame_verdict_name(enum frame_verdict v)
{
	static const char *const names[FRAME_VERDICTS] = {
		"ok",	       "ethernet short", "arp short",	    "ipv4 short",
		"ip version",  "ip header length", "ip total length", "ip checksum",
		"udp short",   "udp length",	   "tcp short",	      "tcp offset",
		"icmp short",  "headers split",
	};

	return (unsigned)v < FRAME_VERDICTS ? names[v] : "?";
}
