/* The generator's state under one lock (requests are short: a ChaCha20 block for every
 * 64 bytes, at most RANDOM_CHUNK at a time). The seed: 512 bits of RDRAND where the CPU
 * has it, and timings of a small loop of the CPU's own work (memory loads and stores at
 * places the previous timing picks), whose low bits vary with what the hardware (or, under
 * TCG, the host) does meanwhile: caches, interrupts, other threads, frequency. Without
 * RDRAND they are all there is: TIMINGS of them, each folded in whole (an estimate of
 * their entropy is not attempted: many more are taken than a 256-bit key needs at even a
 * bit each); with it a few, in case RDRAND is not what it says (the local KVM, which
 * emulates ring 0, takes ~0.3 ms a timing; TCG ~0.25 us, Xen ~10 us). */
#include "common/random.h"

#include "arch_x86_64/cpu.h"
#include "arch_x86_64/percpu.h"
#include "common/console.h"
#include "lib/rng.h"
#include "lib/spinlock.h"
#include "sched/sched.h"

#define RDRAND_WORDS 8
#define TIMINGS 2048	    /* without RDRAND; TIMINGS / 32 with it */
#define BATCH 64	    /* timings folded in at a time */
#define RANDOM_CHUNK 256    /* bytes made under the lock at a time */

static struct spinlock lock;
static struct rng gen;
static bool seeded;

/* n timings of a loop whose length and addresses follow the timings before it */
static void timings(struct rng *r, unsigned n)
{
	static uint8_t mem[4096];
	uint64_t d[BATCH], x = rdtsc_ordered();

	for (unsigned done = 0; done < n; done += BATCH) {
		for (unsigned i = 0; i < BATCH; i++) {
			uint64_t t0 = rdtsc_ordered();

			for (unsigned k = 0; k < 8 + (x & 7); k++) {
				x = x * 6364136223846793005ull + 1442695040888963407ull +
				    mem[(x >> 52) & 4095];
				mem[(x >> 40) & 4095] = (uint8_t)x;
			}
			uint64_t t1 = rdtsc_ordered();

			d[i] = t1 - t0;
			x ^= d[i] << 32;
		}
		rng_mix(r, d, sizeof(d));
	}
}

void random_init(void)
{
	struct rng r = { { 0 } };
	uint64_t v[RDRAND_WORDS + 3] = { rdtsc_ordered(), clock_ns(), wallclock_ns() };
	unsigned words = 0;

	while (words < RDRAND_WORDS && cpu_rdrand(&v[3 + words]))
		words++;
	rng_mix(&r, v, sizeof(v));
	unsigned n = words == RDRAND_WORDS ? TIMINGS / 32 : TIMINGS;
	uint64_t t0 = clock_ns();

	timings(&r, n);
	uint64_t us = (clock_ns() - t0) / 1000;

	preempt_disable();
	spin_lock(&lock);
	if (!seeded) {
		gen = r;
		__atomic_store_n(&seeded, true, __ATOMIC_RELEASE);
	}
	spin_unlock(&lock);
	preempt_enable();
	if (words)
		kprintf("random: seeded from %u bits of RDRAND and %u timings of the CPU's "
			"own work (%lu us)\n", words * 64, n, us);
	else
		kprintf("random: no RDRAND: seeded from %u timings of the CPU's own work "
			"(%lu us)\n", n, us);
}

void random_bytes(void *out, size_t len)
{
	uint8_t *o = out;

	if (!__atomic_load_n(&seeded, __ATOMIC_ACQUIRE))
		random_init();
	for (size_t i = 0; i < len; i += RANDOM_CHUNK) {
		preempt_disable();
		spin_lock(&lock);
		rng_bytes(&gen, o + i, MIN(len - i, RANDOM_CHUNK));
		spin_unlock(&lock);
		preempt_enable();
	}
}

uint64_t random_u64(void)
{
	uint64_t v;

	random_bytes(&v, sizeof(v));
	return v;
}

void random_mix(const void *data, size_t len)
{
	if (!__atomic_load_n(&seeded, __ATOMIC_ACQUIRE))
		random_init();
	preempt_disable();
	spin_lock(&lock);
	rng_mix(&gen, data, len);
	spin_unlock(&lock);
	preempt_enable();
}
