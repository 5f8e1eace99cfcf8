#include "lib/pvclock.h"
#include "tools/unit/unit.h"

TEST(pvclock_scale_and_rate)
{
	/* numbers from kvmclock on this machine: 2 596 138 kHz */
	struct pvclock_time t = { .tsc_to_system_mul = 3308735742u, .tsc_shift = -1 };

	CHECK_EQ(pvclock_tsc_khz(&t), 2596138);
	CHECK_EQ(pvclock_scale(2596138000ULL, t.tsc_to_system_mul, t.tsc_shift), 999999999);
	CHECK_EQ(pvclock_scale(1000, 1u << 31, 1), 1000); /* <<1 then *0.5 */
	/* (2^64-1)(2^32-1) >> 32 = 2^64 - 2^32 - 1: the 96-bit product must not overflow */
	CHECK(pvclock_scale(~0ULL, ~0u, 0) == 18446744069414584319ULL);
	struct pvclock_time slow = { .tsc_to_system_mul = 2147483648u, .tsc_shift = 2 };

	CHECK_EQ(pvclock_tsc_khz(&slow), 500000); /* 2 ns per tick */
}

static struct pvclock_time rec = { .version = 2, .tsc_timestamp = 1000, .system_time = 5000,
				   .tsc_to_system_mul = 1u << 31 };
static int reads;

/* The hypervisor updates the record between our two version reads the first time. */
static uint64_t racing_tsc(void)
{
	if (reads++ == 0) {
		rec.version = 3;
		rec.system_time = 9000;
	} else if (reads == 2) {
		rec.version = 4;
	}
	return 3000;
}

TEST(pvclock_read_retries_while_updated)
{
	reads = 0;
	/* (3000 - 1000) * 0.5 = 1000 ns after system_time, with the updated system_time */
	CHECK_EQ(pvclock_read(&rec, racing_tsc), 10000);
	CHECK_EQ(reads, 3);
}

static uint64_t fixed_tsc(void)
{
	return 1000;
}

TEST(pvclock_mono_clamps_unless_stable)
{
	struct pvclock_time a = { .version = 2, .tsc_timestamp = 1000, .system_time = 500,
				  .tsc_to_system_mul = 1u << 31 };
	uint64_t last = 0;

	CHECK_EQ(pvclock_read_mono(&a, fixed_tsc, &last), 500);
	a.system_time = 400; /* another CPU's record, a little behind */
	CHECK_EQ(pvclock_read_mono(&a, fixed_tsc, &last), 500);
	a.flags = PVCLOCK_TSC_STABLE; /* promised consistent: no clamp */
	CHECK_EQ(pvclock_read_mono(&a, fixed_tsc, &last), 400);
}
