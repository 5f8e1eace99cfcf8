#include "lib/time.h"

#include "lib/format.h"

/* Shifted to a year that starts in March, so the leap day is the year's last: the era of
 * 400 years then has a fixed length (146097 days). */
int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void format_utc(char *buf, size_t size, uint64_t ns)
{
	uint64_t s = ns / NSEC_PER_SEC;
	int64_t y;
	unsigned m, d;

	civil_from_days((int64_t)(s / 86400), &y, &m, &d);
	ksnprintf(buf, size, "%04ld-%02u-%02u %02lu:%02lu:%02lu", y, m, d, s % 86400 / 3600,
		  s % 3600 / 60, s % 60);
}
