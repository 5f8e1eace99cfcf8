#include "lib/pvclock.h"

uint64_t pvclock_scale(uint64_t delta, uint32_t mul, int8_t shift)
{
	if (shift < 0)
		delta >>= -shift;
	else
		delta <<= shift;
	return (uint64_t)(((unsigned __int128)delta * mul) >> 32);
}

uint64_t pvclock_read(const volatile struct pvclock_time *t, uint64_t (*read_tsc)(void))
{
	uint32_t v;
	uint64_t ns;

	do {
		v = t->version;
		barrier();
		ns = t->system_time +
		     pvclock_scale(read_tsc() - t->tsc_timestamp, t->tsc_to_system_mul,
				   t->tsc_shift);
		barrier();
	} while ((v & 1) || v != t->version);
	return ns;
}

uint64_t pvclock_read_mono(const volatile struct pvclock_time *t, uint64_t (*read_tsc)(void),
			   uint64_t *last)
{
	uint64_t ns = pvclock_read(t, read_tsc);

	if (t->flags & PVCLOCK_TSC_STABLE)
		return ns;
	uint64_t prev = __atomic_load_n(last, __ATOMIC_RELAXED);

	do {
		if (ns <= prev)
			return prev;
	} while (!__atomic_compare_exchange_n(last, &prev, ns, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return ns;
}

uint64_t pvclock_tsc_khz(const struct pvclock_time *t)
{
	/* mul scales (TSC << shift) to ns with 32 fractional bits: kHz = 10^6 * 2^32 / mul,
	 * corrected by the shift */
	uint64_t khz = (1000000ULL << 32) / (t->tsc_to_system_mul ? t->tsc_to_system_mul : 1);

	return t->tsc_shift < 0 ? khz << -t->tsc_shift : khz >> t->tsc_shift;
}
