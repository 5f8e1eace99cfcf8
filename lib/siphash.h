/* SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): a keyed
 * 64-bit hash of a short message, unpredictable without the 128-bit key. Pure code,
 * host-tested against the paper's test vector. */
#ifndef LIB_SIPHASH_H
#define LIB_SIPHASH_H

#include "lib/compiler.h"

uint64_t siphash24(const uint64_t key[2], const void *data, size_t len);

#endif
