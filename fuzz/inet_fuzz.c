/* lib/inet.c: inet_answer on an arbitrary frame addressed to an arbitrary mac/ip, and
 * inet_parse_ip on an arbitrary string. A reply must be a well-formed answer to what came
 * in (and one that net/frame.c accepts), anything else must leave the frame untouched.
 * Input: 6 bytes of MAC, 4 of IP, one selector byte, then the frame or the string. */
#include "fuzz/fuzz.h"
#include "lib/errno.h"
#include "lib/inet.h"
#include "net/frame.h"

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static void check_arp(const uint8_t *in, const uint8_t *out, size_t len, const uint8_t mac[6],
		      const uint8_t ip[4])
{
	const uint8_t *a = in + 14, *b = out + 14;

	FUZZ_CHECK(len >= 42 && be16(in + 12) == 0x0806);
	FUZZ_CHECK(be16(a + 6) == 1 && !memcmp(a + 24, ip, 4)); /* a request for us */
	FUZZ_CHECK(be16(b + 6) == 2);
	FUZZ_CHECK(!memcmp(b + 8, mac, 6) && !memcmp(b + 14, ip, 4));
	FUZZ_CHECK(!memcmp(b + 18, a + 8, 6) && !memcmp(b + 24, a + 14, 4));
	FUZZ_CHECK(!memcmp(out, in + 6, 6) && !memcmp(out + 6, mac, 6));
	FUZZ_CHECK(!memcmp(out + 12, in + 12, 8)); /* type, htype, ptype, sizes */
	FUZZ_CHECK(!memcmp(out + 42, in + 42, len - 42));
}

static void check_echo(const uint8_t *in, const uint8_t *out, size_t len, size_t out_len,
		       const uint8_t mac[6], const uint8_t ip[4])
{
	const uint8_t *h = out + 14;
	size_t ihl = (h[0] & 15u) * 4, total = be16(h + 2);

	FUZZ_CHECK(out_len == 14 + total && out_len <= len);
	FUZZ_CHECK(ihl >= 20 && total >= ihl + 8);
	FUZZ_CHECK(inet_csum(h, ihl) == 0);
	FUZZ_CHECK(inet_csum(h + ihl, total - ihl) == 0);
	FUZZ_CHECK(h[ihl] == 0 && h[ihl + 1] == 0); /* echo reply */
	FUZZ_CHECK(!memcmp(h + 12, ip, 4) && !memcmp(h + 16, in + 14 + 12, 4));
	FUZZ_CHECK(!memcmp(in + 14 + 16, ip, 4));
	FUZZ_CHECK(!memcmp(out, in + 6, 6) && !memcmp(out + 6, mac, 6));
	/* the data is echoed as it came, and nothing past the reply is touched */
	FUZZ_CHECK(!memcmp(h + ihl + 4, in + 14 + ihl + 4, total - ihl - 4));
	FUZZ_CHECK(!memcmp(out + out_len, in + out_len, len - out_len));
	FUZZ_CHECK(frame_check(out, out_len) == FRAME_OK);
}

static void parse_ip(struct fz *f)
{
	char *s = fz_str(f), back[20];
	uint8_t ip[4] = {1, 2, 3, 4}, again[4];
	int rc = inet_parse_ip(s, ip);
	unsigned dots = 0;

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (!rc) {
		/* four groups of 1-4 digits (leading zeros allowed), three dots, nothing else */
		for (const char *p = s; *p; p++) {
			FUZZ_CHECK((*p >= '0' && *p <= '9') || *p == '.');
			dots += *p == '.';
		}
		FUZZ_CHECK(dots == 3 && strlen(s) <= 19);
		snprintf(back, sizeof(back), "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
		FUZZ_CHECK(inet_parse_ip(back, again) == 0 && !memcmp(ip, again, 4));
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = {data, size};
	uint8_t mac[6], ip[4];

	memset(mac, 0, sizeof(mac));
	memset(ip, 0, sizeof(ip));
	fz_bytes(&f, mac, 6);
	fz_bytes(&f, ip, 4);
	if (fz_u8(&f) == 'P') {
		parse_ip(&f);
		return 0;
	}
	size_t len = f.n, out_len = 0x5555;
	uint8_t *in = malloc(len ? len : 1), *out = malloc(len ? len : 1);

	fz_bytes(&f, in, len);
	memcpy(out, in, len);
	enum inet_answer a = inet_answer(out, len, mac, ip, &out_len);

	switch (a) {
	case INET_IGNORED:
	case INET_BAD:
		FUZZ_CHECK(!memcmp(out, in, len));
		break;
	case INET_ARP_REPLY:
		FUZZ_CHECK(out_len == len);
		check_arp(in, out, len, mac, ip);
		break;
	case INET_ECHO_REPLY:
		check_echo(in, out, len, out_len, mac, ip);
		break;
	default:
		FUZZ_CHECK(!"an answer inet.h does not list");
	}
	/* the checksum of data that ends in its own checksum is 0 */
	if (len >= 2 && len % 2 == 0) {
		uint16_t c;

		in[len - 2] = in[len - 1] = 0;
		c = inet_csum(in, len);
		in[len - 2] = (uint8_t)(c >> 8);
		in[len - 1] = (uint8_t)c;
		FUZZ_CHECK(inet_csum(in, len) == 0);
	}
	free(in);
	free(out);
	return 0;
}
