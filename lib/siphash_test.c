#include "lib/siphash.h"
#include "tools/unit/unit.h"

/* the paper's appendix A: key 00 01 .. 0f, message 00 01 .. 0e */
TEST(siphash24_gives_the_papers_test_vector)
{
	const uint64_t key[2] = { 0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull };
	uint8_t m[15];

	for (unsigned i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)i;
	CHECK_EQ(siphash24(key, m, sizeof(m)), 0xa129ca6149be45e5ull);
	/* another key, another length, one bit of the message: other values */
	const uint64_t key2[2] = { key[0] ^ 1, key[1] };

	CHECK(siphash24(key2, m, sizeof(m)) != 0xa129ca6149be45e5ull);
	CHECK(siphash24(key, m, 14) != siphash24(key, m, 15));
	m[8] ^= 0x80;
	CHECK(siphash24(key, m, sizeof(m)) != 0xa129ca6149be45e5ull);
	CHECK(siphash24(key, m, 0) != siphash24(key, m, 8));
}
