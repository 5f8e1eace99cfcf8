/* ChaCha20's block function, written from RFC 8439 (sections 2.1-2.3): a 4x4 state of
 * 32-bit words (the constant "expand 32-byte k", the key, the counter, the nonce), 20
 * rounds of quarter rounds on its columns and diagonals by turns, the state at the start
 * added back, the words out little-endian. */
#include "lib/chacha.h"

static uint32_t rotl32(uint32_t x, unsigned b)
{
	return x << b | x >> (32 - b);
}

static void quarter(uint32_t *x, unsigned a, unsigned b, unsigned c, unsigned d)
{
	x[a] += x[b];
	x[d] = rotl32(x[d] ^ x[a], 16);
	x[c] += x[d];
	x[b] = rotl32(x[b] ^ x[c], 12);
	x[a] += x[b];
	x[d] = rotl32(x[d] ^ x[a], 8);
	x[c] += x[d];
	x[b] = rotl32(x[b] ^ x[c], 7);
}

void chacha20_block(const uint32_t key[8], uint32_t counter, const uint32_t nonce[3],
		    uint8_t out[64])
{
	uint32_t s[16] = { 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574 }, x[16];

	for (unsigned i = 0; i < 8; i++)
		s[4 + i] = key[i];
	s[12] = counter;
	s[13] = nonce[0];
	s[14] = nonce[1];
	s[15] = nonce[2];
	for (unsigned i = 0; i < 16; i++)
		x[i] = s[i];
	for (unsigned r = 0; r < 10; r++) {
		quarter(x, 0, 4, 8, 12);
		quarter(x, 1, 5, 9, 13);
		quarter(x, 2, 6, 10, 14);
		quarter(x, 3, 7, 11, 15);
		quarter(x, 0, 5, 10, 15);
		quarter(x, 1, 6, 11, 12);
		quarter(x, 2, 7, 8, 13);
		quarter(x, 3, 4, 9, 14);
	}
	for (unsigned i = 0; i < 16; i++) {
		uint32_t v = x[i] + s[i];

		for (unsigned k = 0; k < 4; k++)
			out[4 * i + k] = (uint8_t)(v >> (8 * k));
	}
}
