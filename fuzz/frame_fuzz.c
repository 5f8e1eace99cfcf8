/* net/frame.c: frame_check on an arbitrary received frame (exactly its length on the heap).
 * A frame it passes must have the headers it promises lwIP: checked here from the bytes.
 * And Ethernet padding never changes an accepted frame's verdict. */
#include "fuzz/fuzz.h"
#include "lib/inet.h"
#include "net/frame.h"

static unsigned be16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* what FRAME_OK promises for an IPv4 frame */
static void check_ipv4(const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + 14;
	size_t ihl = (ip[0] & 15u) * 4, total;

	FUZZ_CHECK(len >= 14 + 20 && ip[0] >> 4 == 4);
	FUZZ_CHECK(ihl >= 20 && 14 + ihl <= len);
	total = be16(ip + 2);
	FUZZ_CHECK(total >= ihl && 14 + total <= len);
	FUZZ_CHECK(inet_csum(ip, ihl) == 0);
	if (be16(ip + 6) & 0x1fff)
		return;
	const uint8_t *l4 = ip + ihl;
	size_t payload = total - ihl;

	if (ip[9] == 17) {
		FUZZ_CHECK(payload >= 8 && be16(l4 + 4) >= 8);
		FUZZ_CHECK((be16(ip + 6) & 0x2000) || be16(l4 + 4) <= payload);
	} else if (ip[9] == 6) {
		FUZZ_CHECK(payload >= 20 && (l4[12] >> 4) >= 5 && (l4[12] >> 4) * 4u <= payload);
	} else if (ip[9] == 1) {
		FUZZ_CHECK(payload >= 8);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *f = malloc(size ? size : 1);

	memcpy(f, data, size);
	enum frame_verdict v = frame_check(f, size);

	FUZZ_CHECK((unsigned)v < FRAME_VERDICTS);
	FUZZ_CHECK(strcmp(frame_verdict_name(v), "?"));
	if (v == FRAME_OK && size >= 14 && be16(f + 12) == 0x0800)
		check_ipv4(f, size);
	if (v == FRAME_OK && size >= 14 && be16(f + 12) == 0x0806)
		FUZZ_CHECK(size >= 14 + 28);
	if (v == FRAME_OK) {
		size_t pad = size % 61;
		uint8_t *g = malloc(size + pad);

		memcpy(g, f, size);
		memset(g + size, 0xa5, pad);
		FUZZ_CHECK(frame_check(g, size + pad) == FRAME_OK);
		free(g);
	}
	free(f);
	return 0;
}
