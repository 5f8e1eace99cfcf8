/* Civil dates <-> days since 1970-01-01 (proleptic Gregorian, UTC). Pure. */
#ifndef LIB_TIME_H
#define LIB_TIME_H

#include "lib/compiler.h"

#define NSEC_PER_SEC ((uint64_t)1000000000)

int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* "YYYY-MM-DD hh:mm:ss" for ns since the epoch; buf needs 20 bytes */
void format_utc(char *buf, size_t size, uint64_t ns);

#endif
