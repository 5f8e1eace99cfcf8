#include <string.h>
#include <time.h>

#include "lib/time.h"
#include "tools/unit/unit.h"

TEST(time_known_dates)
{
	CHECK_EQ(days_from_civil(1970, 1, 1), 0);
	CHECK_EQ(days_from_civil(2000, 3, 1), 11017);
	CHECK_EQ(days_from_civil(2026, 11, 21), 20778);
	CHECK_EQ(days_from_civil(1969, 12, 31), -1);
	char b[32];

	format_utc(b, sizeof(b), 1795219200ULL * NSEC_PER_SEC + 3723 * NSEC_PER_SEC);
	CHECK_STR(b, "2026-11-21 01:02:03");
}

TEST(time_round_trips_against_libc)
{
	for (int64_t days = -800000; days < 800000; days += 37) {
		int64_t y;
		unsigned m, d;

		civil_from_days(days, &y, &m, &d);
		CHECK_EQ(days_from_civil(y, m, d), days);
		time_t t = (time_t)days * 86400;
		struct tm tm;

		gmtime_r(&t, &tm);
		CHECK(tm.tm_year + 1900 == y && (unsigned)tm.tm_mon + 1 == m && (unsigned)tm.tm_mday == d);
	}
}
