/* SipHash-2-4, written from the paper's description (section 2): four 64-bit words of
 * state from the key, two rounds per 8-byte little-endian message word, the last word
 * holding the remaining bytes and the length's low byte at the top, four rounds to end. */
#include "lib/siphash.h"

static uint64_t rotl(uint64_t x, unsigned b)
{
	return x << b | x >> (64 - b);
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static void round2(struct sip *s, unsigned n)
{
	while (n--) {
		s->v0 += s->v1;
		s->v1 = rotl(s->v1, 13) ^ s->v0;
		s->v0 = rotl(s->v0, 32);
		s->v2 += s->v3;
		s->v3 = rotl(s->v3, 16) ^ s->v2;
		s->v0 += s->v3;
		s->v3 = rotl(s->v3, 21) ^ s->v0;
		s->v2 += s->v1;
		s->v1 = rotl(s->v1, 17) ^ s->v2;
		s->v2 = rotl(s->v2, 32);
	}
}

static void absorb(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	round2(s, 2);
	s->v0 ^= m;
}

uint64_t siphash24(const uint64_t key[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	struct sip s = { key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
			 key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull };
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;

		for (unsigned k = 0; k < 8; k++)
			m |= (uint64_t)p[i + k] << (8 * k);
		absorb(&s, m);
	}
	uint64_t last = (uint64_t)(len & 255) << 56;

	for (unsigned k = 0; i + k < len; k++)
		last |= (uint64_t)p[i + k] << (8 * k);
	absorb(&s, last);
	s.v2 ^= 0xff;
	round2(&s, 4);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
