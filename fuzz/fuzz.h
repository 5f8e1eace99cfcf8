/* What every libFuzzer harness (fuzz/README.md) shares: a reader that turns the input into
 * the fields a hostile platform, backend or device would choose, and the invariant check
 * that turns a wrong answer into a crash libFuzzer keeps. */
#ifndef FUZZ_FUZZ_H
#define FUZZ_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* For the harness's own checking loops: coverage is for the kernel's code, and comparisons
 * traced in a model or a walk over every id would only slow the fuzzer down. */
#define FUZZ_NOCOV __attribute__((no_sanitize("coverage")))

/* A wrong answer is as much a finding as a crash: abort, so libFuzzer saves the input. */
#define FUZZ_CHECK(e)                                                                              \
	do {                                                                                       \
		if (!(e)) {                                                                        \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #e);  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The input read front to back; past its end every read is zero, so that any input is a
 * complete description and short ones mean "everything else zero". */
struct fz {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fz_take(struct fz *f, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes && f->n; i++, f->p++, f->n--)
		v |= (uint64_t)*f->p << (8 * i);
	return v;
}

static inline uint8_t fz_u8(struct fz *f)
{
	return (uint8_t)fz_take(f, 1);
}

static inline uint16_t fz_u16(struct fz *f)
{
	return (uint16_t)fz_take(f, 2);
}

static inline uint32_t fz_u32(struct fz *f)
{
	return (uint32_t)fz_take(f, 4);
}

static inline uint64_t fz_u64(struct fz *f)
{
	return fz_take(f, 8);
}

/* Copies up to n bytes (what is left, if less) to dst; returns how many. */
static inline size_t fz_bytes(struct fz *f, void *dst, size_t n)
{
	size_t k = n < f->n ? n : f->n;

	memcpy(dst, f->p, k);
	f->p += k;
	f->n -= k;
	return k;
}

/* A fresh heap copy of the rest of the input as a C string (cut at its first NUL), so
 * ASan sees a read past the terminator. The caller frees it. */
static inline char *fz_str(struct fz *f)
{
	char *s = malloc(f->n + 1);

	memcpy(s, f->p, f->n);
	s[f->n] = 0;
	f->p += f->n;
	f->n = 0;
	return s;
}

#endif
