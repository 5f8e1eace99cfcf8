/* ChaCha20's block function (RFC 8439, section 2.3): 64 bytes of keystream from a 256-bit
 * key, a 32-bit block counter and a 96-bit nonce. Pure code (32-bit adds, rotates and
 * xors: no vector registers), host-tested against the RFC's test vector. */
#ifndef LIB_CHACHA_H
#define LIB_CHACHA_H

#include "lib/compiler.h"

void chacha20_block(const uint32_t key[8], uint32_t counter, const uint32_t nonce[3],
		    uint8_t out[64]);

#endif
