/* The kernel's unpredictable bytes: for TCP's initial sequence numbers, the app's
 * getrandom, /dev/urandom and AT_RANDOM (Go's crypto/rand, TLS keys, hash seeds). One
 * generator (lib/rng: ChaCha20, fast key erasure) seeded at boot from RDRAND where the
 * CPU has it and from timings of the CPU's own work (always; the only source without
 * RDRAND, e.g. QEMU's default CPU model under TCG). */
#ifndef COMMON_RANDOM_H
#define COMMON_RANDOM_H

#include "lib/compiler.h"

/* seeds the generator and says from what (boot_continue, once the clocks run; a request
 * before it seeds first) */
void random_init(void);
void random_bytes(void *out, size_t len);
uint64_t random_u64(void);
/* folds bytes of any kind into the state (what an app writes to /dev/urandom) */
void random_mix(const void *data, size_t len);

#endif
