/* A generator of unpredictable bytes from a secret state (common/random.c seeds it and
 * serves the kernel and getrandom from it): ChaCha20 with "fast key erasure" (Bernstein,
 * 2017): every request runs ChaCha20 under the key, hands out its keystream after the
 * first 32 bytes and keeps those as the next key, so what was handed out before cannot
 * be recomputed from a state read later. rng_mix folds input of any kind (secret or not:
 * it never makes the state more predictable) into the key: SipHash-2-4 of it under the
 * key's two halves picks a ChaCha20 block of the key, whose first 32 bytes are the next
 * key. Pure code, host-tested. */
#ifndef LIB_RNG_H
#define LIB_RNG_H

#include "lib/compiler.h"

struct rng {
	uint32_t key[8];
};

void rng_mix(struct rng *r, const void *data, size_t len);
void rng_bytes(struct rng *r, void *out, size_t len);

#endif
