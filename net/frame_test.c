#include <string.h>

#include "lib/inet.h"
#include "net/frame.h"
#include "tools/unit/unit.h"

/* a valid Ethernet + IPv4 + UDP frame with 8 bytes of data */
static size_t udp_frame(uint8_t *f)
{
	memset(f, 0, 64);
	f[12] = 0x08;
	uint8_t *ip = f + 14;

	ip[0] = 0x45;
	ip[3] = 20 + 16;
	ip[8] = 64;
	ip[9] = 17;
	ip[12] = 10, ip[15] = 1, ip[16] = 10, ip[19] = 2;
	uint16_t c = inet_csum(ip, 20);

	ip[10] = c >> 8, ip[11] = c & 255;
	ip[25] = 16; /* udp length */
	return 14 + 36;
}

static void fix_ip_sum(uint8_t *f)
{
	f[24] = f[25] = 0;
	uint16_t c = inet_csum(f + 14, (f[14] & 15u) * 4);

	f[24] = c >> 8, f[25] = c & 255;
}

TEST(frame_check_verdicts)
{
	uint8_t f[128];
	size_t n = udp_frame(f);

	CHECK_EQ(frame_check(f, n), FRAME_OK);
	CHECK_EQ(frame_check(f, 13), FRAME_ETH_SHORT);
	CHECK_EQ(frame_check(f, 14), FRAME_IP_SHORT);
	CHECK_EQ(frame_check(f, 30), FRAME_IP_SHORT);
	CHECK_EQ(frame_check(f, n - 1), FRAME_IP_TOTAL_LEN); /* total says more than there is */
	f[14] = 0x65;
	CHECK_EQ(frame_check(f, n), FRAME_IP_VERSION);
	f[14] = 0x43;
	CHECK_EQ(frame_check(f, n), FRAME_IP_HEADER_LEN);
	f[14] = 0x4f;
	CHECK_EQ(frame_check(f, n), FRAME_IP_HEADER_LEN);
	n = udp_frame(f);
	f[17] = 12; /* total below the header */
	fix_ip_sum(f);
	CHECK_EQ(frame_check(f, n), FRAME_IP_TOTAL_LEN);
	n = udp_frame(f);
	f[24] ^= 1;
	CHECK_EQ(frame_check(f, n), FRAME_IP_CHECKSUM);
	n = udp_frame(f);
	f[39] = 200; /* udp length beyond the datagram */
	CHECK_EQ(frame_check(f, n), FRAME_UDP_LEN);
	f[39] = 4;
	CHECK_EQ(frame_check(f, n), FRAME_UDP_LEN);
	n = udp_frame(f);
	f[17] = 24; /* 4 bytes of udp */
	fix_ip_sum(f);
	CHECK_EQ(frame_check(f, n), FRAME_UDP_SHORT);
	n = udp_frame(f);
	f[20] = 0x20; /* a later fragment: not judged beyond ip */
	fix_ip_sum(f);
	f[39] = 200;
	CHECK_EQ(frame_check(f, n), FRAME_OK);
	/* tcp */
	n = udp_frame(f);
	f[23] = 6;
	f[17] = 40;
	fix_ip_sum(f);
	n = 14 + 40;
	f[34 + 12] = 0x50;
	CHECK_EQ(frame_check(f, n), FRAME_OK);
	f[34 + 12] = 0x40;
	CHECK_EQ(frame_check(f, n), FRAME_TCP_OFFSET);
	f[34 + 12] = 0x60;
	CHECK_EQ(frame_check(f, n), FRAME_TCP_OFFSET);
	f[17] = 30;
	fix_ip_sum(f);
	CHECK_EQ(frame_check(f, n), FRAME_TCP_SHORT);
	/* arp, other types */
	f[12] = 0x08, f[13] = 0x06;
	CHECK_EQ(frame_check(f, 14 + 27), FRAME_ARP_SHORT);
	CHECK_EQ(frame_check(f, 14 + 28), FRAME_OK);
	f[12] = 0x86, f[13] = 0xdd;
	CHECK_EQ(frame_check(f, 20), FRAME_OK);
	CHECK(strcmp(frame_verdict_name(FRAME_UDP_LEN), "udp length") == 0);
}

/* a frame in several buffers (a device's large receive): its length is the whole frame's,
 * and every header must be in the first buffer */
TEST(frame_check_split_headers)
{
	static uint8_t f[70000];
	uint8_t *ip = f + 14, *t = ip + 20;

	memset(f, 0, sizeof(f));
	f[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = 0xff, ip[3] = 0xff; /* 65,535: the largest IPv4 datagram */
	ip[8] = 64;
	ip[9] = 6;
	fix_ip_sum(f);
	t[12] = 0x80; /* a 32-byte TCP header (timestamps) */
	size_t len = 14 + 65535;

	CHECK_EQ(frame_check_split(f, 4020, len), FRAME_OK);
	CHECK_EQ(frame_check_split(f, 14 + 20 + 32, len), FRAME_OK);
	CHECK_EQ(frame_check_split(f, 14 + 20 + 31, len), FRAME_SPLIT); /* options cut */
	CHECK_EQ(frame_check_split(f, 14 + 20 + 19, len), FRAME_SPLIT);
	CHECK_EQ(frame_check_split(f, 14 + 19, len), FRAME_SPLIT);
	CHECK_EQ(frame_check_split(f, 4020, len - 1), FRAME_IP_TOTAL_LEN);
	CHECK_EQ(frame_check_split(f, len + 100, len), FRAME_OK); /* have beyond len: len */
	ip[9] = 17; /* udp */
	fix_ip_sum(f);
	CHECK_EQ(frame_check_split(f, 14 + 20 + 7, len), FRAME_SPLIT);
	f[12] = 0x08, f[13] = 0x06; /* arp */
	CHECK_EQ(frame_check_split(f, 14 + 27, 14 + 28), FRAME_SPLIT);
	CHECK(strcmp(frame_verdict_name(FRAME_SPLIT), "headers split") == 0);
}
