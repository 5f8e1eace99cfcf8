#include "lib/chacha.h"
#include "lib/rng.h"
#include "tools/unit/unit.h"

#include <string.h>

/* RFC 8439, section 2.3.2: key 00 01 .. 1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00,
 * block counter 1 */
TEST(chacha20_block_gives_the_rfcs_test_vector)
{
	static const uint8_t want[64] = {
		0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3,
		0x20, 0x71, 0xc4, 0xc7, 0xd1, 0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22,
		0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e, 0xd2, 0x82, 0x64, 0x46, 0x07, 0x9f, 0xaa,
		0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2, 0xb5, 0x12, 0x9c, 0xd1,
		0xde, 0x16, 0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e,
	};
	uint32_t key[8];
	const uint32_t nonce[3] = { 0x09000000, 0x4a000000, 0 };
	uint8_t out[64];

	for (unsigned i = 0; i < 8; i++)
		key[i] = (uint32_t)(4 * i) | (uint32_t)(4 * i + 1) << 8 |
			 (uint32_t)(4 * i + 2) << 16 | (uint32_t)(4 * i + 3) << 24;
	chacha20_block(key, 1, nonce, out);
	CHECK(memcmp(out, want, 64) == 0);
	chacha20_block(key, 2, nonce, out); /* the next block: another */
	CHECK(memcmp(out, want, 64) != 0);
}

TEST(rng_erases_its_key_with_every_request_and_mixes_input_into_it)
{
	struct rng a = { { 1, 2, 3, 4, 5, 6, 7, 8 } }, b = a;
	const struct rng start = a;
	static const uint32_t zero[3];
	uint8_t x[100], y[100], blk[64];

	/* a request: block 0's second half, then blocks 1, 2, ... under the key it began with;
	 * block 0's first half is the next key */
	rng_bytes(&a, x, sizeof(x));
	chacha20_block(start.key, 0, zero, blk);
	CHECK(memcmp(x, blk + 32, 32) == 0);
	chacha20_block(start.key, 1, zero, blk);
	CHECK(memcmp(x + 32, blk, 64) == 0);
	chacha20_block(start.key, 2, zero, blk);
	CHECK(memcmp(x + 96, blk, 4) == 0);
	chacha20_block(start.key, 0, zero, blk);
	CHECK(memcmp(a.key, blk, 32) == 0); /* (little-endian words: the host's order) */
	/* the same state, the same bytes; the next request other bytes */
	rng_bytes(&b, y, sizeof(y));
	CHECK(memcmp(x, y, sizeof(x)) == 0);
	rng_bytes(&b, y, sizeof(y));
	CHECK(memcmp(x, y, sizeof(x)) != 0);
	/* a short request and a request of none move the key on too */
	struct rng c = start;

	rng_bytes(&c, y, 3);
	CHECK(memcmp(y, x, 3) == 0);
	CHECK(memcmp(c.key, a.key, 32) == 0);
	rng_bytes(&c, y, 0);
	CHECK(memcmp(c.key, a.key, 32) != 0);

	/* mixing: the same input into the same state, the same key; another input (one bit,
	 * or a byte more) or another state, another key; nothing at all still moves it */
	struct rng m1 = start, m2 = start, m3 = start, m4 = start, m5 = a;
	uint8_t in[16] = { 0 };

	rng_mix(&m1, in, sizeof(in));
	rng_mix(&m2, in, sizeof(in));
	CHECK(memcmp(m1.key, m2.key, 32) == 0);
	CHECK(memcmp(m1.key, start.key, 32) != 0);
	in[15] ^= 0x80;
	rng_mix(&m3, in, sizeof(in));
	CHECK(memcmp(m1.key, m3.key, 32) != 0);
	in[15] ^= 0x80;
	rng_mix(&m4, in, sizeof(in) - 1);
	CHECK(memcmp(m1.key, m4.key, 32) != 0);
	rng_mix(&m5, in, sizeof(in));
	CHECK(memcmp(m1.key, m5.key, 32) != 0);
	struct rng m6 = start;

	rng_mix(&m6, in, 0);
	CHECK(memcmp(m6.key, start.key, 32) != 0);
}

/* 256 KiB of its output: each byte value about equally often (chi-square with 255
 * degrees of freedom: mean 255, standard deviation 22.6; a generator that repeats
 * itself or sticks at a value lands in the thousands) */
TEST(rng_output_has_every_byte_value_about_equally_often)
{
	struct rng r = { { 0 } };
	static uint8_t buf[256 * 1024];
	unsigned count[256] = { 0 };

	rng_mix(&r, "seed", 4);
	for (size_t i = 0; i < sizeof(buf); i += 256)
		rng_bytes(&r, buf + i, 256);
	for (size_t i = 0; i < sizeof(buf); i++)
		count[buf[i]]++;
	double e = sizeof(buf) / 256.0, chi = 0;

	for (unsigned v = 0; v < 256; v++)
		chi += (count[v] - e) * (count[v] - e) / e;
	CHECK(chi < 400);
	CHECK(memcmp(buf, buf + 256, 256) != 0);
}
