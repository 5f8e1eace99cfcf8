#include "lib/rng.h"

#include "lib/chacha.h"
#include "lib/siphash.h"
#include "lib/string.h"
#include "lib/unaligned.h"

/* the block's first 32 bytes as the next key (little-endian words, as ChaCha20 wrote them) */
static void rekey(struct rng *r, const uint8_t b[64])
{
	for (unsigned i = 0; i < 8; i++)
		r->key[i] = ld32(b + 4 * i);
}

/* a block and its copy on the stack cleared before the function returns (the compiler
 * may not drop a store through a volatile pointer) */
static void wipe(void *p, size_t n)
{
	volatile uint8_t *v = p;

	while (n--)
		*v++ = 0;
}

void rng_mix(struct rng *r, const void *data, size_t len)
{
	const uint64_t k0[2] = { (uint64_t)r->key[1] << 32 | r->key[0],
				 (uint64_t)r->key[3] << 32 | r->key[2] };
	const uint64_t k1[2] = { (uint64_t)r->key[5] << 32 | r->key[4],
				 (uint64_t)r->key[7] << 32 | r->key[6] };
	uint64_t h0 = siphash24(k0, data, len), h1 = siphash24(k1, data, len);
	const uint32_t nonce[3] = { (uint32_t)h0, (uint32_t)(h0 >> 32), (uint32_t)h1 };
	uint8_t b[64];

	/* (the block counter 0xffffffff - ...: never one rng_bytes uses, which counts from 0
	 * and stops at its request's length) */
	chacha20_block(r->key, 0x80000000u | (uint32_t)(h1 >> 33), nonce, b);
	rekey(r, b);
	wipe(b, sizeof(b));
}

void rng_bytes(struct rng *r, void *out, size_t len)
{
	static const uint32_t nonce[3];
	uint32_t key[8];
	uint8_t b[64], *o = out;

	memcpy(key, r->key, sizeof(key));
	chacha20_block(key, 0, nonce, b);
	rekey(r, b);
	size_t n = MIN(len, 32);

	memcpy(o, b + 32, n);
	for (uint32_t ctr = 1; n < len; ctr++) {
		size_t k = MIN(len - n, 64);

		chacha20_block(key, ctr, nonce, b);
		memcpy(o + n, b, k);
		n += k;
	}
	wipe(b, sizeof(b));
	wipe(key, sizeof(key));
}
