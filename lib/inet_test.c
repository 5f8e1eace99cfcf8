#include <string.h>

#include "lib/errno.h"
#include "lib/inet.h"
#include "tools/unit/unit.h"

static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0, 0, 2 };
static const uint8_t ip[4] = { 10, 0, 9, 2 };
static const uint8_t peer_mac[6] = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff };

TEST(inet_checksum_rfc1071)
{
	/* RFC 1071's example bytes: sum 0xddf2, checksum its complement */
	static const uint8_t b[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };

	CHECK_EQ(inet_csum(b, sizeof(b)), (uint16_t)~0xddf2);
	static const uint8_t odd[] = { 0x01 };

	CHECK_EQ(inet_csum(odd, 1), (uint16_t)~0x0100);
}

static size_t echo_request(uint8_t *f, size_t payload)
{
	memset(f, 0, 1600);
	memcpy(f, mac, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08;
	uint8_t *h = f + 14;
	size_t total = 20 + 8 + payload;

	h[0] = 0x45;
	h[2] = total >> 8;
	h[3] = total & 0xff;
	h[8] = 64;
	h[9] = 1;
	memcpy(h + 12, (uint8_t[]){ 10, 0, 9, 1 }, 4);
	memcpy(h + 16, ip, 4);
	uint16_t c = inet_csum(h, 20);

	h[10] = c >> 8;
	h[11] = c & 0xff;
	uint8_t *icmp = h + 20;

	icmp[0] = 8;
	icmp[4] = 0x12;
	icmp[6] = 0x00;
	icmp[7] = 0x01;
	for (size_t i = 0; i < payload; i++)
		icmp[8 + i] = (uint8_t)i;
	c = inet_csum(icmp, 8 + payload);
	icmp[2] = c >> 8;
	icmp[3] = c & 0xff;
	return 14 + total;
}

TEST(inet_answers_echo_and_arp)
{
	uint8_t f[1600];
	size_t len = echo_request(f, 56), out = 0;

	CHECK_EQ(inet_answer(f, len + 10 /* Ethernet padding */, mac, ip, &out), INET_ECHO_REPLY);
	CHECK_EQ(out, len);
	CHECK(!memcmp(f, peer_mac, 6) && !memcmp(f + 6, mac, 6));
	CHECK(!memcmp(f + 14 + 12, ip, 4));
	CHECK_EQ(f[14 + 20], 0); /* echo reply */
	CHECK_EQ(inet_csum(f + 14, 20), 0);
	CHECK_EQ(inet_csum(f + 14 + 20, 8 + 56), 0);

	len = echo_request(f, 56);
	f[14 + 20 + 9] ^= 1; /* corrupt the payload: the checksum no longer fits */
	CHECK_EQ(inet_answer(f, len, mac, ip, &out), INET_BAD);
	len = echo_request(f, 56);
	f[14 + 3] += 100; /* an IP length past the frame */
	CHECK_EQ(inet_answer(f, len, mac, ip, &out), INET_BAD);
	len = echo_request(f, 56);
	f[14 + 19] = 3; /* for someone else */
	CHECK_EQ(inet_answer(f, len, mac, ip, &out), INET_IGNORED);
	CHECK_EQ(inet_answer(f, 10, mac, ip, &out), INET_IGNORED);

	/* ARP who-has 10.0.9.2 tell 10.0.9.1 */
	memset(f, 0, sizeof(f));
	memset(f, 0xff, 6);
	memcpy(f + 6, peer_mac, 6);
	f[12] = 0x08;
	f[13] = 0x06;
	uint8_t *a = f + 14;

	a[1] = 1;
	a[2] = 0x08;
	a[4] = 6;
	a[5] = 4;
	a[7] = 1;
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, (uint8_t[]){ 10, 0, 9, 1 }, 4);
	memcpy(a + 24, ip, 4);
	CHECK_EQ(inet_answer(f, 60, mac, ip, &out), INET_ARP_REPLY);
	CHECK_EQ(a[7], 2);
	CHECK(!memcmp(a + 8, mac, 6) && !memcmp(a + 14, ip, 4));
	CHECK(!memcmp(a + 18, peer_mac, 6) && a[24] == 10 && a[27] == 1);
	CHECK(!memcmp(f, peer_mac, 6));
	CHECK_EQ(inet_answer(f, 30, mac, ip, &out), INET_IGNORED); /* truncated */
}

TEST(inet_ip_addresses_parse)
{
	uint8_t b[4];

	CHECK_EQ(inet_parse_ip("10.0.9.2", b), 0);
	CHECK(b[0] == 10 && b[1] == 0 && b[2] == 9 && b[3] == 2);
	CHECK_EQ(inet_parse_ip("256.0.0.1", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("1.2.3", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("1.2.3.4.5", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("1..3.4", b), -EINVAL);
	CHECK_EQ(inet_parse_ip("", b), -EINVAL);
}
