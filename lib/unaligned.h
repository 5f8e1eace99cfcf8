/* Loads of possibly unaligned little-endian (host-order) fields from byte buffers: tables
 * and frames. memcpy, so the compiler emits plain loads without alignment assumptions. */
#ifndef LIB_UNALIGNED_H
#define LIB_UNALIGNED_H

#include "lib/compiler.h"

static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;

	__builtin_memcpy(&v, p, 2);
	return v;
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;

	__builtin_memcpy(&v, p, 4);
	return v;
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, 8);
	return v;
}

#endif
